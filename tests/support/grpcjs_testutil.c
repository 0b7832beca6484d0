/* grpcjs_testutil.c: the fake gRPC server process and the helpers shared by test_client_grpcjs.c and
 * test_client_grpcjs_conn.c (see grpcjs_testutil.h). Moved from test_client_grpcjs.c unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpcjs_testutil.h"
#include "tablecar.h"

#ifndef TC_SOURCE_DIR
#error TC_SOURCE_DIR must be defined
#endif

char g_dir[256], g_sock[320], g_raw[320], g_bad[320], g_target[340], g_raw_target[340], g_bad_target[340];
pid_t g_server = -1;
int g_have_node;

const tc_call_opts kSlowStart = {.timeout_ms = 120000}; /* node takes a while to start */
const tc_call_opts kNoRetry = {.no_retry = 1};
/* A deadline that only a hang reaches: a call that must fail at once is given it, so that failing at the
 * deadline instead shows as DEADLINE_EXCEEDED (no test measures how long a call took). */
const tc_call_opts kHangGuard = {.timeout_ms = 120000};

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int have_node(void) {
  if (access(TC_SOURCE_DIR "/tests/peers/node_modules/@grpc/grpc-js/package.json", R_OK) ||
      access(TC_SOURCE_DIR "/tests/peers/node_modules/@grpc/proto-loader/package.json", R_OK))
    return 0;
  return system("node --version >/dev/null 2>&1") == 0;
}

void start_server(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execlp("node", "node", TC_SOURCE_DIR "/tests/peers/fake_server.mjs", "--socket", g_sock, "--raw-socket", g_raw,
           "--bad-socket", g_bad, (char *)NULL);
    _exit(127);
  }
  g_server = pid;
}

void stop_server(void) {
  if (g_server > 0) {
    kill(g_server, SIGKILL);
    waitpid(g_server, NULL, 0);
  }
  g_server = -1;
}

int group_setup(void **state) {
  g_have_node = have_node();
  if (!g_have_node) return 0;
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(g_dir, sizeof g_dir, "%s/tcjsXXXXXX", tmp);
  if (!mkdtemp(g_dir)) return -1;
  snprintf(g_sock, sizeof g_sock, "%s/grpc.sock", g_dir);
  snprintf(g_raw, sizeof g_raw, "%s/raw.sock", g_dir);
  snprintf(g_bad, sizeof g_bad, "%s/bad.sock", g_dir);
  snprintf(g_bad_target, sizeof g_bad_target, "unix:%s", g_bad);
  snprintf(g_target, sizeof g_target, "unix:%s", g_sock);
  snprintf(g_raw_target, sizeof g_raw_target, "unix://%s", g_raw);
  start_server();
  return 0;
}

int group_teardown(void **state) {
  if (!g_have_node) return 0;
  stop_server();
  unlink(g_sock);
  unlink(g_raw);
  unlink(g_bad);
  rmdir(g_dir);
  return 0;
}

tc_client *client(void) {
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(g_target, NULL, &c), TC_OK);
  return c;
}

/* A handle whose first backoff is past any deadline: a retriable failure ends the call at once with
 * DEADLINE_EXCEEDED naming that failure as the last error, however fast or slow the machine is. */
tc_client *one_attempt_client(const char *target) {
  tc_options o;
  tc_options_init(&o);
  o.backoff_initial_ms = o.backoff_max_ms = INT64_C(1) << 40;
  o.backoff_jitter = 0;
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(target, &o, &c), TC_OK);
  return c;
}

int64_t i64_at(const uint8_t *p, size_t i) {
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

tc_permutation_info *train_test(tc_client *c) {
  static const double ratios[] = {0.7, 0.3};
  static const char *const names[] = {"train", "test"};
  tc_permutation_spec spec = {.table = "numbers",
                              .split = TC_SPLIT_SEQUENTIAL,
                              .n_ratios = 2,
                              .ratios = ratios,
                              .n_split_names = 2,
                              .split_names = names};
  tc_permutation_info *p = NULL;
  CHECK(c, tc_create_permutation(c, &spec, &kSlowStart, &p), TC_OK);
  return p;
}

/* Reads a whole stream; checks rows are consecutive values of x from first, offsets continue. */
int64_t drain(tc_client *c, tc_stream *s, int64_t first_x, int64_t x_step, int64_t first_offset, int64_t *batches) {
  int64_t rows = 0, next_offset = first_offset;
  tc_batch *b;
  *batches = 0;
  for (;;) {
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    if (!b) break;
    assert_int_equal(b->offset, next_offset);
    for (int64_t i = 0; i < b->num_rows; i++)
      assert_int_equal(i64_at(b->columns[0].values, (size_t)i), first_x + (rows + i) * x_step);
    rows += b->num_rows;
    next_offset += b->num_rows;
    (*batches)++;
    tc_batch_free(b);
  }
  CHECK(c, tc_stream_next(s, &b), TC_OK); /* still the end */
  assert_null(b);
  return rows;
}
