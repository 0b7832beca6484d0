/* tablecar-server's --state-dir (server/perms.c, server/statefile.c), as a real process: every permutation
 * acknowledged to a client survives a SIGKILL during a storm of CreatePermutation calls, and a truncated,
 * corrupt or stray file in the state directory is skipped with a log line naming it, never a failed start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "server_proc.h"
#include "tablecar.h"

#ifndef TC_SERVER_BIN
#error TC_SERVER_BIN must be defined
#endif

enum { ROWS = 100, THREADS = 4, MIN_ACKED = 200, MAX_ACKED = 100000 };

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

static tc_permutation_spec spec_of(uint64_t seed) {
  return (tc_permutation_spec){.table = "example", .shuffle = 1, .shuffle_seed = seed};
}

static sp_server *new_server(void) {
  sp_server *s = sp_new();
  assert_non_null(s);
  fx_table t;
  char path[300];
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  aw_options opt = {.format = AW_FILE};
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, ROWS, 32), 0);
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  fx_table_free(&t);
  return s;
}

static void start(sp_server *s) {
  static const char *const extra[] = {"--log-level", "info", NULL};
  if (sp_start(s, TC_SERVER_BIN, 0, extra)) fail_msg("the server did not start");
}

/* ---- a storm of CreatePermutation calls, SIGKILL, restart ---- */

typedef struct storm {
  const char *target;
  pthread_mutex_t lock;
  uint64_t seeds[MAX_ACKED];
  char ids[MAX_ACKED][40];
  atomic_long acked;
  atomic_int stop;
} storm;

typedef struct worker {
  storm *st;
  int k;
} worker;

/* Creates permutations with seeds of its own until a call fails (the server was killed); records each one
 * the server acknowledged. */
static void *create_loop(void *p) {
  worker *w = p;
  storm *st = w->st;
  tc_client *c;
  if (tc_client_new(st->target, NULL, &c)) return NULL;
  for (uint64_t i = 0; !atomic_load(&st->stop); i++) {
    uint64_t seed = (uint64_t)(w->k / 2) << 32 | i; /* pairs of workers race to create the same ids */
    tc_permutation_spec spec = spec_of(seed);
    tc_permutation_info *info;
    if (tc_create_permutation(c, &spec, &(tc_call_opts){.timeout_ms = 120000, .no_retry = 1}, &info) != TC_OK) break;
    pthread_mutex_lock(&st->lock);
    long n = atomic_load(&st->acked);
    if (n < MAX_ACKED) {
      st->seeds[n] = seed;
      snprintf(st->ids[n], sizeof st->ids[n], "%s", info->id);
      atomic_store(&st->acked, n + 1);
    }
    pthread_mutex_unlock(&st->lock);
    tc_permutation_info_free(info);
  }
  tc_client_free(c);
  return NULL;
}

static void test_sigkill_during_create_storm(void **state) {
  sp_server *s = new_server();
  start(s);
  storm *st = calloc(1, sizeof *st);
  assert_non_null(st);
  st->target = s->target;
  pthread_mutex_init(&st->lock, NULL);
  pthread_t th[THREADS];
  worker w[THREADS];
  for (int k = 0; k < THREADS; k++) {
    w[k] = (worker){st, k};
    assert_int_equal(pthread_create(&th[k], NULL, create_loop, &w[k]), 0);
  }
  /* the kill lands while calls are in flight: the workers never pause */
  for (double t0 = sp_now(); atomic_load(&st->acked) < MIN_ACKED && sp_now() - t0 < 300;) sp_sleep_ms(1);
  sp_kill(s);
  atomic_store(&st->stop, 1);
  for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
  long acked = atomic_load(&st->acked);
  print_message("%ld permutations acknowledged before SIGKILL\n", acked);
  assert_true(acked >= MIN_ACKED);

  start(s);
  tc_client *c;
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  for (long i = 0; i < acked; i++) {
    tc_permutation_info *info;
    CHECK(c, tc_describe_permutation(c, st->ids[i], NULL, &info), TC_OK);
    assert_string_equal(info->id, st->ids[i]);
    assert_int_equal(info->n_splits, 1);
    assert_int_equal(info->splits[0].num_rows, ROWS);
    tc_permutation_info_free(info);
    /* and it reads, in the order of a permutation made afresh from the same spec */
    if (i % 16 == 0) {
      tc_read_batch_req r = {.permutation = st->ids[i], .split = "0", .batch_size = ROWS};
      tc_batch *b;
      CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
      assert_int_equal(b->num_rows, ROWS);
      tc_permutation_spec spec = spec_of(st->seeds[i]);
      CHECK(c, tc_create_permutation(c, &spec, NULL, &info), TC_OK);
      assert_string_equal(info->id, st->ids[i]);
      tc_permutation_info_free(info);
      tc_batch_free(b);
    }
  }
  tc_client_free(c);
  assert_int_equal(sp_stop(s), 0);
  assert_false(sp_log_has(s, "state_file_skipped")); /* a crash never leaves half a record */
  pthread_mutex_destroy(&st->lock);
  free(st);
  sp_free(s);
}

