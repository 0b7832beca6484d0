/* libtablecar against the real tablecar-server, the process side: deadlines against a stopped (SIGSTOP)
 * server, fork storms (with grandchildren, and with another thread inside a call), a server killed and
 * restarted under the client. The calls themselves are in test_client_server.c; the server processes and
 * checks both use are in tests/support/client_server_util.c.
 *
 * The group writes its tables into a temporary directory, starts a server on a Unix socket there, and
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

#include "client_server_util.h"
#include "fixtures.h"
#include "tablecar.h"

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

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_stopped),
      cmocka_unit_test(test_fork_storm),
      cmocka_unit_test(test_fork_with_thread),
      cmocka_unit_test(test_restart),
  };
  return cmocka_run_group_tests_name("client_fork", tests, setup_main, group_teardown);
}
