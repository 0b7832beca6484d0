/* arrow_writer.h: the project's own Arrow IPC writer, for test fixtures and the example table.
 *
 * It writes the schema and arrays described with the reader's own structs (arrow_file.h), so a test builds
 * arrays by hand, writes them, reads them back with at_file_* and compares. It is written from the Arrow
 * columnar spec, independently of the reader; tests also read files made by apache-arrow and polars.
 */
#ifndef TS_ARROW_WRITER_H
#define TS_ARROW_WRITER_H

#include "arrow_file.h"

enum aw_format { AW_FILE = 0, AW_STREAM = 1 };
enum aw_codec { AW_NONE = 0, AW_LZ4 = 1, AW_ZSTD = 2 };

typedef struct aw_options {
  enum aw_format format;
  enum aw_codec codec;
  /* With a codec: store buffers smaller than this uncompressed, with length prefix -1 (as Arrow C++ and
   * polars do when compression does not pay). 0: compress every buffer. */
  int64_t min_compress_bytes;
} aw_options;

/* Writes SCHEMA and N_BATCHES record batches to PATH. batches[i] holds schema->n_fields arrays, each of
 * length batch_rows[i], in the layout of at_array (validity may be NULL; child arrays as in Arrow).
 * Metadata: an at_kv length of 0 with a non-empty string means strlen. Fields flagged dictionary_encoded are
 * written plain (the writer emits no dictionaries). Arrays that do not fit their field (missing bitmap with
 * nulls, values_len too short, child counts or lengths wrong) fail with EINVAL; a failed write removes PATH.
 * Returns 0, or -1 with errno set. */
int aw_write(const char *path, const aw_options *opt, const at_schema *schema, size_t n_batches,
             const int64_t *batch_rows, const at_array *const *batches);

/* The same, one batch at a time, for tables too big to hold in memory at once. aw_open writes the schema;
 * aw_write_batch one record batch of ROWS rows (COLUMNS: schema->n_fields arrays); aw_close writes the
 * end-of-stream marker or the footer and frees the writer. A failed aw_write_batch makes aw_close fail;
 * whenever aw_close fails, or on aw_abort, the file is removed. SCHEMA must outlive the writer.
 * aw_open returns NULL, and the others -1, with errno set. */
typedef struct aw_writer aw_writer;
aw_writer *aw_open(const char *path, const aw_options *opt, const at_schema *schema);
int aw_write_batch(aw_writer *w, int64_t rows, const at_array *columns);
int aw_close(aw_writer *w);
void aw_abort(aw_writer *w);

#endif
