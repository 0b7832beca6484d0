/* libtablecar against the real tablecar-server: every call with the values checked against the fixture rules
 * (tests/support/fixtures.h), error statuses and messages, deadlines against a stopped (SIGSTOP) server, a
 * server killed and restarted under the client, fork storms (with grandchildren, and with another thread
 * inside a call), a 64 MiB batch, and the `tablecar` CLI's exit codes and output.
 *
 * Each group writes its tables into a temporary directory, starts a server on a Unix socket there, and
 * stops it at the end with SIGTERM, which must exit 0 (TC_KEEP=1 keeps the directory and its server.log).
 * Code that runs in forked children never uses cmocka's assertions (they would jump into the parent's test
 * runner): the checks return an error text instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "tablecar.h"

#if !defined(TC_SERVER_BIN) || !defined(TC_CLI_BIN)
#error TC_SERVER_BIN and TC_CLI_BIN must be defined (the paths of tablecar-server and of the tablecar CLI)
#endif

#define EXAMPLE_ROWS 1000
#define BIG_ROWS 5500 /* 3x64x64 images: 12 KiB a row, a 64.5 MiB batch */
#define BIG_SHAPE ((fx_shape){3, 64, 64})

/* A server and its files, one per group (the group state). */
typedef struct server {
  char dir[200]; /* data/, state/, the socket and server.log */
  char data[240], state[240], sock[240], log[240], target[256];
  const char *max_message_bytes; /* --max-message-bytes, or NULL for the default */
  pid_t pid;
  double stop_seconds; /* how long the last stop() took */
} server;

/* A SIGTERM with no call in flight must not wait for --drain-seconds (an hour here, so that waiting for it
 * shows as a server that stop() had to kill, with no measured time involved). */
#define DRAIN_SECONDS "3600"
#define STOP_GUARD_SECONDS 120

/* ------------------------------------------------------------------------------------------------------ */
/* Helpers */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

#define CHECK_MSG(c, needle)                                                                                           \
  do {                                                                                                                 \
    if (!strstr(tc_last_error(c), (needle)))                                                                           \
      fail_msg("tc_last_error is \"%s\", expected it to contain \"%s\"", tc_last_error(c), (needle));                  \
  } while (0)

/* Calls default to a deadline only a hang reaches: under TSan on a loaded machine a 64 MiB batch took longer
 * than the library's default 30 s. Tests of deadlines pass their own. */
static const tc_options *hang_guard_opts(void) {
  static tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 600000;
  return &o;
}

static tc_client *client(const server *s) {
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(s->target, hang_guard_opts(), &c), TC_OK);
  return c;
}

/* Writes the example table (fixtures.h) one batch at a time, so the big one is never whole in memory. */
static int write_example(const char *path, fx_shape shape, int64_t rows, int64_t batch_rows, enum aw_codec codec) {
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

static int bad(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t n, const char *fmt, ...) {
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
static int check_rows(const tc_batch *b, fx_shape shape, char *err, size_t n) {
  if (b->row_ids_size != 8 * (size_t)b->num_rows) return bad(err, n, "%zu row id bytes", b->row_ids_size);
  for (size_t c = 0; c < b->n_columns; c++)
    if (b->columns[c].length != b->num_rows)
      return bad(err, n, "column %zu has %lld rows", c, (long long)b->columns[c].length);
  const tc_column *image = tc_batch_column(b, "image"), *caption = tc_batch_column(b, "caption");
  if (image && check_image(image, b, shape, err, n)) return -1;
  if (caption && check_caption(caption, b, err, n)) return -1;
  return check_scalars(b, err, n);
}

static void assert_rows(const tc_batch *b, fx_shape shape) {
  char err[256];
  if (check_rows(b, shape, err, sizeof err)) fail_msg("%s", err);
}

/* ------------------------------------------------------------------------------------------------------ */
/* The server process */

/* Starts the server, after delay_ms (a restart the client has to wait for). It gets SIGTERM if the test
 * process dies, so a crashed test leaves no server behind. */
static void spawn(server *s, int delay_ms) {
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
    const char *argv[20] = {TC_SERVER_BIN, "--data-dir",  s->data, "--state-dir",      s->state, "--listen",
                            listen,        "--log-level", "warn",  "--rescan-seconds", "0",      "--drain-seconds",
                            DRAIN_SECONDS, "--threads",   "4"};
    int n = 15;
    if (s->max_message_bytes) argv[n++] = "--max-message-bytes", argv[n++] = s->max_message_bytes;
    execv(TC_SERVER_BIN, (char **)argv);
    _exit(127);
  }
  s->pid = pid;
}

static void dump_log(const server *s) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", s->log);
  if (system(cmd)) {}
}

