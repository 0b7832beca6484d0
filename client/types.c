/* The type list's names and widths, and the library's version: all generated from the public header. */
#include <string.h>

#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* The header's list and the protocol's enum must agree: a type added to one and not the other fails here. */
/* clang-format off */
#define TC_XX(sym, code, name, width) \
  _Static_assert(TABLECAR__V1__TYPE_ID__TYPE_##sym == code, "TC_TYPE_MAP and tablecar.v1.TypeId differ: " #sym);
TC_TYPE_MAP(TC_XX)
#undef TC_XX
/* clang-format on */

const char *tc_type_name(int type) {
  switch (type) {
/* clang-format off */
#define TC_XX(sym, code, name, width) \
  case code: return name;
    TC_TYPE_MAP(TC_XX)
#undef TC_XX
    /* clang-format on */
  default: return NULL;
  }
}

int tc_type_fixed_width(int type) {
  switch (type) {
/* clang-format off */
#define TC_XX(sym, code, name, width) \
  case code: return width;
    TC_TYPE_MAP(TC_XX)
#undef TC_XX
    /* clang-format on */
  default: return 0;
  }
}

#define TC__STR_(x) #x
#define TC__STR(x) TC__STR_(x)

unsigned int tc_version(void) {
  return (unsigned)TC_VERSION_MAJOR << 16 | (unsigned)TC_VERSION_MINOR << 8 | (unsigned)TC_VERSION_PATCH;
}

const char *tc_version_string(void) {
  return TC__STR(TC_VERSION_MAJOR) "." TC__STR(TC_VERSION_MINOR) "." TC__STR(TC_VERSION_PATCH);
}

size_t tc_abi_sizeof(const char *name) {
#define TC__STRUCT(t)                                                                                                  \
  { #t, sizeof(t) }
  static const struct {
    const char *name;
    size_t size;
  } structs[] = {
      TC__STRUCT(tc_options),
      TC__STRUCT(tc_call_opts),
      TC__STRUCT(tc_kv),
      TC__STRUCT(tc_field),
      TC__STRUCT(tc_schema),
      TC__STRUCT(tc_column),
      TC__STRUCT(tc_batch),
      TC__STRUCT(tc_table_info),
      TC__STRUCT(tc_table_list),
      TC__STRUCT(tc_take_rows_req),
      TC__STRUCT(tc_permutation_spec),
      TC__STRUCT(tc_split_info),
      TC__STRUCT(tc_permutation_info),
      TC__STRUCT(tc_read_batch_req),
      TC__STRUCT(tc_stream_req),
  };
#undef TC__STRUCT
  for (size_t i = 0; name && i < sizeof structs / sizeof *structs; i++)
    if (!strcmp(name, structs[i].name)) return structs[i].size;
  return 0;
}