/* ---- bad files in the state directory ---- */

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void test_bad_state_files_are_skipped(void **state) {
  sp_server *s = new_server();
  start(s);
  tc_client *c;
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  tc_permutation_spec spec = spec_of(1), spec2 = spec_of(2);
  tc_permutation_info *p1, *p2;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p1), TC_OK);
  CHECK(c, tc_create_permutation(c, &spec2, NULL, &p2), TC_OK);
  tc_client_free(c);
  assert_int_equal(sp_stop(s), 0);

  char path[600], junk[600], stray[600], temp[600];
  /* p1's record cut short (as a crash of a server without fsync could leave it) */
  snprintf(path, sizeof path, "%s/permutations/%s", s->state, p1->id);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(truncate(path, sb.st_size - 3), 0);
  snprintf(junk, sizeof junk, "%s/permutations/0123456789abcdef0123456789abcdef", s->state);
  write_file(junk, "not a record", 12);
  snprintf(stray, sizeof stray, "%s/permutations/notes.txt", s->state);
  write_file(stray, "hello\n", 6);
  snprintf(temp, sizeof temp, "%s/permutations/%s.tmp.Ab12Cd", s->state, p2->id);
  write_file(temp, "half", 4);

  start(s); /* starts: bad files never fail it */
  assert_true(sp_log_has(s, "state_file_skipped"));
  assert_true(sp_log_has(s, path));
  assert_true(sp_log_has(s, junk));
  assert_true(sp_log_has(s, stray));
  assert_int_equal(access(temp, F_OK), -1); /* a crash's leftover is removed */
  assert_int_equal(errno, ENOENT);
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  tc_permutation_info *d;
  CHECK(c, tc_describe_permutation(c, p1->id, NULL, &d), TC_EDATA_LOSS);
  assert_non_null(strstr(tc_last_error(c), p1->id));
  CHECK(c, tc_describe_permutation(c, "0123456789abcdef0123456789abcdef", NULL, &d), TC_EDATA_LOSS);
  CHECK(c, tc_describe_permutation(c, p2->id, NULL, &d), TC_OK); /* the good one is untouched */
  tc_permutation_info_free(d);
  /* created again: the same id, saved anew */
  CHECK(c, tc_create_permutation(c, &spec, NULL, &d), TC_OK);
  assert_string_equal(d->id, p1->id);
  tc_permutation_info_free(d);
  tc_client_free(c);
  assert_int_equal(sp_stop(s), 0);
  start(s);
  assert_int_equal(tc_client_new(s->target, NULL, &c), TC_OK);
  CHECK(c, tc_describe_permutation(c, p1->id, NULL, &d), TC_OK);
  assert_int_equal(d->splits[0].num_rows, ROWS);
  tc_permutation_info_free(d);
  tc_client_free(c);
  assert_int_equal(sp_stop(s), 0);
  tc_permutation_info_free(p1);
  tc_permutation_info_free(p2);
  sp_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkill_during_create_storm),
      cmocka_unit_test(test_bad_state_files_are_skipped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
