/* Mutation survival, end to end: thousands of mutated versions of every fixture file (bit flips,
 * overwritten metadata and lengths, truncations, splices, inserted chunks; deterministic seeds) are served
 * by a real tablecar-server from its data dir and read in full through libtablecar. Each table gives its
 * values or a clean error (DATA_LOSS or INVALID_ARGUMENT naming the file, or RESOURCE_EXHAUSTED for a
 * batch too large), never a crash or a hang: the server answers SERVING at the end and exits 0 on SIGTERM
 * (under ASan that also means no leak and no bad read).
 *
 * Fixtures: our writer's example and all-types tables in both formats and every codec, and when node and
 * tests/peers/node_modules are there the apache-arrow fixtures of test_arrow_file. TC_MUTANTS (default 120)
 * mutants per fixture; more for a campaign by hand (TC_MUTANTS=2000 ./test_mutants). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
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

#include "fixtures.h"
#include "tablecar.h"

typedef struct blob {
  char name[64];
  uint8_t *d;
  size_t n;
} blob;

typedef struct env {
  char dir[200], data[240], sock[240], log[240], target[256];
  pid_t pid;
  blob *fx;
  size_t n_fx;
  int per_file;
} env;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static uint64_t next(uint64_t *s) { /* xorshift64*: the same mutants on every machine */
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = malloc(len > 0 ? (size_t)len : 1);
  *n = d && len > 0 ? fread(d, 1, (size_t)len, f) : 0;
  fclose(f);
  return d;
}

static void add_fixture(env *e, const char *path, const char *name) {
  blob b = {{0}, NULL, 0};
  snprintf(b.name, sizeof b.name, "%s", name);
  b.d = slurp(path, &b.n);
  if (!b.d || b.n < 16 || b.n > (256 << 10)) { /* small files: mutants of them are read fast */
    free(b.d);
    return;
  }
  e->fx = realloc(e->fx, (e->n_fx + 1) * sizeof *e->fx);
  e->fx[e->n_fx++] = b;
}

static void make_fixtures(env *e) {
  char path[800], src[400];
  static const char *const codecs[] = {"none", "lz4", "zstd"};
  snprintf(path, sizeof path, "%s/fx", e->dir);
  mkdir(path, 0777);
  for (int fmt = 0; fmt < 2; fmt++) {
    for (int c = 0; c < 3; c++) {
      fx_table t;
      assert_int_equal(fx_example(&t, (fx_shape){1, 2, 3}, 40, 16), 0);
      aw_options opt = {.format = fmt, .codec = c};
      snprintf(path, sizeof path, "%s/fx/example-%d-%s.arrow", e->dir, fmt, codecs[c]);
      assert_int_equal(fx_table_write(path, &opt, &t), 0);
      fx_table_free(&t);
      add_fixture(e, path, strrchr(path, '/') + 1);
      assert_int_equal(fx_all_types(&t), 0);
      snprintf(path, sizeof path, "%s/fx/all-%d-%s.arrow", e->dir, fmt, codecs[c]);
      assert_int_equal(fx_table_write(path, &opt, &t), 0);
      fx_table_free(&t);
      add_fixture(e, path, strrchr(path, '/') + 1);
    }
  }
  snprintf(src, sizeof src, "%s/tests/peers/node_modules", TC_SOURCE_DIR);
  struct stat st;
  if (stat(src, &st) != 0 || system("command -v node >/dev/null") != 0) {
    print_message("  no node or tests/peers/node_modules: our writer's fixtures only\n");
    return;
  }
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "node '%s/tests/peers/write_arrow_fixtures.mjs' '%s/fx/js' >/dev/null", TC_SOURCE_DIR,
           e->dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/fx/js", e->dir);
  DIR *d = opendir(path);
  assert_non_null(d);
  struct dirent *de;
  char names[64][256];
  size_t nn = 0;
  while ((de = readdir(d)) && nn < 64)
    if (strstr(de->d_name, ".arrow")) snprintf(names[nn++], sizeof names[0], "%s", de->d_name);
  closedir(d);
  qsort(names, nn, sizeof names[0], (int (*)(const void *, const void *))strcmp); /* readdir order varies */
  for (size_t i = 0; i < nn; i++) {
    snprintf(path, sizeof path, "%s/fx/js/%.255s", e->dir, names[i]);
    add_fixture(e, path, names[i]);
  }
}

