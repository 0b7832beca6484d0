/* libtablecar: the generated lists (client/types.c, client/errors.c) against each other, the protocol and the
 * version macros. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* Every type of the protocol is in the header's list under the protocol's name, and nothing else is. */
static void test_types_match_protocol(void **state) {
  const ProtobufCEnumDescriptor *d = &tablecar__v1__type_id__descriptor;
  size_t listed = 0;
/* clang-format off */
#define TC_XX(sym, code, name, width) listed++;
  TC_TYPE_MAP(TC_XX)
#undef TC_XX
  /* clang-format on */
  assert_int_equal(listed, d->n_values);
  for (unsigned i = 0; i < d->n_values; i++) {
    const char *name = tc_type_name(d->values[i].value);
    assert_non_null(name);
    char want[64];
    snprintf(want, sizeof want, "TYPE_%s", name);
    for (char *p = want; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    assert_string_equal(d->values[i].name, want);
  }
}

static void test_type_names_and_widths(void **state) {
  assert_string_equal(tc_type_name(TC_TYPE_INT64), "int64");
  assert_string_equal(tc_type_name(TC_TYPE_FIXED_SIZE_LIST), "fixed_size_list");
  assert_string_equal(tc_type_name(TC_TYPE_NULL), "null");
  assert_null(tc_type_name(-1));
  assert_null(tc_type_name(TC_TYPE_NULL + 1));
  assert_int_equal(tc_type_fixed_width(TC_TYPE_INT8), 1);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_FLOAT16), 2);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_DATE32), 4);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_TIMESTAMP), 8);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_BOOL), 0);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_UTF8), 0);
  assert_int_equal(tc_type_fixed_width(TC_TYPE_FIXED_SIZE_BINARY), 0);
  assert_int_equal(tc_type_fixed_width(1000), 0);
}

/* Names and messages come from one list: gRPC's codes are 1..16 and named as gRPC names them, local
 * errors negative, with their own messages. */
static void test_status_list(void **state) {
  int grpc = 0, local = 0;
/* clang-format off */
#define TC_XX_GRPC(name, code)                   \
  assert_string_equal(tc_strerror(code), #name); \
  assert_string_equal(tc_status_name(code), #name); \
  assert_int_equal(code, ++grpc);
#define TC_XX_LOCAL(name, code, msg)                   \
  assert_string_equal(tc_strerror(code), msg);         \
  assert_string_equal(tc_status_name(code), "E" #name); \
  assert_int_equal(code, --local);
  TC_STATUS_MAP(TC_XX_GRPC, TC_XX_LOCAL)
#undef TC_XX_GRPC
#undef TC_XX_LOCAL
  /* clang-format on */
  assert_int_equal(grpc, 16);
  assert_string_equal(tc_status_name(TC_OK), "OK");
  assert_string_equal(tc_status_name(17), "?");
  assert_string_equal(tc_status_name(local - 1), "?");
}

static void test_version(void **state) {
  assert_int_equal(tc_version(), TC_VERSION_MAJOR << 16 | TC_VERSION_MINOR << 8 | TC_VERSION_PATCH);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", TC_VERSION_MAJOR, TC_VERSION_MINOR, TC_VERSION_PATCH);
  assert_string_equal(tc_version_string(), want);
}

static void test_abi_sizeof(void **state) {
  assert_int_equal(tc_abi_sizeof("tc_batch"), sizeof(tc_batch));
  assert_int_equal(tc_abi_sizeof("tc_field"), sizeof(tc_field));
  assert_int_equal(tc_abi_sizeof("tc_stream_req"), sizeof(tc_stream_req));
  assert_int_equal(tc_abi_sizeof("tc_client"), 0); /* opaque */
  assert_int_equal(tc_abi_sizeof("nope"), 0);
  assert_int_equal(tc_abi_sizeof(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_types_match_protocol), cmocka_unit_test(test_type_names_and_widths),
      cmocka_unit_test(test_status_list),          cmocka_unit_test(test_version),
      cmocka_unit_test(test_abi_sizeof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
