/* row_hash.h: the hash of each row over some columns, for hash splits (HashSplit in the proto). */
#ifndef TS_ROW_HASH_H
#define TS_ROW_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "table.h"

/* Each row's hash over columns COLS, into out[num_rows]: FNV-1a 64 over each value's presence byte and its
 * bytes (bool: one byte 0 or 1), then SplitMix64's finalizer. INVALID_ARGUMENT for a column whose type
 * cannot be hashed (lists, structs). */
ts_status ts_row_hashes(ts_table *t, const size_t *cols, size_t n_cols, uint64_t *out, ts_error *err);

#endif