/* Waits until the server answers SERVING; -1 if it died or did not within 60 s. */
static int wait_ready(const server *s) {
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
static int stop(server *s) {
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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

/* A temporary directory under TC_TEST_TMPDIR (or /tmp when that would make the socket path too long). */
static server *server_new(const char *max_message_bytes) {
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
static int setup_failed(server *s, void **state) {
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
  nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(s);
  *state = NULL;
  return -1;
}

static int server_start(server *s, void **state) {
  spawn(s, 0);
  return wait_ready(s) ? setup_failed(s, state) : 0;
}

static int group_teardown(void **state) {
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

static int setup_main(void **state) {
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

static int setup_small_messages(void **state) {
  server *s = server_new("4096");
  char path[300];
  if (!s) return -1;
  *state = s;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  if (write_example(path, FX_EXAMPLE_SHAPE, EXAMPLE_ROWS, 64, AW_NONE)) return setup_failed(s, state);
  return server_start(s, state);
}

static int setup_big(void **state) {
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
static tc_permutation_spec example_spec(void) {
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

static tc_permutation_info *make_perm(tc_client *c) {
  tc_permutation_spec spec = example_spec();
  tc_permutation_info *p = NULL;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  return p;
}

/* The row ids of a whole split, read with ReadBatch in batches of 128 (values checked); malloc'd. */
static int64_t *read_split(tc_client *c, const char *id, const char *split, int64_t n) {
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

/* ------------------------------------------------------------------------------------------------------ */
/* Every call */

static void test_health(void **state) {
  tc_client *c = client(*state);
  int st = -1;
  CHECK(c, tc_health_check(c, "", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  assert_string_equal(tc_last_error(c), "");
  CHECK(c, tc_health_check(c, "tablecar.v1.Tablecar", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  CHECK(c, tc_health_check(c, "nope", NULL, &st), TC_ENOT_FOUND);
  assert_true(*tc_last_error(c));
  tc_client_free(c);
  /* The socket is made owner+group writable (--socket-mode's default), whatever the umask. */
  struct stat sb;
  assert_int_equal(stat(((server *)*state)->sock, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0660);
}

static void test_list_tables(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_table_list *l = NULL;
  CHECK(c, tc_list_tables(c, NULL, &l), TC_OK);
  assert_int_equal(l->n_tables, 2);
  const tc_table_info *e = &l->tables[0], *sm = &l->tables[1];
  assert_string_equal(e->name, "example");
  assert_string_equal(sm->name, "small");
  assert_int_equal(e->num_rows, EXAMPLE_ROWS);
  assert_int_equal(sm->num_rows, 10);
  assert_true(strlen(e->version) > 0 && strcmp(e->version, sm->version) != 0);
  char path[300];
  struct stat st;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(e->num_bytes, st.st_size);
  assert_int_equal(e->schema.n_fields, 0); /* not in a listing */
  assert_int_equal(e->n_files, 0);
  tc_table_list_free(l);
  tc_client_free(c);
}

static void check_example_schema(const tc_schema *s) {
  assert_int_equal(s->n_fields, 4);
  const tc_field *img = &s->fields[0], *label = &s->fields[1], *cap = &s->fields[2], *score = &s->fields[3];
  assert_string_equal(img->name, "image");
  assert_int_equal(img->type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(img->list_size, 3);
  assert_false(img->nullable);
  assert_int_equal(img->ndim, 3);
  assert_true(img->shape[0] == 3 && img->shape[1] == 8 && img->shape[2] == 8);
  assert_int_equal(img->element_type, TC_TYPE_UINT8);
  assert_int_equal(img->n_children, 1);
  assert_int_equal(img->children[0].type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(img->children[0].list_size, 8);
  assert_int_equal(img->children[0].children[0].children[0].type, TC_TYPE_UINT8);
  assert_string_equal(label->name, "label");
  assert_int_equal(label->type, TC_TYPE_INT64);
  assert_false(label->nullable);
  assert_int_equal(label->ndim, 0);
  assert_int_equal(label->element_type, TC_TYPE_UNSPECIFIED);
  assert_string_equal(cap->name, "caption");
  assert_int_equal(cap->type, TC_TYPE_UTF8);
  assert_true(cap->nullable);
  assert_string_equal(score->name, "score");
  assert_int_equal(score->type, TC_TYPE_FLOAT32);
}

static void test_describe_table(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "example", NULL, &t), TC_OK);
  assert_string_equal(t->name, "example");
  assert_int_equal(t->num_rows, EXAMPLE_ROWS);
  assert_int_equal(t->n_files, 1);
  assert_string_equal(t->files[0], "example.arrow");
  assert_true(t->num_bytes > 0 && strlen(t->version) > 0);
  check_example_schema(&t->schema);
  tc_table_info *again;
  CHECK(c, tc_describe_table(c, "small", NULL, &again), TC_OK); /* zstd-compressed: the same schema */
  check_example_schema(&again->schema);
  tc_table_info_free(again);
  tc_table_info_free(t);
  tc_client_free(c);
}

static void test_take_rows(void **state) {
  tc_client *c = client(*state);
  const int64_t idx[] = {999, 0, 3, 3, 500, 64, 63, 10};
  tc_take_rows_req req = {.table = "example", .indices = idx, .n_indices = 8};
  tc_batch *b = NULL;
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_OK);
  assert_string_equal(b->table, "example");
  assert_int_equal(b->num_rows, 8);
  assert_int_equal(b->n_columns, 4);
  for (int i = 0; i < 8; i++) assert_int_equal(tc_row_id(b, i), idx[i]);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  assert_int_equal(tc_batch_column(b, "caption")->null_count, 4); /* rows 3, 3, 500, 10: i % 7 == 3 */
  char version[128];
  snprintf(version, sizeof version, "%s", b->version);
  tc_batch_free(b);

  const char *const cols[] = {"score", "caption"};
  req.columns = cols;
  req.n_columns = 2;
  req.version = version; /* pinned to the version it has: fine */
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_OK);
  assert_int_equal(b->n_columns, 2);
  assert_string_equal(b->columns[0].name, "score");
  assert_string_equal(b->columns[1].name, "caption");
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);

  tc_take_rows_req none = {.table = "small"};
  CHECK(c, tc_take_rows(c, &none, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 0);
  tc_batch_free(b);
  const int64_t all[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  tc_take_rows_req sm = {.table = "small", .indices = all, .n_indices = 10};
  CHECK(c, tc_take_rows(c, &sm, NULL, &b), TC_OK); /* across its compressed batches */
  assert_int_equal(b->num_rows, 10);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);
  tc_client_free(c);
}

static void test_permutations(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  assert_int_equal(strlen(p->id), 32);
  assert_string_equal(p->table, "example");
  assert_int_equal(p->num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->n_splits, 3);
  assert_string_equal(p->splits[0].name, "train");
  assert_string_equal(p->splits[2].name, "test");
  assert_int_equal(p->splits[0].num_rows + p->splits[1].num_rows + p->splits[2].num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->splits[0].num_rows, 800);
  const tc_permutation_spec *sp = &p->spec;
  assert_true(sp->shuffle && sp->shuffle_seed == 42 && sp->split == TC_SPLIT_RANDOM && sp->split_seed == 7);
  assert_true(sp->n_ratios == 3 && sp->ratios[0] == 0.8 && sp->n_split_names == 3);
  assert_string_equal(sp->table, "example");

  tc_permutation_info *again = make_perm(c), *d = NULL;
  assert_string_equal(again->id, p->id); /* idempotent */
  CHECK(c, tc_describe_permutation(c, p->id, NULL, &d), TC_OK);
  assert_string_equal(d->id, p->id);
  assert_string_equal(d->table_version, p->table_version);
  assert_int_equal(d->splits[1].num_rows, p->splits[1].num_rows);
  assert_string_equal(d->spec.split_names[1], "val");
  tc_permutation_info_free(again);
  tc_permutation_info_free(d);
  tc_permutation_info_free(p);

  /* sequential counts: split 0 is rows 0..99 in table order, split 1 rows 100..299 */
  static const int64_t counts[] = {100, 200};
  tc_permutation_spec seq = {.table = "example", .split = TC_SPLIT_SEQUENTIAL, .n_counts = 2, .counts = counts};
  CHECK(c, tc_create_permutation(c, &seq, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 2);
  assert_string_equal(p->splits[1].name, "1");
  int64_t *ids = read_split(c, p->id, "1", 200);
  for (int i = 0; i < 200; i++) assert_int_equal(ids[i], 100 + i);
  free(ids);
  tc_permutation_info_free(p);

  /* hash of label (i % 10): every row of a label lands in the same split */
  static const char *const hcols[] = {"label"};
  static const int64_t weights[] = {1, 1};
  tc_permutation_spec hs = {.table = "example",
                            .split = TC_SPLIT_HASH,
                            .n_hash_columns = 1,
                            .hash_columns = hcols,
                            .n_weights = 2,
                            .weights = weights};
  CHECK(c, tc_create_permutation(c, &hs, NULL, &p), TC_OK);
  assert_int_equal(p->splits[0].num_rows + p->splits[1].num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->splits[0].num_rows % 100, 0);
  int split_of_label[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
  for (int k = 0; k < 2; k++) {
    ids = read_split(c, p->id, k ? "1" : "0", p->splits[k].num_rows);
    for (int64_t i = 0; i < p->splits[k].num_rows; i++) {
      int l = (int)fx_example_label(ids[i]);
      assert_true(split_of_label[l] == -1 || split_of_label[l] == k);
      split_of_label[l] = k;
    }
    free(ids);
  }
  tc_permutation_info_free(p);

  tc_permutation_spec parts = {
      .table = "example", .shuffle = 1, .shuffle_seed = 1, .clump_size = 16, .split = TC_SPLIT_RANDOM, .fixed = 4};
  CHECK(c, tc_create_permutation(c, &parts, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 4);
  for (int k = 0; k < 4; k++) assert_int_equal(p->splits[k].num_rows, 250);
  assert_int_equal(p->spec.clump_size, 16);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_read_batch(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  unsigned char seen[EXAMPLE_ROWS] = {0};
  int sorted = 1;
  for (size_t k = 0; k < p->n_splits; k++) {
    int64_t n = p->splits[k].num_rows, off = 0;
    while (off < n) {
      tc_read_batch_req r = {.permutation = p->id, .split = p->splits[k].name, .offset = off, .batch_size = 37};
      tc_batch *b;
      CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
      assert_int_equal(b->offset, off);
      assert_int_equal(b->num_rows, n - off < 37 ? n - off : 37);
      assert_rows(b, FX_EXAMPLE_SHAPE);
      for (int64_t i = 0; i < b->num_rows; i++) {
        int64_t id = tc_row_id(b, i);
        assert_true(id >= 0 && id < EXAMPLE_ROWS && !seen[id]); /* splits are disjoint */
        seen[id] = 1;
        sorted &= i == 0 || tc_row_id(b, i - 1) < id;
      }
      off += b->num_rows;
      tc_batch_free(b);
    }
  }
  for (int i = 0; i < EXAMPLE_ROWS; i++) assert_true(seen[i]); /* ratios summing to 1: every row */
  assert_false(sorted);                                        /* shuffled */

  /* a split by its index, and some columns */
  const char *const cols[] = {"label"};
  tc_read_batch_req r = {
      .permutation = p->id, .split = "1", .offset = 5, .batch_size = 10, .columns = cols, .n_columns = 1};
  tc_batch *b1, *b2;
  CHECK(c, tc_read_batch(c, &r, NULL, &b1), TC_OK);
  assert_int_equal(b1->n_columns, 1);
  assert_rows(b1, FX_EXAMPLE_SHAPE);
  r.split = "val";
  r.n_columns = 0;
  CHECK(c, tc_read_batch(c, &r, NULL, &b2), TC_OK);
  assert_int_equal(b2->n_columns, 4);
  assert_memory_equal(b1->row_ids, b2->row_ids, b1->row_ids_size);
  tc_batch_free(b1);
  tc_batch_free(b2);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* Reads one shard: position j of the shard is start + index + j * count of the split, whose ids are ref. */
static void read_shard(tc_client *c, const tc_stream_req *r, const int64_t *ref, int64_t end, unsigned char *seen) {
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, r, NULL, &s), TC_OK);
  int64_t j = 0;
  for (;;) {
    tc_batch *b;
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    if (!b) break;
    assert_int_equal(b->offset, j);
    assert_true(b->num_rows >= 1 && b->num_rows <= r->batch_size);
    assert_rows(b, FX_EXAMPLE_SHAPE);
    for (int64_t i = 0; i < b->num_rows; i++, j++) {
      int64_t pos = r->start + r->shard_index + j * r->shard_count;
      assert_true(pos < end);
      assert_int_equal(tc_row_id(b, i), ref[pos]);
      assert_int_equal(seen[pos], 0);
      seen[pos] = 1;
    }
    tc_batch_free(b);
  }
  tc_stream_free(s);
}

static void test_stream_shards(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  int64_t n = p->splits[0].num_rows;
  int64_t *ref = read_split(c, p->id, "train", n);
  unsigned char *seen = calloc((size_t)n, 1);
  assert_non_null(seen);
  for (int32_t k = 0; k < 3; k++) { /* three shards cover the split exactly once */
    tc_stream_req r = {.permutation = p->id, .split = "train", .batch_size = 50, .shard_index = k, .shard_count = 3};
    read_shard(c, &r, ref, n, seen);
  }
  for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);

  memset(seen, 0, (size_t)n); /* a range [100, 301) in 2 shards, batches of 7 */
  for (int32_t k = 0; k < 2; k++) {
    tc_stream_req r = {.permutation = p->id,
                       .split = "train",
                       .start = 100,
                       .end = 301,
                       .batch_size = 7,
                       .shard_index = k,
                       .shard_count = 2};
    read_shard(c, &r, ref, 301, seen);
  }
  for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], i >= 100 && i < 301);
  free(seen);
  free(ref);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Errors: status and message */

static void test_errors(void **state) {
  tc_client *c = client(*state);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "nope", NULL, &t), TC_ENOT_FOUND);
  assert_null(t);
  assert_string_equal(tc_last_error(c), "no table named 'nope'");
  CHECK(c, tc_describe_table(c, "../x", NULL, &t), TC_EINVALID_ARGUMENT);
  CHECK_MSG(c, "'../x'");
  CHECK(c, tc_describe_table(c, "/etc/passwd", NULL, &t), TC_EINVALID_ARGUMENT);

  tc_batch *b = NULL;
  const int64_t past[] = {0, EXAMPLE_ROWS};
  tc_take_rows_req tr = {.table = "example", .indices = past, .n_indices = 2};
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EOUT_OF_RANGE);
  assert_string_equal(tc_last_error(c), "index 1000 is out of range for table 'example' of 1000 rows");
  const char *const nocol[] = {"nope"};
  tr.n_indices = 1;
  tr.columns = nocol;
  tr.n_columns = 1;
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EINVALID_ARGUMENT);
  assert_string_equal(tc_last_error(c), "unknown column 'nope'");
  tr.n_columns = 0;
  tr.version = "0123";
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EFAILED_PRECONDITION);
  CHECK_MSG(c, "not 0123");

  tc_permutation_info *p = NULL;
  CHECK(c, tc_describe_permutation(c, "0123456789abcdef0123456789abcdef", NULL, &p), TC_ENOT_FOUND);
  CHECK_MSG(c, "no permutation with id '0123456789abcdef0123456789abcdef'");
  CHECK(c, tc_describe_permutation(c, "zz", NULL, &p), TC_EINVALID_ARGUMENT);
  static const double too_much[] = {0.9, 0.2};
  tc_permutation_spec bad_spec = {.table = "example", .split = TC_SPLIT_RANDOM, .n_ratios = 2, .ratios = too_much};
  CHECK(c, tc_create_permutation(c, &bad_spec, NULL, &p), TC_EINVALID_ARGUMENT);
  tc_permutation_spec no_table = {.table = "nope"};
  CHECK(c, tc_create_permutation(c, &no_table, NULL, &p), TC_ENOT_FOUND);

  p = make_perm(c);
  tc_read_batch_req rr = {.permutation = p->id, .split = "val", .offset = 100, .batch_size = 1};
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_EOUT_OF_RANGE);
  assert_string_equal(tc_last_error(c), "offset 100 is past the end of split 'val' (100 rows)");
  rr.offset = 0;
  rr.batch_size = 0;
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_EINVALID_ARGUMENT);
  rr.batch_size = 1;
  rr.split = "nope";
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_ENOT_FOUND);
  CHECK_MSG(c, "has no split 'nope'");

  /* a stream's error comes from tc_stream_next, and stays */
  tc_stream_req sr = {.permutation = p->id, .split = "train", .batch_size = 1, .shard_index = 3, .shard_count = 3};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, NULL, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_EINVALID_ARGUMENT);
  CHECK_MSG(c, "shard_index 3");
  CHECK(c, tc_stream_next(s, &b), TC_EINVALID_ARGUMENT);
  tc_stream_free(s);

  int st;
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK); /* the handle is fine after errors */
  assert_string_equal(tc_last_error(c), "");
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_resource_exhausted(void **state) {
  tc_client *c = client(*state);
  int64_t idx[100];
  for (int i = 0; i < 100; i++) idx[i] = i;
  tc_take_rows_req tr = {.table = "example", .indices = idx, .n_indices = 100};
  tc_batch *b = NULL;
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(c, "--max-message-bytes (4096)");
  tr.n_indices = 2; /* small enough */
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_OK);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);

  tc_permutation_info *p = make_perm(c);
  tc_read_batch_req rr = {.permutation = p->id, .split = "train", .batch_size = 100};
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(c, "--max-message-bytes");
  const char *const cols[] = {"label"};
  rr.columns = cols; /* fewer columns fit */
  rr.n_columns = 1;
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 100);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);
  tc_stream_req sr = {.permutation = p->id, .split = "train", .batch_size = 100};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, NULL, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_ERESOURCE_EXHAUSTED);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Deadlines against a stopped server */

