/* libtablecar: target parsing and connecting (client/target.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static void parse_ok(const char *s, int kind, const char *path_or_host, const char *port, const char *auth) {
  tc__target t;
  char err[256] = "";
  assert_int_equal(tc__target_parse(s, &t, err, sizeof err), TC_OK);
  assert_int_equal(t.kind, kind);
  if (kind == TC__TARGET_TCP) {
    assert_string_equal(t.host, path_or_host);
    assert_string_equal(t.port, port);
  } else {
    assert_string_equal(t.path, path_or_host);
    assert_int_equal(t.path_len, strlen(path_or_host));
  }
  assert_string_equal(t.authority, auth);
}

static void parse_bad(const char *s) {
  tc__target t;
  char err[256] = "";
  assert_int_equal(tc__target_parse(s, &t, err, sizeof err), TC_EINVAL);
  assert_non_null(strstr(err, "bad target"));
}

static void test_unix(void **state) {
  parse_ok("unix:/tmp/tc.sock", TC__TARGET_UNIX, "/tmp/tc.sock", NULL, "localhost");
  parse_ok("unix:///tmp/tc.sock", TC__TARGET_UNIX, "/tmp/tc.sock", NULL, "localhost");
  parse_ok("unix:rel/tc.sock", TC__TARGET_UNIX, "rel/tc.sock", NULL, "localhost");
  parse_ok("unix-abstract:tablecar", TC__TARGET_ABSTRACT, "tablecar", NULL, "localhost");
  parse_bad("unix:");
  parse_bad("unix://host/tc.sock");
  parse_bad("unix-abstract:");
  char longp[200];
  memset(longp, 'a', sizeof longp);
  memcpy(longp, "unix:/", 6);
  longp[sizeof longp - 1] = '\0';
  parse_bad(longp);
}

static void test_tcp(void **state) {
  parse_ok("localhost:50051", TC__TARGET_TCP, "localhost", "50051", "localhost:50051");
  parse_ok("127.0.0.1:1", TC__TARGET_TCP, "127.0.0.1", "1", "127.0.0.1:1");
  parse_ok("[::1]:8080", TC__TARGET_TCP, "::1", "8080", "[::1]:8080");
  parse_ok("dns:///example.com:443", TC__TARGET_TCP, "example.com", "443", "example.com:443");
  parse_ok("dns://8.8.8.8/example.com:443", TC__TARGET_TCP, "example.com", "443", "example.com:443");
  parse_ok("dns:example.com:65535", TC__TARGET_TCP, "example.com", "65535", "example.com:65535");
  parse_ok("ipv4:10.0.0.1:7", TC__TARGET_TCP, "10.0.0.1", "7", "10.0.0.1:7");
  parse_ok("ipv6:[fe80::1]:7", TC__TARGET_TCP, "fe80::1", "7", "[fe80::1]:7");
  parse_bad("localhost");
  parse_bad("localhost:");
  parse_bad("localhost:0");
  parse_bad("localhost:65536");
  parse_bad("localhost:12a");
  parse_bad(":80");
  parse_bad("::1:80");
  parse_bad("[::1]80");
  parse_bad("[::1");
  parse_bad("ipv4:1.2.3.4:5,1.2.3.5:5");
  parse_bad("");
}

static void test_client_new(void **state) {
  tc_client *c = NULL;
  assert_int_equal(tc_client_new("nonsense", NULL, &c), TC_EINVAL);
  assert_null(c);
  /* The reason outlives the handle that was never made: tc_last_error(NULL), i.e. tc_last_error(c). */
  assert_string_equal(tc_last_error(c), "bad target \"nonsense\": expected HOST:PORT, unix:PATH or unix-abstract:NAME");
  assert_int_equal(tc_client_new(NULL, NULL, &c), TC_EINVAL);
  assert_non_null(strstr(tc_last_error(NULL), "NULL"));
  assert_int_equal(tc_client_new("unix:/x", NULL, NULL), TC_EINVAL);
  assert_string_equal(tc_last_error(NULL), "tc_client_new: out is NULL");
  tc_options o;
  tc_options_init(&o);
  o.stream_window_bytes = 10; /* below the HTTP/2 minimum */
  assert_int_equal(tc_client_new("unix:/x", &o, &c), TC_EINVAL);
  assert_string_equal(tc_last_error(NULL), "bad options: stream_window_bytes is not 65535 .. 2^31-1");
  tc_options_init(&o);
  o.backoff_jitter = 1.5;
  assert_int_equal(tc_client_new("unix:/x", &o, &c), TC_EINVAL);
  assert_string_equal(tc_last_error(NULL), "bad options: backoff_jitter is not in [0, 1)");
  tc_options_init(&o);
  o.authority = "sidecar";
  assert_int_equal(tc_client_new("unix:/x", &o, &c), TC_OK);
  assert_string_equal(tc_last_error(c), "");
  assert_string_equal(tc_last_error(NULL), ""); /* a success clears the thread's reason */
  tc_client_free(c);
  tc_client_free(NULL);
}

