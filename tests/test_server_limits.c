/* tablecar-server's limits (--max-connections, --max-streams, --idle-seconds, --stall-seconds, running out of file
 * descriptors), as a real process on a temporary socket. Every wait is for a condition (a log line, the
 * server's descriptor count, a status), with a long guard that only a hang reaches: nothing here measures
 * how long something took. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fixtures.h"
#include "server_proc.h"
#include "tablecar.h"

#ifndef TC_SERVER_BIN
#error TC_SERVER_BIN must be defined
#endif

enum { ROWS = 4000, GUARD = 120 };

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

/* A server over the example table (ROWS rows, 192-byte images) with FLAGS (NULL-terminated). */
static sp_server *serve(long nofile, const char *const *flags) {
  sp_server *s = sp_new();
  assert_non_null(s);
  fx_table t;
  char path[300];
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  aw_options opt = {.format = AW_FILE};
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, ROWS, 256), 0);
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  fx_table_free(&t);
  const char *argv[32] = {"--log-level", "info", "--drain-seconds", "3600"};
  int n = 4;
  for (int i = 0; flags && flags[i]; i++) argv[n++] = flags[i];
  argv[n] = NULL;
  if (sp_start(s, TC_SERVER_BIN, nofile, argv)) {
    sp_free(s);
    fail_msg("the server did not start");
  }
  return s;
}

/* Stops the server: exit 0 with --drain-seconds 3600 means no call was left holding it up. */
static void stop_clean(sp_server *s) {
  int rc = sp_stop(s);
  if (rc != 0) sp_dump_log(s);
  assert_int_equal(rc, 0);
  sp_free(s);
}

static int wait_log(const sp_server *s, const char *needle) {
  for (double t0 = sp_now(); sp_now() - t0 < GUARD; sp_sleep_ms(10))
    if (sp_log_has(s, needle)) return 1;
  return 0;
}

static char *make_perm(tc_client *c) {
  tc_permutation_spec spec = {.table = "example", .shuffle = 1, .shuffle_seed = 3};
  tc_permutation_info *p;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  char *id = strdup(p->id);
  tc_permutation_info_free(p);
  return id;
}

/* ---- --max-streams: a connection's calls beyond the limit wait; the server never runs more ---- */

static void test_max_streams(void **state) {
  static const char *const flags[] = {"--max-streams", "2", NULL};
  sp_server *s = serve(0, flags);
  tc_options o;
  tc_options_init(&o);
  o.stream_window_bytes = 65535; /* unread streams stay open, held back by flow control */
  tc_client *c;
  assert_int_equal(tc_client_new(s->target, &o, &c), TC_OK);
  char *id = make_perm(c);
  tc_stream_req r = {.permutation = id, .split = "0", .batch_size = 100};
  tc_stream *a, *b, *third;
  tc_batch *batch;
  CHECK(c, tc_stream_batches(c, &r, NULL, &a), TC_OK);
  CHECK(c, tc_stream_batches(c, &r, NULL, &b), TC_OK);
  CHECK(c, tc_stream_next(a, &batch), TC_OK);
  tc_batch_free(batch);
  CHECK(c, tc_stream_next(b, &batch), TC_OK);
  tc_batch_free(batch);
  /* two streams open on the connection: a third gets no answer, however long it waits */
  CHECK(c, tc_stream_batches(c, &r, &(tc_call_opts){.timeout_ms = 300, .no_retry = 1}, &third), TC_OK);
  int rc = tc_stream_next(third, &batch);
  assert_int_equal(rc, TC_EDEADLINE_EXCEEDED);
  tc_stream_free(third);
  /* one ends: the next stream runs */
  tc_stream_free(a);
  CHECK(c, tc_stream_batches(c, &r, NULL, &third), TC_OK);
  CHECK(c, tc_stream_next(third, &batch), TC_OK);
  assert_int_equal(batch->num_rows, 100);
  tc_batch_free(batch);
  tc_stream_free(third);
  tc_stream_free(b);
  tc_client_free(c);
  free(id);
  stop_clean(s);
}

/* ---- --max-connections: more are closed at once; a freed slot is taken again ---- */

/* Calls until one succeeds (each without retries): 0, or -1 at the guard. */
static int call_until_ok(tc_client *c) {
  int st;
  for (double t0 = sp_now(); sp_now() - t0 < GUARD; sp_sleep_ms(10))
    if (tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = GUARD * 1000, .no_retry = 1}, &st) == TC_OK) return 0;
  return -1;
}

