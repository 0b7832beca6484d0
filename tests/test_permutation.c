/* Unit tests for server/permutation.c: determinism, splits, hash stability, clumps, spec validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hash.h"
#include "permutation.h"

static ts_perm *build(const ts_perm_spec *s, int64_t n, const uint64_t *hashes) {
  char err[256] = "";
  ts_perm *p = NULL;
  int rc = ts_perm_build(s, n, hashes, &p, err, sizeof err);
  if (rc != 0) fail_msg("ts_perm_build: %s", err);
  return p;
}

static int build_fails(const ts_perm_spec *s, int64_t n) {
  char err[256] = "";
  ts_perm *p = NULL;
  int rc = ts_perm_build(s, n, NULL, &p, err, sizeof err);
  if (rc == 0)
    ts_perm_free(p);
  else
    assert_true(err[0] != '\0'); /* every rejection says why */
  return rc != 0;
}

/* FNV-1a over every position of every split: a fingerprint of the whole permutation. */
static uint64_t fingerprint(const ts_perm *p) {
  uint64_t h = TS_FNV64_OFFSET;
  for (size_t s = 0; s < ts_perm_num_splits(p); s++)
    for (int64_t i = 0; i < ts_perm_split_len(p, s); i++) {
      int64_t r = ts_perm_row(p, s, i);
      h = ts_fnv1a64(&r, sizeof r, h);
    }
  return h;
}

