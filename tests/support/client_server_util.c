/* client_server_util.c: the server processes, row checks and permutations shared by test_client_server.c and
 * test_client_fork.c (see client_server_util.h). Moved from test_client_server.c unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_server_util.h"

#ifndef TC_SERVER_BIN
#error TC_SERVER_BIN must be defined (the path of tablecar-server)
#endif

/* ------------------------------------------------------------------------------------------------------ */
/* Helpers */

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* Calls default to a deadline only a hang reaches: under TSan on a loaded machine a 64 MiB batch took longer
 * than the library's default 30 s. Tests of deadlines pass their own. */
const tc_options *hang_guard_opts(void) {
  static tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 600000;
  return &o;
}

tc_client *client(const server *s) {
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(s->target, hang_guard_opts(), &c), TC_OK);
  return c;
}

/* Writes the example table (fixtures.h) one batch at a time, so the big one is never whole in memory. */
int write_example(const char *path, fx_shape shape, int64_t rows, int64_t batch_rows, enum aw_codec codec) {
  fx_arena *sa = fx_arena_new();
  at_schema schema;
  if (!sa || fx_example_schema(sa, shape, &schema)) {
    fx_arena_free(sa);
    return -1;
  }
  aw_options opt = {.format = AW_FILE, .codec = codec};
  aw_writer *w = aw_open(path, &opt, &schema);
  int rc = w ? 0 : -1;
  for (int64_t row0 = 0; !rc && row0 < rows; row0 += batch_rows) {
    int64_t n = rows - row0 < batch_rows ? rows - row0 : batch_rows;
    fx_arena *ba = fx_arena_new();
    at_array *cols = ba ? fx_example_batch(ba, shape, row0, n) : NULL;
    rc = cols ? aw_write_batch(w, n, cols) : -1;
    fx_arena_free(ba);
  }
  if (w && rc)
    aw_abort(w);
  else if (w)
    rc = aw_close(w);
  fx_arena_free(sa);
  return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Checking rows against the example table's rules (usable in forked children: no cmocka asserts) */

int bad(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

static int64_t i64_at(const uint8_t *p, int64_t i) {
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

static int check_image(const tc_column *col, const tc_batch *b, fx_shape sh, char *err, size_t n) {
  const tc_column *leaf = col;
  for (int d = 0; d < 3; d++) {
    if (leaf->n_children != 1) return bad(err, n, "image: level %d has %zu children", d, leaf->n_children);
    leaf = &leaf->children[0];
  }
  size_t per_row = (size_t)(sh.c * sh.h * sh.w);
  if (leaf->type != TC_TYPE_UINT8 || leaf->values_size != per_row * (size_t)b->num_rows)
    return bad(err, n, "image: leaf type %d with %zu bytes", leaf->type, leaf->values_size);
  for (int64_t i = 0; i < b->num_rows; i++) {
    int64_t r = tc_row_id(b, i);
    const uint8_t *px = leaf->values + (size_t)i * per_row;
    for (size_t k = 0; k < per_row; k++)
      if (px[k] != fx_example_image_byte(r, (int64_t)k))
        return bad(err, n, "image of row %lld: byte %zu is %u, not %u", (long long)r, k, px[k],
                   fx_example_image_byte(r, (int64_t)k));
  }
  return 0;
}

static int check_caption(const tc_column *col, const tc_batch *b, char *err, size_t n) {
  if (col->type != TC_TYPE_UTF8 || col->offsets_size != 4 * (size_t)(b->num_rows + 1))
    return bad(err, n, "caption: type %d, %zu offset bytes", col->type, col->offsets_size);
  for (int64_t i = 0; i < b->num_rows; i++) {
    int64_t r = tc_row_id(b, i);
    char buf[32];
    const char *want = fx_example_caption(r, buf);
    int valid = !col->validity || (col->validity[i / 8] >> (i % 8) & 1);
    int32_t lo, hi;
    memcpy(&lo, col->offsets + 4 * i, 4);
    memcpy(&hi, col->offsets + 4 * (i + 1), 4);
    if (!want != !valid) return bad(err, n, "caption of row %lld: null is %d", (long long)r, !valid);
    if (want && ((size_t)(hi - lo) != strlen(want) || memcmp(col->values + lo, want, strlen(want))))
      return bad(err, n, "caption of row %lld: \"%.*s\", not \"%s\"", (long long)r, (int)(hi - lo), col->values + lo,
                 want);
  }
  return 0;
}

static int check_scalars(const tc_batch *b, char *err, size_t n) {
  const tc_column *label = tc_batch_column(b, "label"), *score = tc_batch_column(b, "score");
  for (int64_t i = 0; i < b->num_rows; i++) {
    int64_t r = tc_row_id(b, i);
    if (label && (label->values_size < 8 * (size_t)b->num_rows || i64_at(label->values, i) != fx_example_label(r)))
      return bad(err, n, "label of row %lld", (long long)r);
    if (!score) continue;
    float f;
    if (score->values_size < 4 * (size_t)b->num_rows) return bad(err, n, "score: %zu bytes", score->values_size);
    memcpy(&f, score->values + 4 * i, 4);
    if (f != fx_example_score(r)) return bad(err, n, "score of row %lld: %g", (long long)r, (double)f);
  }
  return 0;
}

/* Every cell of the columns b has, against the rules; 0, or -1 with the first difference in err. */
int check_rows(const tc_batch *b, fx_shape shape, char *err, size_t n) {
  if (b->row_ids_size != 8 * (size_t)b->num_rows) return bad(err, n, "%zu row id bytes", b->row_ids_size);
  for (size_t c = 0; c < b->n_columns; c++)
    if (b->columns[c].length != b->num_rows)
      return bad(err, n, "column %zu has %lld rows", c, (long long)b->columns[c].length);
  const tc_column *image = tc_batch_column(b, "image"), *caption = tc_batch_column(b, "caption");
  if (image && check_image(image, b, shape, err, n)) return -1;
  if (caption && check_caption(caption, b, err, n)) return -1;
  return check_scalars(b, err, n);
}

void assert_rows(const tc_batch *b, fx_shape shape) {
  char err[256];
  if (check_rows(b, shape, err, sizeof err)) fail_msg("%s", err);
}

/* ------------------------------------------------------------------------------------------------------ */
/* The server process */

/* Starts the server, after delay_ms (a restart the client has to wait for). It gets SIGTERM if the test
 * process dies, so a crashed test leaves no server behind. */
void spawn(server *s, int delay_ms) {
  pid_t parent = getpid();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    if (delay_ms) sleep_ms(delay_ms);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    char listen[260];
    snprintf(listen, sizeof listen, "unix:%s", s->sock);
    const char *argv[24] = {TC_SERVER_BIN, "--data-dir",  s->data, "--state-dir",      s->state, "--listen",
                            listen,        "--log-level", "warn",  "--rescan-seconds", "0",      "--drain-seconds",
                            DRAIN_SECONDS, "--threads",   "4"};
    int n = 15;
    if (s->max_message_bytes) argv[n++] = "--max-message-bytes", argv[n++] = s->max_message_bytes;
    for (int i = 0; i < 6 && s->extra_args[i]; i++) argv[n++] = s->extra_args[i];
    execv(TC_SERVER_BIN, (char **)argv);
    _exit(127);
  }
  s->pid = pid;
}

void dump_log(const server *s) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", s->log);
  if (system(cmd)) {}
}

/* Waits until the server answers SERVING; -1 if it died or did not within 60 s. */
int wait_ready(const server *s) {
  tc_client *c;
  if (tc_client_new(s->target, NULL, &c)) return -1;
  int st = -1;
  for (double t0 = now_s(); now_s() - t0 < 60;) {
    if (tc_health_check(c, "", &(tc_call_opts){.timeout_ms = 2000, .no_retry = 1}, &st) == TC_OK &&
        st == TC_HEALTH_SERVING)
      break;
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      fprintf(stderr, "tablecar-server exited at start:\n");
      dump_log(s);
      break;
    }
    sleep_ms(20);
  }
  tc_client_free(c);
  return st == TC_HEALTH_SERVING ? 0 : -1;
}