static void *new_in_thread(void *arg) {
  tc_client *c;
  int rc = tc_client_new(arg, NULL, &c);
  return rc == TC_EINVAL && strstr(tc_last_error(NULL), arg) ? (void *)1 : NULL;
}

/* Each thread has its own reason: another thread's failure neither replaces nor clears this one's. */
static void test_client_new_threads(void **state) {
  tc_client *c;
  assert_int_equal(tc_client_new("bad-in-main", NULL, &c), TC_EINVAL);
  pthread_t th;
  void *ok = NULL;
  assert_int_equal(pthread_create(&th, NULL, new_in_thread, "bad-in-thread"), 0);
  assert_int_equal(pthread_join(th, &ok), 0);
  assert_non_null(ok);
  assert_non_null(strstr(tc_last_error(NULL), "\"bad-in-main\""));
}

static void test_connect_missing_unix(void **state) {
  tc__target t;
  char err[256];
  assert_int_equal(tc__target_parse("unix:/nonexistent/dir/tc.sock", &t, err, sizeof err), TC_OK);
  int fd;
  assert_int_equal(tc__target_connect(&t, tc__deadline(1000), &fd, err, sizeof err), TC__ECONNECT_RETRY);
  assert_int_equal(fd, -1);
  assert_non_null(strstr(err, "/nonexistent/dir/tc.sock"));
}

static void test_connect_abstract(void **state) {
  char name[64];
  snprintf(name, sizeof name, "tc-test-%d", (int)getpid());
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path + 1, name, strlen(name));
  assert_int_equal(
      bind(ls, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))), 0);
  assert_int_equal(listen(ls, 4), 0);
  char target[80], err[256];
  snprintf(target, sizeof target, "unix-abstract:%s", name);
  tc__target t;
  assert_int_equal(tc__target_parse(target, &t, err, sizeof err), TC_OK);
  int fd;
  assert_int_equal(tc__target_connect(&t, tc__deadline(1000), &fd, err, sizeof err), TC_OK);
  assert_true(fd >= 0);
  close(fd);
  close(ls);
  /* nobody listens now */
  assert_int_equal(tc__target_connect(&t, tc__deadline(1000), &fd, err, sizeof err), TC__ECONNECT_RETRY);
}

static void test_connect_tcp(void **state) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 4), 0);
  socklen_t len = sizeof sa;
  getsockname(ls, (struct sockaddr *)&sa, &len);
  char target[64], err[256];
  snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(sa.sin_port));
  tc__target t;
  assert_int_equal(tc__target_parse(target, &t, err, sizeof err), TC_OK);
  int fd;
  assert_int_equal(tc__target_connect(&t, tc__deadline(1000), &fd, err, sizeof err), TC_OK);
  close(fd);
  close(ls);
  assert_int_equal(tc__target_connect(&t, tc__deadline(1000), &fd, err, sizeof err), TC__ECONNECT_RETRY);
  assert_non_null(strstr(err, "refused"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unix),
      cmocka_unit_test(test_tcp),
      cmocka_unit_test(test_client_new),
      cmocka_unit_test(test_client_new_threads),
      cmocka_unit_test(test_connect_missing_unix),
      cmocka_unit_test(test_connect_abstract),
      cmocka_unit_test(test_connect_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