static void test_same_seed_same_order_across_processes(void **state) {
  ts_perm_spec s = {.shuffle = 1, .shuffle_seed = 1234};
  ts_perm *p = build(&s, 100000, NULL);
  uint64_t here = fingerprint(p);
  int fd[2];
  assert_int_equal(pipe(fd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) { /* a fresh build in another process */
    ts_perm *q = build(&s, 100000, NULL);
    uint64_t there = fingerprint(q);
    _exit(write(fd[1], &there, sizeof there) == sizeof there ? 0 : 1);
  }
  uint64_t there = 0;
  assert_int_equal(read(fd[0], &there, sizeof there), sizeof there);
  int status;
  waitpid(pid, &status, 0);
  close(fd[0]);
  close(fd[1]);
  assert_true(there == here);
  ts_perm_free(p);
}

/* Permutations are persisted by id and must not change between releases: pin one small shuffle. If this
 * fails, the shuffle algorithm changed and every stored permutation id now names a different order. */
static void test_shuffle_is_pinned(void **state) {
  ts_perm_spec s = {.shuffle = 1, .shuffle_seed = 42};
  ts_perm *p = build(&s, 10, NULL);
  const int64_t expect[10] = {8, 3, 6, 5, 4, 0, 9, 2, 1, 7};
  for (int i = 0; i < 10; i++) assert_int_equal(ts_perm_row(p, 0, i), expect[i]);
  ts_perm_free(p);
}

static void test_shuffle_is_a_permutation_and_seed_matters(void **state) {
  enum { N = 5000 };
  ts_perm_spec s = {.shuffle = 1, .shuffle_seed = 7};
  ts_perm *a = build(&s, N, NULL);
  s.shuffle_seed = 8;
  ts_perm *b = build(&s, N, NULL);
  char seen[N] = {0};
  int64_t moved = 0, differ = 0;
  for (int64_t i = 0; i < N; i++) {
    int64_t r = ts_perm_row(a, 0, i);
    assert_true(r >= 0 && r < N);
    assert_int_equal(seen[r], 0);
    seen[r] = 1;
    moved += r != i;
    differ += r != ts_perm_row(b, 0, i);
  }
  assert_true(moved > N / 2);
  assert_true(differ > N / 2);
  ts_perm_free(a);
  ts_perm_free(b);
}

static void test_no_shuffle_keeps_table_order(void **state) {
  ts_perm_spec s = {.split = TC_SPLIT_RANDOM, .ratios = (double[]){0.5, 0.5}, .n_ratios = 2, .split_seed = 3};
  ts_perm *p = build(&s, 1001, NULL);
  for (size_t k = 0; k < 2; k++)
    for (int64_t i = 1; i < ts_perm_split_len(p, k); i++) assert_true(ts_perm_row(p, k, i - 1) < ts_perm_row(p, k, i));
  ts_perm_free(p);
}

/* Every row in exactly one split (or none, where sizes leave rows over); returns rows covered. */
static int64_t check_disjoint(const ts_perm *p, int64_t n) {
  char *seen = calloc((size_t)n, 1);
  int64_t covered = 0;
  for (size_t k = 0; k < ts_perm_num_splits(p); k++)
    for (int64_t i = 0; i < ts_perm_split_len(p, k); i++) {
      int64_t r = ts_perm_row(p, k, i);
      assert_true(r >= 0 && r < n);
      assert_int_equal(seen[r], 0);
      seen[r] = 1;
      covered++;
    }
  free(seen);
  return covered;
}

static void test_random_split_ratios_cover(void **state) {
  ts_perm_spec s = {.shuffle = 1,
                    .shuffle_seed = 9,
                    .split = TC_SPLIT_RANDOM,
                    .ratios = (double[]){0.7, 0.2, 0.1},
                    .n_ratios = 3,
                    .split_seed = 11};
  ts_perm *p = build(&s, 1003, NULL);
  assert_int_equal(ts_perm_num_splits(p), 3);
  assert_int_equal(check_disjoint(p, 1003), 1003);
  assert_int_equal(ts_perm_split_len(p, 0) + ts_perm_split_len(p, 1) + ts_perm_split_len(p, 2), 1003);
  assert_true(ts_perm_split_len(p, 0) >= 702 && ts_perm_split_len(p, 0) <= 703);
  assert_true(ts_perm_split_len(p, 2) >= 100 && ts_perm_split_len(p, 2) <= 101);
  ts_perm_free(p);
}

static void test_random_split_counts_and_leftover(void **state) {
  ts_perm_spec s = {.split = TC_SPLIT_RANDOM, .counts = (int64_t[]){10, 20}, .n_counts = 2, .split_seed = 1};
  ts_perm *p = build(&s, 100, NULL);
  assert_int_equal(ts_perm_split_len(p, 0), 10);
  assert_int_equal(ts_perm_split_len(p, 1), 20);
  assert_int_equal(check_disjoint(p, 100), 30);
  ts_perm_free(p);

  ts_perm_spec r = {.split = TC_SPLIT_RANDOM, .ratios = (double[]){0.25, 0.25}, .n_ratios = 2};
  p = build(&r, 100, NULL);
  assert_int_equal(check_disjoint(p, 100), 50);
  ts_perm_free(p);
}

static void test_fixed_split_equal_parts(void **state) {
  ts_perm_spec s = {.split = TC_SPLIT_RANDOM, .fixed = 4, .split_seed = 5};
  ts_perm *p = build(&s, 10, NULL);
  assert_int_equal(ts_perm_num_splits(p), 4);
  assert_int_equal(ts_perm_split_len(p, 0), 3);
  assert_int_equal(ts_perm_split_len(p, 1), 3);
  assert_int_equal(ts_perm_split_len(p, 2), 2);
  assert_int_equal(ts_perm_split_len(p, 3), 2);
  assert_int_equal(check_disjoint(p, 10), 10);
  ts_perm_free(p);
}

static void test_sequential_split_ranges(void **state) {
  ts_perm_spec s = {
      .shuffle = 1, .shuffle_seed = 2, .split = TC_SPLIT_SEQUENTIAL, .counts = (int64_t[]){30, 70}, .n_counts = 2};
  ts_perm *p = build(&s, 100, NULL);
  for (int64_t i = 0; i < 30; i++) assert_true(ts_perm_row(p, 0, i) < 30);
  for (int64_t i = 0; i < 70; i++) assert_true(ts_perm_row(p, 1, i) >= 30);
  assert_int_equal(check_disjoint(p, 100), 100);
  ts_perm_free(p);
}

static void test_hash_split_stable_under_append(void **state) {
  enum { N = 2000, M = 500 };
  uint64_t *h = malloc((N + M) * sizeof *h);
  for (int64_t i = 0; i < N + M; i++) h[i] = ts_fnv1a64(&i, sizeof i, TS_FNV64_OFFSET);
  ts_perm_spec s = {
      .shuffle = 1, .shuffle_seed = 3, .split = TC_SPLIT_HASH, .weights = (int64_t[]){8, 1, 1}, .n_weights = 3};
  ts_perm *before = build(&s, N, h);
  ts_perm *after = build(&s, N + M, h);
  assert_int_equal(check_disjoint(before, N), N);
  assert_int_equal(check_disjoint(after, N + M), N + M);
  char where[N + M];
  for (size_t k = 0; k < 3; k++)
    for (int64_t i = 0; i < ts_perm_split_len(after, k); i++) where[ts_perm_row(after, k, i)] = (char)k;
  for (size_t k = 0; k < 3; k++)
    for (int64_t i = 0; i < ts_perm_split_len(before, k); i++)
      assert_int_equal(where[ts_perm_row(before, k, i)], (char)k);
  /* The weights are honoured, roughly. */
  assert_true(ts_perm_split_len(before, 0) > N * 7 / 10);
  assert_true(ts_perm_split_len(before, 1) > N / 20);
  ts_perm_free(before);
  ts_perm_free(after);
  free(h);
}

static void test_clump_shuffle_keeps_runs(void **state) {
  enum { N = 1003, K = 10 };
  ts_perm_spec s = {.shuffle = 1, .shuffle_seed = 77, .clump_size = K};
  ts_perm *p = build(&s, N, NULL);
  assert_int_equal(check_disjoint(p, N), N);
  int64_t pos = 0, out_of_place = 0;
  while (pos < N) { /* each clump starts at a multiple of K and runs to its end */
    int64_t first = ts_perm_row(p, 0, pos);
    assert_int_equal(first % K, 0);
    int64_t len = first + K <= N ? K : N - first;
    for (int64_t j = 0; j < len; j++) assert_int_equal(ts_perm_row(p, 0, pos + j), first + j);
    out_of_place += first != pos;
    pos += len;
  }
  assert_true(out_of_place > (N / K) / 2); /* and the clumps were shuffled */
  ts_perm_free(p);
}

/* A hostile but valid-looking spec: a clump longer than the table (n + clump - 1 overflowed). */
static void test_extreme_specs(void **state) {
  ts_perm_spec s = {.shuffle = 1, .shuffle_seed = 1, .clump_size = INT64_MAX};
  ts_perm *p = build(&s, 100, NULL);
  assert_int_equal(check_disjoint(p, 100), 100);
  for (int64_t i = 0; i < 100; i++) /* one clump: the table order */
    assert_int_equal(ts_perm_row(p, 0, i), i);
  ts_perm_free(p);
}

static void test_empty_table(void **state) {
  ts_perm_spec s = {.shuffle = 1, .split = TC_SPLIT_RANDOM, .ratios = (double[]){0.5, 0.5}, .n_ratios = 2};
  ts_perm *p = build(&s, 0, NULL);
  assert_int_equal(ts_perm_split_len(p, 0), 0);
  assert_int_equal(ts_perm_split_len(p, 1), 0);
  ts_perm_free(p);
}

static void test_bad_specs_rejected(void **state) {
  ts_perm_spec s = {.split = TC_SPLIT_RANDOM};
  assert_true(build_fails(&s, 10)); /* no sizes */
  s.ratios = (double[]){0.5, 0.6};
  s.n_ratios = 2;
  assert_true(build_fails(&s, 10)); /* sum > 1 */
  s.ratios = (double[]){1.5};
  s.n_ratios = 1;
  assert_true(build_fails(&s, 10));
  s.ratios = (double[]){0.0 / 0.0};
  assert_true(build_fails(&s, 10)); /* NaN */
  s.ratios = (double[]){0.5};
  s.fixed = 2;
  assert_true(build_fails(&s, 10)); /* two kinds at once */
  ts_perm_spec c = {.split = TC_SPLIT_SEQUENTIAL, .counts = (int64_t[]){5, 6}, .n_counts = 2};
  assert_true(build_fails(&c, 10)); /* counts > rows */
  c.counts = (int64_t[]){-1, 2};
  assert_true(build_fails(&c, 10));
  ts_perm_spec f = {.split = TC_SPLIT_RANDOM, .fixed = -3};
  assert_true(build_fails(&f, 10));
  ts_perm_spec h = {.split = TC_SPLIT_HASH, .weights = (int64_t[]){1, 0}, .n_weights = 2};
  assert_true(build_fails(&h, 10));
  ts_perm_spec k = {.shuffle = 1, .clump_size = -2};
  assert_true(build_fails(&k, 10));
  ts_perm_spec ok = {.split = TC_SPLIT_SEQUENTIAL, .counts = (int64_t[]){4, 6}, .n_counts = 2};
  assert_false(build_fails(&ok, 10));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_same_order_across_processes),
      cmocka_unit_test(test_shuffle_is_pinned),
      cmocka_unit_test(test_shuffle_is_a_permutation_and_seed_matters),
      cmocka_unit_test(test_no_shuffle_keeps_table_order),
      cmocka_unit_test(test_random_split_ratios_cover),
      cmocka_unit_test(test_random_split_counts_and_leftover),
      cmocka_unit_test(test_fixed_split_equal_parts),
      cmocka_unit_test(test_sequential_split_ranges),
      cmocka_unit_test(test_hash_split_stable_under_append),
      cmocka_unit_test(test_clump_shuffle_keeps_runs),
      cmocka_unit_test(test_extreme_specs),
      cmocka_unit_test(test_empty_table),
      cmocka_unit_test(test_bad_specs_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
