/* names.h: validation of the names that requests carry (tables, columns, splits, permutation ids). */
#ifndef TS_NAMES_H
#define TS_NAMES_H

#include <stddef.h>

#include "status.h"

#define TS_NAME_MAX 1024

/* Nonzero when the LEN bytes at S are valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
int ts_utf8_valid(const char *s, size_t len);

/* A table name: 1..TS_NAME_MAX bytes of UTF-8 without control characters, components separated by single
 * '/', none of them '.' or '..' or starting with '.', no leading or trailing '/'. So a name can never leave
 * the data dir. INVALID_ARGUMENT naming WHAT ("table", ...) otherwise. */
ts_status ts_name_check_table(const char *name, ts_error *err);

/* Any other name (column, split): 1..TS_NAME_MAX bytes of UTF-8. */
ts_status ts_name_check_plain(const char *what, const char *name, ts_error *err);

#endif