/* SIGTERM (after SIGCONT, in case a test left it stopped), then its exit status; -1 if it did not exit
 * within STOP_GUARD_SECONDS or was killed by a signal. */
int stop(server *s) {
  if (s->pid <= 0) return -1;
  kill(s->pid, SIGCONT);
  kill(s->pid, SIGTERM);
  int ws = 0;
  pid_t r = 0;
  double t0 = now_s();
  while (now_s() - t0 < STOP_GUARD_SECONDS && (r = waitpid(s->pid, &ws, WNOHANG)) == 0) sleep_ms(5);
  s->stop_seconds = now_s() - t0;
  if (r == 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &ws, 0);
    fprintf(stderr, "tablecar-server did not stop within %d s of SIGTERM\n", STOP_GUARD_SECONDS);
    ws = -1;
  }
  s->pid = -1;
  return ws >= 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

/* A temporary directory under TC_TEST_TMPDIR (or /tmp when that would make the socket path too long). */
server *server_new(const char *max_message_bytes) {
  server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 80) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(s->dir, sizeof s->dir, "%s/tcsrvXXXXXX", tmp);
  if (!mkdtemp(s->dir)) {
    free(s);
    return NULL;
  }
  snprintf(s->data, sizeof s->data, "%s/data", s->dir);
  snprintf(s->state, sizeof s->state, "%s/state", s->dir);
  snprintf(s->sock, sizeof s->sock, "%s/s.sock", s->dir);
  snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
  snprintf(s->target, sizeof s->target, "unix:%s", s->sock);
  s->max_message_bytes = max_message_bytes;
  s->pid = -1;
  mkdir(s->data, 0777);
  return s;
}

