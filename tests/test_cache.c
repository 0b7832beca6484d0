/* Unit tests for server/cache.c: the byte budget, LRU order, pins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include "cache.h"

static int destroyed;

static void destroy(void *p) {
  destroyed++;
  free(p);
}

static void *value(int v) {
  int *p = malloc(sizeof *p);
  *p = v;
  return p;
}

static void put_release(ts_cache *c, const void *owner, uint64_t k, size_t bytes) {
  ts_cache_entry *pin;
  assert_non_null(ts_cache_put(c, owner, k, value((int)k), bytes, destroy, &pin));
  ts_cache_release(c, pin);
}

static void test_lru_eviction_within_budget(void **state) {
  destroyed = 0;
  ts_cache *c = ts_cache_new(300);
  int owner;
  for (uint64_t k = 0; k < 3; k++) put_release(c, &owner, k, 100);
  ts_cache_entry *pin;
  int *v = ts_cache_get(c, &owner, 0, &pin); /* 0 becomes the most recent */
  assert_non_null(v);
  assert_int_equal(*v, 0);
  ts_cache_release(c, pin);
  put_release(c, &owner, 3, 100); /* evicts 1, the least recent */
  assert_null(ts_cache_get(c, &owner, 1, &pin));
  assert_non_null(ts_cache_get(c, &owner, 0, &pin));
  ts_cache_release(c, pin);
  ts_cache_stats st;
  ts_cache_get_stats(c, &st);
  assert_true(st.bytes <= 300);
  assert_int_equal(st.evictions, 1);
  assert_int_equal(destroyed, 1);
  ts_cache_free(c);
  assert_int_equal(destroyed, 4);
}

static void test_pinned_entries_survive(void **state) {
  destroyed = 0;
  ts_cache *c = ts_cache_new(100);
  int owner;
  ts_cache_entry *pin;
  assert_non_null(ts_cache_put(c, &owner, 1, value(1), 100, destroy, &pin));
  put_release(c, &owner, 2, 100); /* over budget: 2 goes, 1 is pinned */
  ts_cache_entry *p2;
  assert_null(ts_cache_get(c, &owner, 2, &p2));
  ts_cache_entry *again;
  assert_non_null(ts_cache_get(c, &owner, 1, &again));
  ts_cache_release(c, again);
  ts_cache_release(c, pin);
  ts_cache_free(c);
}

static void test_put_race_keeps_first(void **state) {
  destroyed = 0;
  ts_cache *c = ts_cache_new(1000);
  int owner;
  ts_cache_entry *a, *b;
  int *first = ts_cache_put(c, &owner, 7, value(1), 10, destroy, &a);
  int *second = ts_cache_put(c, &owner, 7, value(2), 10, destroy, &b);
  assert_ptr_equal(first, second);
  assert_int_equal(*second, 1);
  assert_int_equal(destroyed, 1); /* the loser's value */
  ts_cache_release(c, a);
  ts_cache_release(c, b);
  ts_cache_free(c);
}

static void test_drop_owner(void **state) {
  ts_cache *c = ts_cache_new(1 << 20);
  int x, y;
  for (uint64_t k = 0; k < 5000; k++) { /* also grows the hash table */
    put_release(c, &x, k, 1);
    put_release(c, &y, k, 1);
  }
  ts_cache_drop_owner(c, &x);
  ts_cache_entry *pin;
  assert_null(ts_cache_get(c, &x, 10, &pin));
  assert_non_null(ts_cache_get(c, &y, 4999, &pin));
  ts_cache_release(c, pin);
  ts_cache_stats st;
  ts_cache_get_stats(c, &st);
  assert_int_equal(st.entries, 5000);
  ts_cache_free(c);
}

static void *hammer(void *arg) {
  ts_cache *c = arg;
  static int owner;
  for (uint64_t i = 0; i < 20000; i++) {
    ts_cache_entry *pin;
    uint64_t k = (i * 2654435761u) % 64;
    int *v = ts_cache_get(c, &owner, k, &pin);
    if (!v) v = ts_cache_put(c, &owner, k, value((int)k), 16, destroy, &pin);
    if (!v || *v != (int)k) return (void *)1;
    ts_cache_release(c, pin);
  }
  return NULL;
}

static void test_threads(void **state) {
  ts_cache *c = ts_cache_new(16 * 32); /* half the keys fit: constant eviction */
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, c);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert_null(r);
  }
  ts_cache_stats st;
  ts_cache_get_stats(c, &st);
  assert_true(st.bytes <= 16 * 32);
  ts_cache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lru_eviction_within_budget),
      cmocka_unit_test(test_pinned_entries_survive),
      cmocka_unit_test(test_put_race_keeps_first),
      cmocka_unit_test(test_drop_owner),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