/* Mutant K of fixture F, into out (capacity cap); returns its length. */
static size_t mutate(const env *e, size_t f, int k, uint8_t *out, size_t cap) {
  const blob *b = &e->fx[f];
  uint64_t s = 0x9E3779B97F4A7C15ull ^ ((uint64_t)f << 32) ^ (uint64_t)k * 0xD1B54A32D192ED03ull;
  for (int i = 0; i < 4; i++) next(&s);
  size_t n = b->n;
  memcpy(out, b->d, n);
  switch (k % 7) {
  case 0: /* a few bit flips anywhere */
    for (int i = 0, m = 1 + (int)(next(&s) % 8); i < m; i++) out[next(&s) % n] ^= (uint8_t)(1u << (next(&s) % 8));
    break;
  case 1: { /* bit flips in the metadata at either end (schema, footer) */
    size_t w = n < 512 ? n : 512;
    for (int i = 0, m = 1 + (int)(next(&s) % 4); i < m; i++) {
      size_t at = next(&s) % w;
      out[next(&s) & 1 ? at : n - 1 - at] ^= (uint8_t)(1u << (next(&s) % 8));
    }
    break;
  }
  case 2: { /* a run of bytes overwritten */
    static const uint8_t fill[] = {0x00, 0xFF, 0x7F, 0x80};
    size_t at = next(&s) % n, len = 1 + next(&s) % 16;
    for (size_t i = at; i < at + len && i < n; i++) out[i] = next(&s) & 1 ? fill[next(&s) % 4] : (uint8_t)next(&s);
    break;
  }
  case 3: { /* an aligned 32- or 64-bit value (a length, offset or count) replaced by an extreme one */
    static const int64_t v[] = {INT64_MAX, -1, 0, 1, INT32_MAX, INT32_MIN, (int64_t)1 << 32, INT64_MIN, 7};
    int64_t x = v[next(&s) % 9];
    size_t w = next(&s) & 1 ? 8 : 4, at = (next(&s) % n) & ~(w - 1);
    if (at + w <= n) memcpy(out + at, &x, w);
    break;
  }
  case 4: /* truncated */ n = next(&s) % n; break;
  case 5: { /* spliced: the head of this file, the tail of another */
    const blob *o = &e->fx[next(&s) % e->n_fx];
    size_t head = next(&s) % n, from = next(&s) % o->n, tail = o->n - from;
    if (head + tail > cap) tail = cap - head;
    memcpy(out + head, o->d + from, tail);
    n = head + tail;
    break;
  }
  default: { /* a chunk of the file repeated in place */
    size_t at = next(&s) % n, len = 1 + next(&s) % 64;
    if (len > n - at) len = n - at;
    if (n + len <= cap) {
      memmove(out + at + len, out + at, n - at);
      n += len;
    }
    break;
  }
  }
  return n;
}

static void spawn(env *e) {
  pid_t parent = getpid(), pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    char listen[260];
    snprintf(listen, sizeof listen, "unix:%s", e->sock);
    execl(TC_SERVER_BIN, TC_SERVER_BIN, "--data-dir", e->data, "--listen", listen, "--log-level", "error",
          "--rescan-seconds", "0", "--drain-seconds", "5", "--cache-bytes", "64M", "--max-message-bytes", "16M",
          (char *)NULL);
    _exit(127);
  }
  e->pid = pid;
}

static void dump_log(const env *e) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", e->log);
  if (system(cmd)) {}
}

