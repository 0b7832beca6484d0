/* arrow_writer.h: the project's own Arrow IPC writer, for test fixtures and the example table.
 *
 * It writes the schema and arrays described with the reader's own structs (arrow_file.h), so a test builds
 * arrays by hand, writes them, reads them back with at_file_* and compares. It is written from the Arrow
 * columnar spec, independently of the reader; tests also read files made by apache-arrow and polars.
 */
#ifndef TC_ARROW_WRITER_H
#define TC_ARROW_WRITER_H

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
 * Returns 0, or -1 with errno set. */
int aw_write(const char *path, const aw_options *opt, const at_schema *schema, size_t n_batches,
             const int64_t *batch_rows, const at_array *const *batches);

#endif
