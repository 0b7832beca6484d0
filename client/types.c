/* The type list's names and widths, and the library's version: all generated from the public header. */
#include <string.h>

#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* The header's list and the protocol's enum must agree: a type added to one and not the other fails here. */
#define TC_XX(sym, code, name, width) \
  _Static_assert(TABLECAR__V1__TYPE_ID__TYPE_##sym == code, "TC_TYPE_MAP and tablecar.v1.TypeId differ: " #sym);
TC_TYPE_MAP(TC_XX)
#undef TC_XX

const char *tc_type_name(int type) {
  switch (type) {
#define TC_XX(sym, code, name, width) \
  case code: return name;
    TC_TYPE_MAP(TC_XX)
#undef TC_XX
  default: return NULL;
  }
}

int tc_type_fixed_width(int type) {
  switch (type) {
#define TC_XX(sym, code, name, width) \
  case code: return width;
    TC_TYPE_MAP(TC_XX)
#undef TC_XX
  default: return 0;
  }
}

#define TC_STR_(x) #x
#define TC_STR(x) TC_STR_(x)

unsigned int tc_version(void) {
  return (unsigned)TC_VERSION_MAJOR << 16 | (unsigned)TC_VERSION_MINOR << 8 | (unsigned)TC_VERSION_PATCH;
}

const char *tc_version_string(void) {
  return TC_STR(TC_VERSION_MAJOR) "." TC_STR(TC_VERSION_MINOR) "." TC_STR(TC_VERSION_PATCH);
}

size_t tc_abi_sizeof(const char *name) {
#define TC_STRUCT(t) {#t, sizeof(t)}
  static const struct {
    const char *name;
    size_t size;
  } structs[] = {
      TC_STRUCT(tc_options),       TC_STRUCT(tc_call_opts),        TC_STRUCT(tc_kv),
      TC_STRUCT(tc_field),         TC_STRUCT(tc_schema),           TC_STRUCT(tc_column),
      TC_STRUCT(tc_batch),         TC_STRUCT(tc_table_info),       TC_STRUCT(tc_table_list),
      TC_STRUCT(tc_take_rows_req), TC_STRUCT(tc_permutation_spec), TC_STRUCT(tc_split_info),
      TC_STRUCT(tc_permutation_info), TC_STRUCT(tc_read_batch_req), TC_STRUCT(tc_stream_req),
  };
#undef TC_STRUCT
  for (size_t i = 0; name && i < sizeof structs / sizeof *structs; i++)
    if (!strcmp(name, structs[i].name)) return structs[i].size;
  return 0;
}