static void test_deadline_stopped(void **state) {
  server *s = *state;
  tc_client *c = client(s), *fresh = client(s);
  tc_permutation_info *p = make_perm(c); /* connected */
  tc_read_batch_req r = {.permutation = p->id, .split = "train", .batch_size = 4};
  tc_batch *b = NULL;
  int st;
  /* SIGSTOP reaches every thread of the server a moment after kill(): wait until it has stopped */
  int ws;
  assert_int_equal(kill(s->pid, SIGSTOP), 0);
  assert_int_equal(waitpid(s->pid, &ws, WUNTRACED), s->pid);
  assert_true(WIFSTOPPED(ws));
  double t0 = now_s();
  int rc1 = tc_read_batch(c, &r, &(tc_call_opts){.timeout_ms = 300}, &b);
  double dt = now_s() - t0;
  /* a handle that has to connect first: the kernel still accepts into the listen backlog */
  int rc2 = tc_health_check(fresh, NULL, &(tc_call_opts){.timeout_ms = 200}, &st);
  double dt2 = now_s() - t0 - dt;
  kill(s->pid, SIGCONT); /* before any assertion: a failure must not leave the server stopped */
  print_message("deadline against a stopped server: %.3f s for 300 ms, %.3f s for 200 ms (new handle)\n", dt, dt2);
  CHECK(c, rc1, TC_EDEADLINE_EXCEEDED);
  CHECK(fresh, rc2, TC_EDEADLINE_EXCEEDED);
  assert_null(b);
  /* never early (late only by how busy the machine is: the stopped server never answers) */
  assert_true(dt >= 0.295);
  assert_true(dt2 >= 0.195);
  /* both handles work again, with the default deadline */
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);
  CHECK(fresh, tc_health_check(fresh, NULL, NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  tc_permutation_info_free(p);
  tc_client_free(fresh);
  tc_client_free(c);
}

/* ------------------------------------------------------------------------------------------------------ */
/* fork() */

/* n ReadBatch calls of 1..4 rows at offsets spread over the split, each checked against the rules and
 * against ref (the split's ids). 0, or 1 after printing why. No cmocka here: it runs in children too. */
static int reads(tc_client *c, const char *id, const int64_t *ref, int64_t n_split, int n, unsigned seed) {
  char err[256];
  for (int i = 0; i < n; i++) {
    int64_t off = (int64_t)((seed * 7919u + (unsigned)i * 31u) % (unsigned)n_split);
    tc_read_batch_req r = {.permutation = id, .split = "train", .offset = off, .batch_size = 1 + (i % 4)};
    tc_batch *b;
    int rc = tc_read_batch(c, &r, NULL, &b);
    if (rc) {
      fprintf(stderr, "pid %d call %d: %s: %s\n", (int)getpid(), i, tc_strerror(rc), tc_last_error(c));
      return 1;
    }
    int fail = check_rows(b, FX_EXAMPLE_SHAPE, err, sizeof err);
    for (int64_t k = 0; !fail && k < b->num_rows; k++)
      if (tc_row_id(b, k) != ref[off + k]) fail = bad(err, sizeof err, "row %lld of the split", (long long)(off + k));
    if (!fail && b->num_rows != (n_split - off < r.batch_size ? n_split - off : r.batch_size))
      fail = bad(err, sizeof err, "%lld rows", (long long)b->num_rows);
    tc_batch_free(b);
    if (fail) {
      fprintf(stderr, "pid %d call %d: %s\n", (int)getpid(), i, err);
      return 1;
    }
  }
  return 0;
}

static int wait_exit(pid_t pid) {
  int ws;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

typedef struct fork_ctx {
  tc_client *c;
  const char *id;
  const int64_t *ref;
  int64_t n;
} fork_ctx;

/* A child: 200 calls with the inherited handle, a grandchild making 50 more with it, then 10 more. */
static int storm_child(const fork_ctx *f, unsigned k) {
  alarm(120);
  int rc = reads(f->c, f->id, f->ref, f->n, 200, k);
  pid_t g = fork();
  if (g == 0) {
    alarm(60);
    int grc = reads(f->c, f->id, f->ref, f->n, 50, 1000 + k);
    tc_client_free(f->c);
    _exit(grc);
  }
  rc |= g < 0 || wait_exit(g) != 0;
  rc |= reads(f->c, f->id, f->ref, f->n, 10, 2000 + k);
  tc_client_free(f->c);
  return rc;
}

static void test_fork_storm(void **state) {
  alarm(240); /* a hang kills the test instead of stalling it */
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  int64_t n = p->splits[0].num_rows, *ref = read_split(c, p->id, "train", n);
  fork_ctx f = {c, p->id, ref, n};
  assert_int_equal(reads(c, p->id, ref, n, 20, 1), 0); /* the parent is connected */
  enum { CHILDREN = 16 };
  pid_t kids[CHILDREN];
  double t0 = now_s();
  for (unsigned k = 0; k < CHILDREN; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) _exit(storm_child(&f, k));
  }
  assert_int_equal(reads(c, p->id, ref, n, 100, 99), 0); /* the parent keeps calling meanwhile */
  int failed = 0;
  for (int k = 0; k < CHILDREN; k++) failed += wait_exit(kids[k]) != 0;
  print_message("16 children x (200 + grandchild 50 + 10) ReadBatch calls in %.2f s\n", now_s() - t0);
  assert_int_equal(failed, 0);
  assert_int_equal(reads(c, p->id, ref, n, 50, 7), 0);
  free(ref);
  tc_permutation_info_free(p);
  tc_client_free(c);
  alarm(0);
}

/* Thread A: calls on its own handle until told to stop. */
typedef struct loop_arg {
  fork_ctx f;
  atomic_int stop;
  atomic_long begun; /* calls entered */
  atomic_long calls; /* calls completed */
  atomic_int failures;
} loop_arg;

static void *loop_thread(void *p) {
  loop_arg *a = p;
  for (unsigned i = 0; !atomic_load(&a->stop); i++) {
    atomic_fetch_add(&a->begun, 1);
    if (reads(a->f.c, a->f.id, a->f.ref, a->f.n, 1, i)) atomic_fetch_add(&a->failures, 1);
    atomic_fetch_add(&a->calls, 1);
  }
  return NULL;
}

static void wait_calls(loop_arg *a, long n) {
  for (double t0 = now_s(); atomic_load(&a->calls) < n && now_s() - t0 < 60;) sleep_ms(1);
}

/* A child of a process with a thread inside a call: the inherited handle B, then a fresh handle. */
static int thread_child(const fork_ctx *b, const char *target, unsigned k) {
  alarm(60);
  int rc = reads(b->c, b->id, b->ref, b->n, 50, k);
  tc_client *fresh;
  if (tc_client_new(target, hang_guard_opts(), &fresh)) return 1;
  rc |= reads(fresh, b->id, b->ref, b->n, 50, 100 + k);
  tc_client_free(fresh);
  tc_client_free(b->c);
  return rc;
}

/* Forks n children running thread_child; the number that failed. */
static int fork_children(const fork_ctx *b, const char *target, unsigned n, int spacing_ms) {
  pid_t kids[16];
  unsigned started = 0;
  for (; started < n && started < 16; started++) {
    kids[started] = fork();
    if (kids[started] < 0) break;
    if (kids[started] == 0) _exit(thread_child(b, target, started));
    sleep_ms(spacing_ms);
  }
  int failed = (int)(n - started);
  for (unsigned k = 0; k < started; k++) failed += wait_exit(kids[k]) != 0;
  return failed;
}

#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif

/* Thread A calls on handle A, to a second server (the same tables); the main thread forks children that use
 * handle B, made before, and fresh handles.
 *   1. Deterministic: the second server is stopped (SIGSTOP), so thread A sits inside a call when the
 *      children fork; after SIGCONT that call completes and A goes on.
 *   2. Thread A calls in a tight loop while children fork at random points of its calls. Not under ASan:
 *      GCC 12's libasan does not lock its allocator around fork(), so a child forked while A is inside the
 *      sanitizer's malloc deadlocks there (seen: SizeClassAllocator64::GetFromAllocator) - glibc's malloc
 *      is fork-safe. */
static void test_fork_with_thread(void **state) {
  server *s = *state, *s2 = server_new(NULL);
  alarm(240);
  tc_client *ca = NULL, *cb = client(s);
  tc_permutation_info *p = make_perm(cb), *p2 = NULL;
  int64_t n = p->splits[0].num_rows, *ref = read_split(cb, p->id, "train", n);
  assert_non_null(s2);
  snprintf(s2->data, sizeof s2->data, "%s", s->data); /* the same tables */
  spawn(s2, 0);
  tc_permutation_spec spec = example_spec();
  int ready = wait_ready(s2) == 0 && tc_client_new(s2->target, hang_guard_opts(), &ca) == TC_OK &&
              tc_create_permutation(ca, &spec, NULL, &p2) == TC_OK && !strcmp(p2->id, p->id); /* same id */
  tc_permutation_info_free(p2);
  loop_arg a = {.f = {ca, p->id, ref, n}};
  fork_ctx fb = {cb, p->id, ref, n};
  pthread_t th;
  int failed1 = -1, failed2 = 0, stopped = 0, started = 0;
  long blocked_at = 0, after_cont = 0;
  /* The server is stopped before A starts: A's first call can never complete until SIGCONT, at any speed
   * (stopped after A started, a response already in the socket could still complete a call). */
  int ws;
  stopped = ready && kill(s2->pid, SIGSTOP) == 0 && waitpid(s2->pid, &ws, WUNTRACED) == s2->pid && WIFSTOPPED(ws);
  started = stopped && pthread_create(&th, NULL, loop_thread, &a) == 0;
  if (!started && stopped) kill(s2->pid, SIGCONT);
  if (started) {
    for (double t0 = now_s(); atomic_load(&a.begun) == 0 && now_s() - t0 < 60;) sleep_ms(1);
    sleep_ms(50); /* most likely inside poll() by now; the children must work wherever A is */
    blocked_at = atomic_load(&a.calls);
    failed1 = fork_children(&fb, s->target, 8, 0);
    after_cont = atomic_load(&a.calls);
    kill(s2->pid, SIGCONT);
    wait_calls(&a, blocked_at + 20);
#ifndef TC_ASAN
    failed2 = fork_children(&fb, s->target, 8, 2);
#endif
    wait_calls(&a, atomic_load(&a.calls) + 20);
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
  }
  /* assertions only now: thread A and the second server must not outlive a failure */
  /* handle A is still connected: an idle connection must not delay the exit (to the hour of --drain-seconds) */
  int s2_exit = stop(s2);
  nftw(s2->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(s2);
  print_message("thread A: %ld calls (blocked at %ld while 8 children ran), %d failed\n", atomic_load(&a.calls),
                blocked_at, atomic_load(&a.failures));
  assert_true(ready && started && stopped);
  assert_int_equal(after_cont, blocked_at); /* A was inside one call all along */
  assert_int_equal(failed1, 0);
  assert_int_equal(failed2, 0);
  assert_int_equal(atomic_load(&a.failures), 0);
  assert_true(atomic_load(&a.calls) >= blocked_at + 40);
  assert_int_equal(reads(cb, p->id, ref, n, 20, 5), 0); /* B still works in the parent */
  assert_int_equal(s2_exit, 0);
  free(ref);
  tc_permutation_info_free(p);
  tc_client_free(ca);
  tc_client_free(cb);
  alarm(0);
}

/* ------------------------------------------------------------------------------------------------------ */
/* The command-line client (client/cli/): exit codes, the error line, the JSON document */

/* Runs `tablecar --target T ARGS...` with stdout and stderr in files read back into out and err. */
static int run_cli(const server *s, const char *const *args, char *out, size_t outlen, char *err, size_t errlen) {
  char paths[2][300];
  snprintf(paths[0], sizeof paths[0], "%s/cli.out", s->dir);
  snprintf(paths[1], sizeof paths[1], "%s/cli.err", s->dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    const char *argv[32] = {TC_CLI_BIN, "--target", s->target};
    int n = 3;
    for (; *args && n < 31; args++) argv[n++] = *args;
    int fo = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC, 0644),
        fe = open(paths[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(127);
    execv(TC_CLI_BIN, (char **)argv);
    _exit(127);
  }
  int rc = wait_exit(pid);
  char *bufs[2] = {out, err};
  size_t lens[2] = {outlen, errlen};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(paths[k], "r");
    size_t got = f ? fread(bufs[k], 1, lens[k] - 1, f) : 0;
    bufs[k][got] = '\0';
    if (f) fclose(f);
  }
  return rc;
}

#define CLI(want_rc, ...)                                                                                              \
  do {                                                                                                                 \
    const char *const args_[] = {__VA_ARGS__, NULL};                                                                   \
    int rc_ = run_cli(s, args_, out, sizeof out, err, sizeof err);                                                     \
    if (rc_ != (want_rc)) fail_msg("tablecar %s: exit %d, want %d; stderr: %s", args_[0], rc_, (want_rc), err);        \
  } while (0)

static void test_cli(void **state) {
  server *s = *state;
  char out[8192], err[1024];
  CLI(0, "health");
  assert_string_equal(out, "SERVING\n");
  CLI(1, "health", "nope");
  server bogus = *s; /* a target the CLI refuses, saying the library's reason */
  snprintf(bogus.target, sizeof bogus.target, "nonsense");
  assert_int_equal(run_cli(&bogus, (const char *const[]){"ls", NULL}, out, sizeof out, err, sizeof err), 2);
  assert_string_equal(err, "tablecar: bad target \"nonsense\": expected HOST:PORT, unix:PATH or unix-abstract:NAME"
                           " (see tablecar --help)\n");
  CLI(0, "--json", "ls");
  assert_non_null(strstr(out, "{\"name\":\"example\",\"num_rows\":1000,"));
  CLI(0, "describe", "example");
  assert_non_null(strstr(out, "fixed_size_list<uint8>[3,8,8]"));
  CLI(0, "take", "example", "3", "12", "--json");
  assert_non_null(strstr(out, "\"row_ids\":[3,12],\"rows\":[{\"image\":[[[93,94,"));
  assert_non_null(strstr(out, "\"label\":3,\"caption\":null,\"score\":0.75}"));
  assert_non_null(strstr(out, "\"caption\":\"row 12\""));
  CLI(0, "take", "example", "12");
  assert_non_null(strstr(out, "uint8[3,8,8] [116, 117, 118,"));
  CLI(1, "describe", "nope");
  assert_string_equal(err, "tablecar: NOT_FOUND: no table named 'nope'\n");
  CLI(1, "take", "example", "1000");
  assert_string_equal(err, "tablecar: OUT_OF_RANGE: index 1000 is out of range for table 'example' of 1000 rows\n");
  CLI(0, "perm", "create", "example", "--shuffle", "42", "--split", "random", "--ratios", "0.8,0.1,0.1", "--split-seed",
      "7", "--names", "train,val,test", "--json");
  tc_client *c = client(s);
  tc_permutation_info *p = make_perm(c); /* the same spec through the library: the same id */
  char want[64];
  snprintf(want, sizeof want, "{\"id\":\"%s\"", p->id);
  assert_memory_equal(out, want, strlen(want));
  CLI(0, "read", p->id, "val", "0", "2", "--columns", "label", "--json");
  assert_non_null(strstr(out, "\"offset\":0,\"num_rows\":2,"));
  tc_permutation_info_free(p);
  tc_client_free(c);
  CLI(2, "frobnicate");
  CLI(2, "take");
  CLI(2, "ls", "--columns", "a");
  CLI(2, "perm", "create", "example", "--ratios", "0.5"); /* sizes without --split */
  CLI(0, "perm", "create", "--help");
  assert_non_null(strstr(out, "--split random"));
}

/* ------------------------------------------------------------------------------------------------------ */
/* The sidecar killed and restarted under the client */

static void kill_server(server *s) {
  assert_int_equal(kill(s->pid, SIGKILL), 0);
  assert_int_equal(wait_exit(s->pid), 128 + SIGKILL);
  s->pid = -1;
}

static void test_restart(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  static const double half[] = {0.5, 0.5};
  static const char *const names[] = {"a", "b"};
  tc_permutation_spec spec = {.table = "example",
                              .shuffle = 1,
                              .shuffle_seed = 99,
                              .split = TC_SPLIT_RANDOM,
                              .n_ratios = 2,
                              .ratios = half,
                              .n_split_names = 2,
                              .split_names = names};
  tc_permutation_info *p;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  tc_read_batch_req r = {.permutation = p->id, .split = "a", .offset = 10, .batch_size = 20};
  tc_batch *before, *after;
  CHECK(c, tc_read_batch(c, &r, NULL, &before), TC_OK);
  /* a stream, part read when the server goes away */
  tc_stream_req sr = {.permutation = p->id, .split = "b", .batch_size = 25};
  tc_stream *st;
  CHECK(c, tc_stream_batches(c, &sr, &(tc_call_opts){.timeout_ms = 30000}, &st), TC_OK);
  tc_batch *sb;
  CHECK(c, tc_stream_next(st, &sb), TC_OK);
  int64_t streamed = sb->num_rows;
  tc_batch_free(sb);

  kill_server(s);
  int hs;
  int rc = tc_health_check(c, NULL, &(tc_call_opts){.no_retry = 1}, &hs); /* down: fails at once */
  assert_true(rc == TC_ECONNECT || rc == TC_EUNAVAILABLE);
  spawn(s, 700); /* back in 0.7 s, same socket and state dir */
  double t0 = now_s();
  CHECK(c, tc_read_batch(c, &r, &(tc_call_opts){.timeout_ms = 30000}, &after), TC_OK);
  double dt = now_s() - t0;
  print_message("ReadBatch through a SIGKILL and restart took %.2f s\n", dt);
  assert_true(dt >= 0.5);
  assert_int_equal(after->num_rows, before->num_rows);
  assert_memory_equal(after->row_ids, before->row_ids, before->row_ids_size); /* same id, same rows */
  assert_rows(after, FX_EXAMPLE_SHAPE);
  tc_batch_free(before);
  tc_batch_free(after);

  /* the stream resumes after what it had delivered */
  int64_t *ref = read_split(c, p->id, "b", p->splits[1].num_rows);
  for (;;) {
    CHECK(c, tc_stream_next(st, &sb), TC_OK);
    if (!sb) break;
    assert_int_equal(sb->offset, streamed);
    assert_rows(sb, FX_EXAMPLE_SHAPE);
    for (int64_t i = 0; i < sb->num_rows; i++) assert_int_equal(tc_row_id(sb, i), ref[streamed + i]);
    streamed += sb->num_rows;
    tc_batch_free(sb);
  }
  assert_int_equal(streamed, p->splits[1].num_rows);
  tc_stream_free(st);
  free(ref);
  tc_permutation_info *d;
  CHECK(c, tc_describe_permutation(c, p->id, NULL, &d), TC_OK); /* from the state dir */
  assert_int_equal(d->splits[0].num_rows, p->splits[0].num_rows);
  tc_permutation_info_free(d);
  tc_permutation_info_free(p);
  tc_client_free(c);
  assert_int_equal(wait_ready(s), 0);
}

/* ------------------------------------------------------------------------------------------------------ */
/* A 64 MiB batch */

static void test_big_batch(void **state) {
  tc_client *c = client(*state);
  tc_permutation_spec spec = {.table = "big"};
  tc_permutation_info *p;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  assert_int_equal(p->splits[0].num_rows, BIG_ROWS);
  tc_read_batch_req r = {.permutation = p->id, .split = "0", .batch_size = BIG_ROWS};
  tc_batch *b;
  double t0 = now_s();
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  double dt = now_s() - t0;
  assert_int_equal(b->num_rows, BIG_ROWS);
  const tc_column *leaf = &tc_batch_column(b, "image")->children[0].children[0].children[0];
  assert_true(leaf->values_size == (size_t)BIG_ROWS * 3 * 64 * 64 && leaf->values_size > (size_t)64 << 20);
  assert_rows(b, BIG_SHAPE); /* every byte */
  print_message("ReadBatch of %d rows (%.1f MiB of images) in %.3f s\n", BIG_ROWS, leaf->values_size / 1048576.0, dt);
  tc_batch_free(b);

  /* larger than the client accepts: RESOURCE_EXHAUSTED, and the handle keeps working */
  tc_client *small;
  tc_options o;
  tc_options_init(&o);
  o.max_recv_message_bytes = 32u << 20;
  assert_int_equal(tc_client_new(((server *)*state)->target, &o, &small), TC_OK);
  CHECK(small, tc_read_batch(small, &r, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(small, "larger than max");
  r.batch_size = 100;
  CHECK(small, tc_read_batch(small, &r, NULL, &b), TC_OK);
  assert_rows(b, BIG_SHAPE);
  tc_batch_free(b);
  tc_client_free(small);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest calls[] = {
      cmocka_unit_test(test_health),           cmocka_unit_test(test_list_tables),
      cmocka_unit_test(test_describe_table),   cmocka_unit_test(test_take_rows),
      cmocka_unit_test(test_permutations),     cmocka_unit_test(test_read_batch),
      cmocka_unit_test(test_stream_shards),    cmocka_unit_test(test_errors),
      cmocka_unit_test(test_deadline_stopped), cmocka_unit_test(test_fork_storm),
      cmocka_unit_test(test_fork_with_thread), cmocka_unit_test(test_cli),
      cmocka_unit_test(test_restart),
  };
  const struct CMUnitTest small[] = {cmocka_unit_test(test_resource_exhausted)};
  const struct CMUnitTest big[] = {cmocka_unit_test(test_big_batch)};
  int failed = cmocka_run_group_tests_name("client_server", calls, setup_main, group_teardown);
  failed += cmocka_run_group_tests_name("client_server_small_messages", small, setup_small_messages, group_teardown);
  failed += cmocka_run_group_tests_name("client_server_64MiB", big, setup_big, group_teardown);
  return failed ? 1 : 0;
}
