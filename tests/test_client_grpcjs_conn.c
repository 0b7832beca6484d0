/* libtablecar against an independent gRPC server (tests/peers/fake_server.mjs, @grpc/grpc-js, a real process on
 * a temporary Unix socket, plus its raw node:http2 socket for HTTP/2-level answers and a socket that breaks
 * HTTP/2): deadlines, HTTP/2 answers, connection errors, a server restart, fork() and a call rate. The RPCs
 * themselves are in test_client_grpcjs.c; the server process and helpers both use in
 * tests/support/grpcjs_testutil.c. */
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

/* ---- tests ---- */

static void test_deadline(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  tc_read_batch_req r = {.permutation = "perm-slow", .split = "0", .batch_size = 1};
  tc_batch *b = NULL;
  double t0 = now_s();
  CHECK(c, tc_read_batch(c, &r, &(tc_call_opts){.timeout_ms = 300}, &b), TC_EDEADLINE_EXCEEDED);
  double dt = now_s() - t0;
  assert_true(dt >= 0.29); /* never early; late only by how busy the machine is (perm-slow never answers) */
  assert_null(b);
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK); /* the connection survived */

  /* the handle's default deadline */
  tc_client *c2;
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 200;
  assert_int_equal(tc_client_new(g_target, &o, &c2), TC_OK);
  CHECK(c2, tc_read_batch(c2, &r, NULL, &b), TC_EDEADLINE_EXCEEDED);
  tc_client_free(c2);

  /* a stream: the deadline bounds each wait, and the stream stays usable */
  tc_stream_req sr = {.permutation = "perm-slow", .split = "0", .batch_size = 5};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, &(tc_call_opts){.timeout_ms = 300}, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_EDEADLINE_EXCEEDED);
  tc_stream_free(s);
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);

  /* timeouts too far to represent as a deadline are none (they must not wrap into the past) */
  tc_permutation_info *p = train_test(c);
  const int64_t huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    tc_call_opts co = {.timeout_ms = huge[i]};
    CHECK(c, tc_health_check(c, NULL, &co, &st), TC_OK);
    tc_stream_req ok = {.permutation = p->id, .split = "train", .batch_size = 5};
    CHECK(c, tc_stream_batches(c, &ok, &co, &s), TC_OK);
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    assert_non_null(b);
    tc_batch_free(b);
    tc_stream_free(s);
    o.timeout_ms = huge[i];
    assert_int_equal(tc_client_new(g_target, &o, &c2), TC_OK);
    CHECK(c2, tc_health_check(c2, NULL, NULL, &st), TC_OK);
    tc_client_free(c2);
  }
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_raw_http2(void **state) {
  NEED_NODE();
  tc_client *c;
  assert_int_equal(tc_client_new(g_raw_target, NULL, &c), TC_OK);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "ok", &kSlowStart, &t), TC_OK);
  assert_string_equal(t->name, "raw");
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "trailers-only", NULL, &t), TC_ENOT_FOUND);
  assert_string_equal(tc_last_error(c), "gone fishing: \xe2\x9c\x93%zz");
  CHECK(c, tc_describe_table(c, "http-503", &kNoRetry, &t), TC_EUNAVAILABLE);
  assert_string_equal(tc_last_error(c), "HTTP status 503");
  /* retried until the deadline: whether the first answer arrives before a short deadline depends on the
   * machine's speed, so only the status is checked here... */
  CHECK(c, tc_describe_table(c, "http-503", &(tc_call_opts){.timeout_ms = 300}, &t), TC_EDEADLINE_EXCEEDED);
  /* ...and the last error reported is checked with a backoff longer than a long deadline: one attempt gets
   * its 503, then the call gives up without sleeping (at any speed) */
  tc_client *once = one_attempt_client(g_raw_target);
  CHECK(once, tc_describe_table(once, "http-503", &kHangGuard, &t), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(once), "last error: HTTP status 503"));
  tc_client_free(once);
  CHECK(c, tc_describe_table(c, "http-404", NULL, &t), TC_EUNIMPLEMENTED);
  CHECK(c, tc_describe_table(c, "not-grpc", NULL, &t), TC_EUNKNOWN);
  CHECK(c, tc_describe_table(c, "no-status", NULL, &t), TC_EINTERNAL);
  CHECK(c, tc_describe_table(c, "refused", &kNoRetry, &t), TC_EUNAVAILABLE);
  CHECK(c, tc_describe_table(c, "compressed", NULL, &t), TC_EPROTO);
  /* a second message in a unary response fails the call at once (the stream never ends) */
  CHECK(c, tc_describe_table(c, "two-messages", &kHangGuard, &t), TC_EINTERNAL);
  assert_string_equal(tc_last_error(c), "more than one message in the response of a unary call");
  CHECK(c, tc_describe_table(c, "ok", NULL, &t), TC_OK);
  tc_table_info_free(t);

  /* GOAWAY: the stream it covers completes, and the next call goes on a new connection */
  CHECK(c, tc_describe_table(c, "conn-id", NULL, &t), TC_OK);
  char first[32];
  snprintf(first, sizeof first, "%s", t->name);
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "goaway", NULL, &t), TC_OK);
  assert_string_equal(t->name, "raw");
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "conn-id", NULL, &t), TC_OK);
  assert_string_not_equal(t->name, first);
  tc_table_info_free(t);
  /* a stream above GOAWAY's last stream id was not processed: retried on a new connection (once without
   * backoff; then, refused again, reported) */
  CHECK(c, tc_describe_table(c, "goaway-refuse", &kNoRetry, &t), TC_EUNAVAILABLE);
  CHECK(c, tc_describe_table(c, "goaway-refuse", &(tc_call_opts){.timeout_ms = 300}, &t), TC_EDEADLINE_EXCEEDED);
  CHECK(c, tc_describe_table(c, "ok", NULL, &t), TC_OK);
  tc_table_info_free(t);
  tc_client_free(c);
}

