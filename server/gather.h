/* gather.h: rows of a table, in any order, into a tablecar.v1.Batch in Arrow's physical layout. */
#ifndef TS_GATHER_H
#define TS_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "table.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* Gathers ROWS (global row ids, each already checked < num_rows) of columns COLS into a new Batch.
 * RESOURCE_EXHAUSTED, before it allocates much, when the batch would be larger than MAX_BYTES; DATA_LOSS
 * for a corrupt batch in a file. Free the result with ts_batch_msg_free. */
ts_status ts_gather(ts_table *t, const int64_t *rows, size_t n_rows, const size_t *cols, size_t n_cols,
                    size_t max_bytes, Tablecar__V1__Batch **out, ts_error *err);
void ts_batch_msg_free(Tablecar__V1__Batch *b);

#endif