/* A failed setup cleans up itself: cmocka runs no teardown for it. */
int setup_failed(server *s, void **state) {
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
  nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(s);
  *state = NULL;
  return -1;
}

int server_start(server *s, void **state) {
  spawn(s, 0);
  return wait_ready(s) ? setup_failed(s, state) : 0;
}

int group_teardown(void **state) {
  server *s = *state;
  if (!s) return 0;
  int rc = stop(s);
  if (rc != 0) {
    fprintf(stderr, "tablecar-server exited with %d, %.1f s after SIGTERM (want 0)\n", rc, s->stop_seconds);
    dump_log(s);
    rc = rc ? rc : -1;
  }
  if (!getenv("TC_KEEP")) nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(s);
  return rc == 0 ? 0 : -1;
}

int setup_main(void **state) {
  server *s = server_new(NULL);
  char path[300];
  if (!s) return -1;
  *state = s;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  if (write_example(path, FX_EXAMPLE_SHAPE, EXAMPLE_ROWS, 64, AW_NONE)) return setup_failed(s, state);
  snprintf(path, sizeof path, "%s/small.arrow", s->data);
  if (write_example(path, FX_EXAMPLE_SHAPE, 10, 4, AW_ZSTD)) return setup_failed(s, state);
  return server_start(s, state);
}

int setup_small_messages(void **state) {
  server *s = server_new("4096");
  char path[300];
  if (!s) return -1;
  *state = s;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  if (write_example(path, FX_EXAMPLE_SHAPE, EXAMPLE_ROWS, 64, AW_NONE)) return setup_failed(s, state);
  return server_start(s, state);
}

int setup_big(void **state) {
  server *s = server_new("128M");
  char path[300];
  if (!s) return -1;
  *state = s;
  snprintf(path, sizeof path, "%s/big.arrow", s->data);
  if (write_example(path, BIG_SHAPE, BIG_ROWS, 1024, AW_NONE)) return setup_failed(s, state);
  return server_start(s, state);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Permutations used by several tests */

/* example, shuffled, random 80/10/10 split named train/val/test. */
tc_permutation_spec example_spec(void) {
  static const double ratios[] = {0.8, 0.1, 0.1};
  static const char *const names[] = {"train", "val", "test"};
  return (tc_permutation_spec){.table = "example",
                               .shuffle = 1,
                               .shuffle_seed = 42,
                               .split = TC_SPLIT_RANDOM,
                               .n_ratios = 3,
                               .ratios = ratios,
                               .split_seed = 7,
                               .n_split_names = 3,
                               .split_names = names};
}

tc_permutation_info *make_perm(tc_client *c) {
  tc_permutation_spec spec = example_spec();
  tc_permutation_info *p = NULL;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  return p;
}

/* The row ids of a whole split, read with ReadBatch in batches of 128 (values checked); malloc'd. */
int64_t *read_split(tc_client *c, const char *id, const char *split, int64_t n) {
  int64_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
  assert_non_null(ids);
  for (int64_t off = 0; off < n;) {
    tc_read_batch_req r = {.permutation = id, .split = split, .offset = off, .batch_size = 128};
    tc_batch *b;
    CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
    assert_int_equal(b->offset, off);
    assert_int_equal(b->num_rows, n - off < 128 ? n - off : 128);
    assert_rows(b, FX_EXAMPLE_SHAPE);
    for (int64_t i = 0; i < b->num_rows; i++) ids[off + i] = tc_row_id(b, i);
    off += b->num_rows;
    tc_batch_free(b);
  }
  return ids;
}

int wait_exit(pid_t pid) {
  int ws;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}