/* A connection-level protocol error (WINDOW_UPDATE of 0 on stream 0): nghttp2 ends the session, and the call
 * fails then, not at its deadline; every later call tries a new connection. */
static void test_connection_error(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  tc_client_free(c);
  for (int i = 0; i < 1200 && access(g_bad, F_OK); i++) usleep(100 * 1000); /* listening after the others */
  assert_int_equal(tc_client_new(g_bad_target, NULL, &c), TC_OK);
  for (int i = 0; i < 3; i++) {
    CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 120000, .no_retry = 1}, &st), TC_EUNAVAILABLE);
    assert_non_null(strstr(tc_last_error(c), "GOAWAY sent: PROTOCOL_ERROR"));
  }
  /* retried until the deadline (on a new connection each time, as above) */
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 500}, &st), TC_EDEADLINE_EXCEEDED);
  tc_client_free(c);
  /* the error names the last attempt's failure (one attempt, then a backoff past the deadline) */
  c = one_attempt_client(g_bad_target);
  CHECK(c, tc_health_check(c, NULL, &kHangGuard, &st), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(c), "last error"));
  assert_non_null(strstr(tc_last_error(c), "PROTOCOL_ERROR"));
  tc_client_free(c);
}

static void test_restart(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  stop_server();
  /* down: no_retry fails at once */
  CHECK(c, tc_health_check(c, NULL, &kNoRetry, &st), TC_ECONNECT);
  assert_non_null(strstr(tc_last_error(c), g_sock));
  /* a short deadline while down */
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 200}, &st), TC_EDEADLINE_EXCEEDED);
  tc_client *once = one_attempt_client(g_target);
  CHECK(once, tc_health_check(once, NULL, &kHangGuard, &st), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(once), "last error"));
  tc_client_free(once);
  /* restarting: the call waits for it */
  start_server();
  double t0 = now_s();
  tc_table_info *t;
  CHECK(c, tc_describe_table(c, "people", &kSlowStart, &t), TC_OK);
  print_message("call through a restart took %.2f s\n", now_s() - t0);
  tc_table_info_free(t);
  tc_client_free(c);
}

/* ---- fork ---- */

