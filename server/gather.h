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

/* Where ts_gather_into writes a batch's buffers: SIZE bytes at BASE (a client's shared-memory slot). */
typedef struct ts_gather_dest {
  uint8_t *base;
  size_t size;
  int overflow; /* out: the batch did not fit (then nothing useful was written, and no error is set) */
} ts_gather_dest;

/* ts_gather, with every buffer (row ids, validity, offsets, values) written at 64-byte aligned places of
 * DEST instead of into the message: the Batch has shm set and spans (Array.*_at, Batch.row_ids_at) where
 * the bytes would be. A batch larger than DEST returns TC_ERESOURCE_EXHAUSTED with dest->overflow set. */
ts_status ts_gather_into(ts_table *t, const int64_t *rows, size_t n_rows, const size_t *cols, size_t n_cols,
                         ts_gather_dest *dest, Tablecar__V1__Batch **out, ts_error *err);

#endif
