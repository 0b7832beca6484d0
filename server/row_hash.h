/* row_hash.h: the hash of each row over some columns, for hash splits (HashSplit in the proto). */
#ifndef TC_ROW_HASH_H
#define TC_ROW_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "table.h"

/* Each row's hash over columns COLS, into out[num_rows]: FNV-1a 64 over each value's presence byte and its
 * bytes (bool: one byte 0 or 1), then SplitMix64's finalizer. INVALID_ARGUMENT for a column whose type
 * cannot be hashed (lists, structs). */
tc_status tc_row_hashes(tc_table *t, const size_t *cols, size_t n_cols, uint64_t *out, tc_error *err);

#endif
