/* table.h: one table, the Arrow files of one name, as a single sequence of rows 0..num_rows-1.
 *
 * A table is immutable once opened: when its files change the catalog opens a new ts_table with a new
 * version, and calls that hold the old one finish on it (the old mapping stays valid when files are
 * replaced by rename, as every Arrow writer does). Reference-counted; thread-safe.
 */
#ifndef TS_TABLE_H
#define TS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "arrow_file.h"
#include "cache.h"
#include "status.h"

typedef struct ts_table ts_table;

/* How a data dir's files are opened and versioned when they are not plain local files: a remote data dir's
 * (remote.h) are read on demand and versioned by their objects' ETags and sizes. NULL: local files. */
typedef struct ts_table_io {
  /* Facts that change when the file at PATH changes (and only then): 0, or -1 when it cannot be read. */
  int (*facts)(void *arg, const char *path, int64_t fact[5]);
  /* Opens PATH as at_file_open does; returns 0, -1 (not valid Arrow) or a status (its bytes not to be had). */
  int (*open)(void *arg, const char *path, at_file **out, char *err, size_t errlen);
  void *arg;
} ts_table_io;

/* Opens the table NAME of FILES (paths relative to DATA_DIR, in row order). All files must have the same
 * schema. The version is derived from each file's path, size, mtime and inode. Errors are DATA_LOSS or
 * FAILED_PRECONDITION with a message naming the file. */
ts_status ts_table_open(const char *name, const char *data_dir, char *const *files, size_t n_files, ts_cache *cache,
                        ts_table **out, ts_error *err);
/* The same through IO; a file whose bytes cannot be fetched gives the fetch's status (UNAVAILABLE...). */
ts_status ts_table_open_io(const ts_table_io *io, const char *name, const char *data_dir, char *const *files,
                           size_t n_files, ts_cache *cache, ts_table **out, ts_error *err);
void ts_table_ref(ts_table *t);
void ts_table_unref(ts_table *t);

const char *ts_table_name(const ts_table *t);
const char *ts_table_version(const ts_table *t);
const at_schema *ts_table_schema(const ts_table *t);
int64_t ts_table_num_rows(const ts_table *t);
size_t ts_table_num_files(const ts_table *t);
const char *ts_table_file(const ts_table *t, size_t i);
int64_t ts_table_num_bytes(const ts_table *t);

/* Version string of FILES as ts_table_open would compute it (stat only, no reading): the catalog's cheap
 * change check. Writes 33 bytes (32 hex digits + NUL) into out; -1 if a file cannot be stat'ed. */
int ts_table_files_version(const char *data_dir, char *const *files, size_t n_files, char out[33]);
int ts_table_files_version_io(const ts_table_io *io, const char *data_dir, char *const *files, size_t n_files,
                              char out[33]);

/* A pinned record batch of the table: rows [first_row, end_row) of the table. */
typedef struct ts_batch_pin {
  const at_batch *batch;
  int64_t first_row, end_row;
  ts_cache_entry *entry; /* NULL for batches that are views into the file mapping */
  at_batch *view;        /* a view of a remote file, read for this pin and freed by unpin (its lease) */
} ts_batch_pin;

int64_t ts_table_num_batches(const ts_table *t);
/* Index of the batch that holds ROW (0 <= row < num_rows). */
int64_t ts_table_batch_of(const ts_table *t, int64_t row);
/* Pins batch B (decoding it, or taking it from the cache). DATA_LOSS naming the file if it is corrupt. */
ts_status ts_table_pin(ts_table *t, int64_t b, ts_batch_pin *out, ts_error *err);
/* Starts fetching, in the background, the batches that hold ROWS[0..n) (remote files, whose bytes are
 * fetched on demand; a no-op for local ones). Never blocks on the network. */
void ts_table_prefetch_rows(ts_table *t, const int64_t *rows, size_t n);
/* Nonzero when some files of T are read on demand (a remote data dir). */
int ts_table_is_remote(const ts_table *t);
void ts_table_unpin(ts_table *t, ts_batch_pin *pin);

#endif