static int child_calls(tc_client *c, int n) {
  for (int i = 0; i < n; i++) {
    const int64_t idx[] = {i % 10};
    tc_take_rows_req t = {.table = "numbers", .indices = idx, .n_indices = 1};
    tc_batch *b;
    int rc = tc_take_rows(c, &t, NULL, &b);
    if (rc) {
      fprintf(stderr, "pid %d call %d: %s: %s\n", (int)getpid(), i, tc_strerror(rc), tc_last_error(c));
      return 1;
    }
    int bad = b->num_rows != 1 || i64_at(b->columns[0].values, 0) != 100 + i % 10;
    tc_batch_free(b);
    if (bad) return 1;
  }
  return 0;
}

static int wait_all(int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    int ws;
    if (wait(&ws) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) failed++;
  }
  return failed;
}

static void test_fork(void **state) {
  NEED_NODE();
  alarm(120); /* a hang fails the test instead of stalling it */
  tc_client *c = client();
  assert_int_equal(child_calls(c, 1), 0); /* the parent has a connection */
  enum { CHILDREN = 16, CALLS = 200 };
  pid_t kids[CHILDREN];
  for (int k = 0; k < CHILDREN; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) {
      alarm(60);
      int rc = child_calls(c, CALLS);
      /* a grandchild, using the handle after the child did */
      pid_t g = fork();
      if (g == 0) {
        alarm(60);
        int grc = child_calls(c, 20);
        tc_client_free(c);
        _exit(grc);
      }
      int gws;
      waitpid(g, &gws, 0);
      rc |= !(WIFEXITED(gws) && WEXITSTATUS(gws) == 0);
      rc |= child_calls(c, 5); /* and the child again, after its child */
      tc_client_free(c);
      _exit(rc);
    }
  }
  /* the parent keeps calling while they run */
  assert_int_equal(child_calls(c, 100), 0);
  assert_int_equal(wait_all(CHILDREN), 0);
  assert_int_equal(child_calls(c, 50), 0);
  tc_client_free(c);
  alarm(0);
}

static void test_fork_stream(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = NULL;
  tc_permutation_spec spec = {.table = "numbers"};
  CHECK(c, tc_create_permutation(c, &spec, &kSlowStart, &p), TC_OK);
  tc_stream_req r = {.permutation = p->id, .split = "0", .batch_size = 2};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &r, NULL, &s), TC_OK);
  tc_batch *b;
  CHECK(c, tc_stream_next(s, &b), TC_OK);
  assert_int_equal(i64_at(b->columns[0].values, 1), 101);
  tc_batch_free(b);
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    /* the child continues the inherited stream on its own connection */
    alarm(60);
    int64_t rows = 0, x = 102;
    int rc = 0;
    while (!(rc = tc_stream_next(s, &b)) && b) {
      for (int64_t i = 0; i < b->num_rows; i++) rc |= i64_at(b->columns[0].values, (size_t)i) != x++;
      rc |= b->offset != 2 + rows;
      rows += b->num_rows;
      tc_batch_free(b);
    }
    tc_stream_free(s);
    tc_permutation_info_free(p);
    tc_client_free(c);
    _exit(rc || rows != 8);
  }
  int64_t nb;
  assert_int_equal(drain(c, s, 102, 1, 2, &nb), 8);
  assert_int_equal(wait_all(1), 0);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_rate(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = train_test(c);
  tc_read_batch_req r = {.permutation = p->id, .split = "train", .batch_size = 1};
  enum { N = 5000 };
  double t0 = now_s();
  for (int i = 0; i < N; i++) {
    tc_batch *b;
    r.offset = i % 7;
    CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
    tc_batch_free(b);
  }
  double dt = now_s() - t0;
  print_message("%d one-row ReadBatch calls against grpc-js: %.0f calls/s\n", N, N / dt);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* nothing of ours needs it; a dying node must not kill the test */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline), cmocka_unit_test(test_raw_http2), cmocka_unit_test(test_connection_error),
      cmocka_unit_test(test_restart),  cmocka_unit_test(test_fork),      cmocka_unit_test(test_fork_stream),
      cmocka_unit_test(test_rate),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