static int serving(const env *e, tc_client *c) {
  int st = -1;
  return tc_health_check(c, "", &(tc_call_opts){.timeout_ms = 5000, .no_retry = 1}, &st) == TC_OK &&
         st == TC_HEALTH_SERVING;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

/* Checks an error: a clean status, and for DATA_LOSS / INVALID_ARGUMENT the file named. */
static void check_error(const env *e, tc_client *c, int rc, const char *file, const char *what) {
  const char *msg = tc_last_error(c);
  if (rc == TC_EDATA_LOSS || rc == TC_EINVALID_ARGUMENT) {
    if (!strstr(msg, file)) fail_msg("%s of %s: %s without the file's name: %s", what, file, tc_strerror(rc), msg);
    return;
  }
  if (rc == TC_ERESOURCE_EXHAUSTED && strstr(msg, "larger than")) return;
  if (waitpid(e->pid, NULL, WNOHANG) == e->pid) dump_log(e);
  fail_msg("%s of %s: unexpected %s: %s", what, file, tc_strerror(rc), msg);
}

typedef struct tally {
  int read, refused, partly, too_big;
} tally;

/* Every row of table NAME (up to 4096 of a huge one, and its last 256), or a clean error. */
static void read_table(const env *e, tc_client *c, const char *name, tally *t) {
  char file[80];
  snprintf(file, sizeof file, "%s.arrow", name);
  tc_table_info *info = NULL;
  int rc = tc_describe_table(c, name, NULL, &info);
  if (rc != TC_OK) {
    check_error(e, c, rc, file, "DescribeTable");
    if (getenv("TC_MUTANTS_VERBOSE")) print_message("  %s\n", tc_last_error(c));
    t->refused++;
    return;
  }
  int64_t n = info->num_rows;
  tc_table_info_free(info);
  int64_t idx[512];
  int failed = 0;
  int64_t head = n < 4096 ? n : 4096, tail_from = n - 256 > head ? n - 256 : head;
  for (int64_t at = 0; at < n && (at < head || at == tail_from); at = at + 512 < head ? at + 512 : tail_from) {
    int64_t end = at < head ? (at + 512 < head ? at + 512 : head) : n;
    size_t k = 0;
    for (int64_t i = at; i < end; i++) idx[k++] = i;
    tc_take_rows_req r = {.table = name, .indices = idx, .n_indices = k};
    tc_batch *b = NULL;
    rc = tc_take_rows(c, &r, NULL, &b);
    if (rc == TC_OK) {
      assert_int_equal(b->num_rows, (int64_t)k);
      tc_batch_free(b);
    } else {
      check_error(e, c, rc, file, "TakeRows");
      failed = 1;
      t->too_big += rc == TC_ERESOURCE_EXHAUSTED;
    }
    if (at == tail_from) break;
  }
  if (failed)
    t->partly++;
  else
    t->read++;
}

static void test_mutants_served(void **state) {
  env *e = calloc(1, sizeof *e);
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 80) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(e->dir, sizeof e->dir, "%s/mutantsXXXXXX", tmp);
  assert_non_null(mkdtemp(e->dir));
  snprintf(e->data, sizeof e->data, "%s/data", e->dir);
  snprintf(e->sock, sizeof e->sock, "%s/s.sock", e->dir);
  snprintf(e->log, sizeof e->log, "%s/server.log", e->dir);
  snprintf(e->target, sizeof e->target, "unix:%s", e->sock);
  mkdir(e->data, 0777);
  const char *pf = getenv("TC_MUTANTS");
  e->per_file = pf && atoi(pf) > 0 ? atoi(pf) : 120;
  make_fixtures(e);
  assert_true(e->n_fx >= 12);

  size_t cap = 0;
  for (size_t f = 0; f < e->n_fx; f++) cap = e->fx[f].n * 2 > cap ? e->fx[f].n * 2 : cap;
  uint8_t *buf = malloc(cap);
  char path[400];
  int total = 0;
  for (size_t f = 0; f < e->n_fx; f++) {
    for (int k = 0; k < e->per_file; k++, total++) {
      size_t n = mutate(e, f, k, buf, cap);
      snprintf(path, sizeof path, "%s/m%02zu_%05d.arrow", e->data, f, k);
      FILE *o = fopen(path, "wb");
      assert_non_null(o);
      assert_int_equal(fwrite(buf, 1, n, o), n);
      fclose(o);
    }
  }
  free(buf);
  print_message("  %d mutants of %zu fixtures\n", total, e->n_fx);

  double t0 = now_s();
  spawn(e);
  tc_client *c = NULL;
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 60000; /* only a hang reaches it */
  o.max_recv_message_bytes = 64 << 20;
  assert_int_equal(tc_client_new(e->target, &o, &c), TC_OK);
  int up = 0;
  for (double w = now_s(); !up && now_s() - w < 120; sleep_ms(20)) {
    up = serving(e, c);
    if (!up && waitpid(e->pid, NULL, WNOHANG) == e->pid) {
      dump_log(e);
      fail_msg("tablecar-server died loading the mutants");
    }
  }
  assert_true(up);
  tally t = {0};
  char name[48];
  for (size_t f = 0; f < e->n_fx; f++) {
    for (int k = 0; k < e->per_file; k++) {
      snprintf(name, sizeof name, "m%02zu_%05d", f, k);
      read_table(e, c, name, &t);
    }
  }
  assert_true(serving(e, c));
  tc_client_free(c);
  print_message("  read in full: %d, refused at load: %d, refused while reading: %d (%d batches too large); %.1f s\n",
                t.read, t.refused, t.partly, t.too_big, now_s() - t0);
  assert_int_equal(t.read + t.refused + t.partly, total);
  assert_true(t.read > 0 && t.refused > 0); /* the mutants are neither all harmless nor all fatal */

  kill(e->pid, SIGTERM);
  int ws = 0;
  pid_t r = 0;
  for (double w = now_s(); now_s() - w < 120 && (r = waitpid(e->pid, &ws, WNOHANG)) == 0;) sleep_ms(10);
  if (r == 0) {
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &ws, 0);
  }
  if (!(r == e->pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
    dump_log(e);
    fail_msg("tablecar-server did not exit cleanly after SIGTERM (status 0x%x)", ws);
  }
  for (size_t f = 0; f < e->n_fx; f++) free(e->fx[f].d);
  free(e->fx);
  nftw(e->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_mutants_served)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
