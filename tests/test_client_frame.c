/* libtablecar: gRPC message framing and grpc-timeout (client/grpc_frame.c), deadlines and backoff
 * (client/call.c), and the connection's wait for input (client/h2.c) against a socket that never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static size_t frame(uint8_t *out, const char *msg, uint8_t flag) {
  size_t n = strlen(msg);
  tc__grpc_prefix(out, n);
  out[0] = flag;
  memcpy(out + 5, msg, n);
  return 5 + n;
}

static void expect(tc__msgq *q, const char *s) {
  tc__msg *m = tc__msgq_pop(q);
  assert_non_null(m);
  assert_int_equal(m->len, strlen(s));
  assert_memory_equal(m->data, s, m->len);
  assert_int_equal((uintptr_t)m->data % 16, 0);
  free(m);
}

static void test_prefix(void **state) {
  uint8_t p[5];
  tc__grpc_prefix(p, 0x01020304);
  uint8_t want[5] = {0, 1, 2, 3, 4};
  assert_memory_equal(p, want, 5);
}

static void test_one_chunk(void **state) {
  uint8_t buf[64];
  size_t n = frame(buf, "hello", 0);
  n += frame(buf + n, "", 0);
  n += frame(buf + n, "world!", 0);
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 100);
  assert_int_equal(tc__deframe(&d, buf, n, &q), TC_OK);
  assert_int_equal(q.count, 3);
  assert_false(tc__deframer_partial(&d));
  expect(&q, "hello");
  expect(&q, "");
  expect(&q, "world!");
  assert_null(tc__msgq_pop(&q));
  tc__deframer_free(&d);
}

static void test_byte_by_byte(void **state) {
  uint8_t buf[64];
  size_t n = frame(buf, "abc", 0);
  n += frame(buf + n, "defgh", 0);
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 100);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(tc__deframe(&d, buf + i, 1, &q), TC_OK);
    if (i == 2) assert_true(tc__deframer_partial(&d));
  }
  assert_int_equal(q.count, 2);
  expect(&q, "abc");
  expect(&q, "defgh");
  tc__deframer_free(&d);
}

static void test_partial_freed(void **state) {
  uint8_t buf[64];
  size_t n = frame(buf, "abcdef", 0);
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 100);
  assert_int_equal(tc__deframe(&d, buf, n - 2, &q), TC_OK);
  assert_true(tc__deframer_partial(&d));
  assert_int_equal(q.count, 0);
  tc__deframer_free(&d); /* ASan checks the partial message is freed */
  tc__msgq_free(&q);
}

static void test_too_large(void **state) {
  uint8_t buf[64];
  size_t n = frame(buf, "0123456789", 0);
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 9);
  assert_int_equal(tc__deframe(&d, buf, n, &q), TC_ERESOURCE_EXHAUSTED);
  assert_int_equal(d.bad_len, 10);
  tc__deframer_free(&d);
  /* exactly the limit is fine */
  tc__deframer_init(&d, 10);
  assert_int_equal(tc__deframe(&d, buf, n, &q), TC_OK);
  expect(&q, "0123456789");
  tc__deframer_free(&d);
  /* a 4 GiB - 1 length is refused before any allocation */
  uint8_t huge[5] = {0, 0xff, 0xff, 0xff, 0xff};
  tc__deframer_init(&d, (size_t)256 << 20);
  assert_int_equal(tc__deframe(&d, huge, 5, &q), TC_ERESOURCE_EXHAUSTED);
  tc__deframer_free(&d);
}

static void test_compressed(void **state) {
  uint8_t buf[64];
  size_t n = frame(buf, "x", 1);
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 100);
  assert_int_equal(tc__deframe(&d, buf, n, &q), TC_EPROTO);
  tc__deframer_free(&d);
}

static void check_timeout(int64_t ms, const char *want) {
  char out[16];
  size_t n = tc__grpc_timeout(ms, out);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_timeout(void **state) {
  check_timeout(1, "1m");
  check_timeout(0, "1m");
  check_timeout(-5, "1m");
  check_timeout(30000, "30000m");
  check_timeout(99999999, "99999999m");
  check_timeout(100000000, "100000S");
  check_timeout(100000001, "100001S"); /* rounded up: the server must not give up first */
  check_timeout(INT64_C(99999999) * 1000 + 1, "1666667M");
  check_timeout(INT64_MAX, "99999999H");
}

/* A timeout too far to represent is no deadline, not one in the past (tc__now_ms() + INT64_MAX wraps). */
static void test_deadline_saturates(void **state) {
  assert_int_equal(tc__deadline(-1), TC__NO_DEADLINE);
  assert_int_equal(tc__deadline(INT64_MAX), TC__NO_DEADLINE);
  assert_int_equal(tc__deadline(INT64_MAX - 1), TC__NO_DEADLINE);
  int64_t now = tc__now_ms(), d = tc__deadline(1000);
  assert_true(d >= now + 1000 && d < now + 2000);
  d = tc__deadline(INT64_MAX / 2);
  assert_true(d > now && d != TC__NO_DEADLINE);
  /* a backoff delay past the deadline (however large the options make it) gives up without sleeping */
  tc_client *cl;
  tc_options o;
  tc_options_init(&o);
  o.backoff_initial_ms = o.backoff_max_ms = INT64_MAX;
  assert_int_equal(tc_client_new("unix:/nonexistent", &o, &cl), TC_OK);
  assert_int_equal(tc__backoff_sleep(cl, 0, tc__deadline(1000)), -1);
  assert_int_equal(tc__backoff_sleep(cl, 5, tc__deadline(INT64_MAX / 2)), -1);
  tc_client_free(cl);
}

/* The connection's descriptor closed under it: poll says POLLNVAL at once, for ever. The connection fails
 * (the call sees it lost) instead of spinning until the deadline. */
static void test_poll_closed_fd(void **state) {
  char dir[] = "/tmp/tcframeXXXXXX";
  assert_non_null(mkdtemp(dir));
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s/s", dir);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(l >= 0);
  assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(l, 4), 0); /* never accepted: connects, and nothing ever answers */
  char target[128];
  snprintf(target, sizeof target, "unix:%s", a.sun_path);
  tc_client *cl;
  assert_int_equal(tc_client_new(target, NULL, &cl), TC_OK);
  assert_int_equal(tc__conn_ensure(cl, tc__now_ms() + 120000), TC_OK);
  tc__call c;
  tc__call_init(&c, cl);
  c.unary = 1;
  c.sid = 1; /* a stream that never answers */
  c.gen = cl->conn.gen;
  /* the connection preface goes out, then the wait times out */
  assert_int_equal(tc__call_wait(&c, tc__now_ms() + 20, 0), TC_EDEADLINE_EXCEEDED);
  close(cl->conn.fd);
  /* a deadline only a hang reaches: waiting for it would show as DEADLINE_EXCEEDED */
  assert_int_equal(tc__call_wait(&c, tc__now_ms() + 120000, 0), TC_EUNAVAILABLE);
  assert_true(c.lost);
  assert_non_null(strstr(tc_last_error(cl), "(poll)"));
  assert_int_equal(cl->conn.fd, -1);
  tc__call_end(&c);
  tc_client_free(cl);
  close(l);
  unlink(a.sun_path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prefix),         cmocka_unit_test(test_one_chunk),
      cmocka_unit_test(test_byte_by_byte),   cmocka_unit_test(test_partial_freed),
      cmocka_unit_test(test_too_large),      cmocka_unit_test(test_compressed),
      cmocka_unit_test(test_timeout),        cmocka_unit_test(test_deadline_saturates),
      cmocka_unit_test(test_poll_closed_fd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
