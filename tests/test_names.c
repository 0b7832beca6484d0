/* Unit tests for server/names.c: what a request may name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "names.h"

static ts_status table(const char *name) {
  ts_error err = {0};
  ts_status st = ts_name_check_table(name, &err);
  if (st != TC_OK) assert_true(strlen(err.msg) > 0);
  return st;
}

static void test_good_table_names(void **state) {
  assert_int_equal(table("example"), TC_OK);
  assert_int_equal(table("squad/train"), TC_OK);
  assert_int_equal(table("a.b-c_d/e f/g"), TC_OK);
  assert_int_equal(table("d\xc3\xa9j\xc3\xa0"), TC_OK); /* UTF-8 */
  assert_int_equal(table("x..y"), TC_OK);               /* dots inside a component are fine */
}

static void test_escaping_names_rejected(void **state) {
  const char *bad[] = {"../x", "..", ".",       "a/../b", "a/./b", "/etc/passwd", "a//b",
                       "a/",   "",   ".hidden", "a/.git", "a\\b",  "tab\there",   "nl\n"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ts_status st = table(bad[i]);
    if (st != TC_EINVALID_ARGUMENT) fail_msg("'%s' was not rejected", bad[i]);
  }
  char long_name[TS_NAME_MAX + 2];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_int_equal(table(long_name), TC_EINVALID_ARGUMENT);
  long_name[TS_NAME_MAX] = '\0';
  assert_int_equal(table(long_name), TC_OK);
}

static void test_utf8(void **state) {
  assert_true(ts_utf8_valid("plain", 5));
  assert_true(ts_utf8_valid("\xe2\x82\xac", 3));     /* euro sign */
  assert_true(ts_utf8_valid("\xf0\x9f\x98\x80", 4)); /* emoji */
  assert_false(ts_utf8_valid("\xff\xfe", 2));
  assert_false(ts_utf8_valid("\xc3", 1));             /* truncated */
  assert_false(ts_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
  assert_false(ts_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
  assert_false(ts_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  assert_false(ts_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
  assert_false(ts_utf8_valid("\x80", 1));             /* lone continuation */
  assert_int_equal(table("bad\xff"), TC_EINVALID_ARGUMENT);
}

static void test_plain_names(void **state) {
  ts_error err = {0};
  assert_int_equal(ts_name_check_plain("column", "a/b ../c", &err), TC_OK); /* never a path */
  assert_int_equal(ts_name_check_plain("column", "", &err), TC_EINVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "column"));
  assert_int_equal(ts_name_check_plain("split", "\xc3\x28", &err), TC_EINVALID_ARGUMENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_table_names),
      cmocka_unit_test(test_escaping_names_rejected),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_plain_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
