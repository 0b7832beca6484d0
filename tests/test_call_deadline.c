/* Unit tests for server/call_deadline.c: the deadline of the call a thread serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "call_deadline.h"

static void test_no_call_gives_the_timeout(void **state) {
  ts_call_deadline_set(0);
  int by_call = -1;
  int64_t before = ts_mono_ms(), d = ts_call_deadline_within(5000, &by_call), after = ts_mono_ms();
  assert_int_equal(by_call, 0);
  assert_true(d >= before + 5000 && d <= after + 5000);
  assert_int_equal(ts_call_deadline(), 0);
}

static void test_the_earlier_one_wins(void **state) {
  int64_t now = ts_mono_ms();
  int by_call = -1;
  ts_call_deadline_set(now + 1000);
  assert_int_equal(ts_call_deadline_within(3600 * 1000, &by_call), now + 1000);
  assert_int_equal(by_call, 1);
  ts_call_deadline_set(now + 3600 * 1000); /* a call with a longer deadline than the timeout */
  assert_true(ts_call_deadline_within(1000, &by_call) < now + 3600 * 1000);
  assert_int_equal(by_call, 0);
  ts_call_deadline_set(now - 1); /* passed already: still the call's */
  assert_int_equal(ts_call_deadline_within(1000, NULL), now - 1);
  ts_call_deadline_set(-5); /* none */
  assert_int_equal(ts_call_deadline(), 0);
}

static void *other_thread(void *arg) {
  *(int64_t *)arg = ts_call_deadline();
  return NULL;
}

static void test_per_thread(void **state) {
  ts_call_deadline_set(ts_mono_ms() + 1000);
  int64_t seen = -1;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, other_thread, &seen), 0);
  pthread_join(t, NULL);
  assert_int_equal(seen, 0); /* a background thread serves no call */
  assert_true(ts_call_deadline() > 0);
  ts_call_deadline_set(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_call_gives_the_timeout),
      cmocka_unit_test(test_the_earlier_one_wins),
      cmocka_unit_test(test_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