static void test_max_connections(void **state) {
  static const char *const flags[] = {"--max-connections", "2", NULL};
  sp_server *s = serve(0, flags);
  tc_client *c[3];
  for (int i = 0; i < 3; i++) assert_int_equal(tc_client_new(s->target, NULL, &c[i]), TC_OK);
  /* (the start-up check's connection may still be counted until the server has seen it close) */
  assert_int_equal(call_until_ok(c[0]), 0);
  assert_int_equal(call_until_ok(c[1]), 0);
  int st, rc = tc_health_check(c[2], NULL, &(tc_call_opts){.timeout_ms = GUARD * 1000, .no_retry = 1}, &st);
  if (rc == TC_OK) fail_msg("a third connection was served with --max-connections 2");
  assert_true(wait_log(s, "connection_refused"));
  /* the first two still work, on their connections */
  CHECK(c[0], tc_health_check(c[0], NULL, NULL, &st), TC_OK);
  CHECK(c[1], tc_health_check(c[1], NULL, NULL, &st), TC_OK);
  tc_client_free(c[0]); /* its connection closes: the third gets its place */
  assert_int_equal(call_until_ok(c[2]), 0);
  tc_client_free(c[1]);
  tc_client_free(c[2]);
  stop_clean(s);
}

/* ---- --idle-seconds: a connection without calls is closed; the client reconnects ---- */

static int raw_connect(const char *path);

/* Reads (and drops) what the server sends until it closes the connection: 1, or 0 at the guard. */
static int wait_closed(int fd) {
  char buf[4096];
  for (double t0 = sp_now(); sp_now() - t0 < GUARD;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 1;
  }
  return 0;
}

static void test_idle_connection_closed(void **state) {
  static const char *const flags[] = {"--idle-seconds", "0.5", NULL};
  sp_server *s = serve(0, flags);
  /* a client that speaks HTTP/2 (preface, SETTINGS) and then nothing */
  int fd = raw_connect(s->sock);
  assert_true(fd >= 0);
  static const char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
  assert_int_equal(write(fd, hello, sizeof hello - 1), (ssize_t)(sizeof hello - 1));
  assert_true(wait_closed(fd));
  close(fd);
  /* a client that made a call and went idle (libtablecar does not read the socket between calls): its
   * next call works, on a new connection */
  tc_client *c;
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  int st;
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  tc_client_free(c);
  stop_clean(s);
}

/* ---- --stall-seconds: a stream nobody reads is cancelled and frees its batches ---- */

static void test_stalled_stream_cancelled(void **state) {
  static const char *const flags[] = {"--stall-seconds", "0.5", NULL};
  sp_server *s = serve(0, flags);
  tc_options o;
  tc_options_init(&o);
  o.stream_window_bytes = 65535;
  tc_client *c;
  assert_int_equal(tc_client_new(s->target, &o, &c), TC_OK);
  char *id = make_perm(c);
  tc_read_batch_req all = {.permutation = id, .split = "0", .batch_size = ROWS};
  tc_batch *ref;
  CHECK(c, tc_read_batch(c, &all, NULL, &ref), TC_OK);
  tc_stream_req r = {.permutation = id, .split = "0", .batch_size = 50};
  tc_stream *st;
  tc_batch *b;
  CHECK(c, tc_stream_batches(c, &r, NULL, &st), TC_OK);
  CHECK(c, tc_stream_next(st, &b), TC_OK);
  int64_t got = b->num_rows;
  tc_batch_free(b);
  /* the reader stops: the server's sends are held back by flow control until it gives up on the call */
  assert_true(wait_log(s, "stream_stalled"));
  /* the call is gone: the server's fds are down to the listener + this connection, and a SIGTERM below
   * with --drain-seconds 3600 exits at once (exit 0, not killed) */
  /* the reader comes back: libtablecar resumes the stream after what it had (UNAVAILABLE is retried) */
  for (;;) {
    CHECK(c, tc_stream_next(st, &b), TC_OK);
    if (!b) break;
    assert_int_equal(b->offset, got);
    for (int64_t i = 0; i < b->num_rows; i++) assert_int_equal(tc_row_id(b, i), tc_row_id(ref, got + i));
    got += b->num_rows;
    tc_batch_free(b);
  }
  assert_int_equal(got, ROWS);
  tc_stream_free(st);
  tc_batch_free(ref);
  tc_client_free(c);
  free(id);
  stop_clean(s);
}

