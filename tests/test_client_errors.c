/* libtablecar: status names, grpc-message percent-decoding, HTTP and HTTP/2 error mapping (client/errors.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "internal.h"

static void decode(const char *in, const char *want) {
  char out[128];
  size_t n = tc__percent_decode(in, strlen(in), out, sizeof out);
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_percent(void **state) {
  decode("", "");
  decode("plain", "plain");
  decode("a%20b", "a b");
  decode("%E2%9C%93 ok", "\xe2\x9c\x93 ok");
  decode("%e2%9c%93", "\xe2\x9c\x93");
  decode("100%", "100%");
  decode("%4", "%4");
  decode("%zz%2", "%zz%2");
  decode("%25", "%");
  decode("%2541", "%41"); /* decoded once only */
}

static void test_percent_truncated(void **state) {
  char out[4];
  size_t n = tc__percent_decode("a%20bcdef", 9, out, sizeof out);
  assert_int_equal(n, 7);
  assert_string_equal(out, "a b");
  /* no room at all: nothing written, length still reported */
  assert_int_equal(tc__percent_decode("abc", 3, out, 0), 3);
}

static void test_strerror(void **state) {
  for (int s = -5; s <= 17; s++) assert_non_null(tc_strerror(s));
  assert_string_equal(tc_strerror(TC_OK), "OK");
  assert_string_equal(tc_strerror(TC_ENOT_FOUND), "NOT_FOUND");
  assert_string_equal(tc_strerror(TC_EUNAUTHENTICATED), "UNAUTHENTICATED");
  assert_string_equal(tc_strerror(TC_ENOMEM), "out of memory");
  assert_string_equal(tc_strerror(12345), "unknown status");
  assert_string_equal(tc_status_name(TC_EDEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
  assert_string_equal(tc_status_name(TC_ECONNECT), "ECONNECT");
}

static void test_http_mapping(void **state) {
  assert_int_equal(tc__http_to_grpc(400), TC_EINTERNAL);
  assert_int_equal(tc__http_to_grpc(401), TC_EUNAUTHENTICATED);
  assert_int_equal(tc__http_to_grpc(403), TC_EPERMISSION_DENIED);
  assert_int_equal(tc__http_to_grpc(404), TC_EUNIMPLEMENTED);
  assert_int_equal(tc__http_to_grpc(429), TC_EUNAVAILABLE);
  assert_int_equal(tc__http_to_grpc(502), TC_EUNAVAILABLE);
  assert_int_equal(tc__http_to_grpc(503), TC_EUNAVAILABLE);
  assert_int_equal(tc__http_to_grpc(504), TC_EUNAVAILABLE);
  assert_int_equal(tc__http_to_grpc(500), TC_EUNKNOWN);
  assert_int_equal(tc__http_to_grpc(302), TC_EUNKNOWN);
}

static void test_h2_mapping(void **state) {
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_REFUSED_STREAM), TC_EUNAVAILABLE);
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_CANCEL), TC_ECANCELLED);
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_ENHANCE_YOUR_CALM), TC_ERESOURCE_EXHAUSTED);
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_INADEQUATE_SECURITY), TC_EPERMISSION_DENIED);
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_PROTOCOL_ERROR), TC_EINTERNAL);
  assert_int_equal(tc__h2_error_to_grpc(NGHTTP2_INTERNAL_ERROR), TC_EINTERNAL);
}

static void test_retriable(void **state) {
  assert_true(tc__is_retriable(TC_EUNAVAILABLE));
  assert_true(tc__is_retriable(TC__ECONNECT_RETRY));
  assert_false(tc__is_retriable(TC_ECONNECT));
  assert_false(tc__is_retriable(TC_EDEADLINE_EXCEEDED));
  assert_false(tc__is_retriable(TC_ENOT_FOUND));
  assert_false(tc__is_retriable(TC_EINTERNAL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percent),      cmocka_unit_test(test_percent_truncated), cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_http_mapping), cmocka_unit_test(test_h2_mapping),        cmocka_unit_test(test_retriable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