/* ---- out of file descriptors: new connections wait, the server neither dies nor stops accepting ---- */

static int raw_connect(const char *path) {
  if (strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path, path, strlen(path) + 1);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void test_out_of_fds(void **state) {
  enum { HOGS = 64 };
  sp_server *s = serve(0, NULL);
  int base = sp_count_fds(s->pid);
  assert_int_equal(sp_stop(s), 0);
  /* a limit a few descriptors above what it needs idle: the hogs below exhaust it */
  long nofile = base + 8;
  sp_server *t = s;
  static const char *const none[] = {NULL};
  (void)none;
  t->pid = -1;
  const char *argv[] = {"--log-level", "info", "--drain-seconds", "3600", NULL};
  if (sp_start(t, TC_SERVER_BIN, nofile, argv)) {
    sp_dump_log(t);
    fail_msg("the server did not start with RLIMIT_NOFILE %ld", nofile);
  }
  int hogs[HOGS], n = 0;
  for (int i = 0; i < HOGS; i++)
    if ((hogs[i] = raw_connect(t->sock)) >= 0) n++;
  print_message("%d connections held against RLIMIT_NOFILE %ld\n", n, nofile);
  /* the server has accepted all it can, and said so */
  assert_true(wait_log(t, "accept_paused"));
  assert_false(sp_log_has(t, "Failed accept4")); /* gRPC's listener, which never accepts again after it */
  /* a call meanwhile cannot get through (its connection waits in the backlog, or fails) */
  tc_client *c;
  assert_int_equal(tc_client_new(t->target, NULL, &c), TC_OK);
  int st;
  int rc = tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 300}, &st);
  assert_true(rc == TC_EDEADLINE_EXCEEDED || rc == TC_EUNAVAILABLE || rc == TC_ECONNECT);
  /* the hogs go: the server accepts again, and serves */
  for (int i = 0; i < HOGS; i++)
    if (hogs[i] >= 0) close(hogs[i]);
  tc_client_free(c);
  assert_int_equal(tc_client_new(t->target, NULL, &c), TC_OK);
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = GUARD * 1000}, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  tc_client_free(c);
  stop_clean(t);
}

/* The same for the shared-memory side socket (PATH.shm), accepted on the loop's thread: out of descriptors
 * it pauses (a log line) instead of spinning on a listening socket that stays readable, and attaches again
 * once descriptors are back. */
static void test_side_socket_out_of_fds(void **state) {
  enum { HOGS = 32 }; /* within the side socket's backlog (64): a connect never blocks */
  sp_server *s = serve(0, NULL);
  int base = sp_count_fds(s->pid);
  assert_int_equal(sp_stop(s), 0);
  const char *argv[] = {"--log-level", "info", "--drain-seconds", "3600", NULL};
  s->pid = -1;
  if (sp_start(s, TC_SERVER_BIN, base + 8, argv)) {
    sp_dump_log(s);
    fail_msg("the server did not start with RLIMIT_NOFILE %ld", (long)base + 8);
  }
  char side[300];
  snprintf(side, sizeof side, "%s%s", s->sock, TC_SHM_SIDE_SUFFIX);
  int hogs[HOGS], n = 0;
  for (int i = 0; i < HOGS; i++)
    if ((hogs[i] = raw_connect(side)) >= 0) n++;
  print_message("%d side connections held against RLIMIT_NOFILE %d\n", n, base + 8);
  assert_true(wait_log(s, "shm_accept_paused"));
  for (int i = 0; i < HOGS; i++)
    if (hogs[i] >= 0) close(hogs[i]);
  /* descriptors are back: a pool attaches (the server accepts on the side socket again) */
  tc_client *c;
  tc_shm_pool *pool;
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  assert_int_equal(tc_shm_pool_new(1 << 20, 2, &pool), TC_OK);
  CHECK(c, tc_shm_attach(pool, c), TC_OK);
  int st;
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = GUARD * 1000}, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  tc_shm_pool_free(pool);
  tc_client_free(c);
  stop_clean(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_max_streams),
      cmocka_unit_test(test_max_connections),
      cmocka_unit_test(test_idle_connection_closed),
      cmocka_unit_test(test_stalled_stream_cancelled),
      cmocka_unit_test(test_out_of_fds),
      cmocka_unit_test(test_side_socket_out_of_fds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
