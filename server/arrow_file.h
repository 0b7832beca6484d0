/* arrow_file.h: reads one Arrow IPC file, in the file format (ARROW1 magic + footer) or the stream format.
 *
 * The reader never trusts the file: every flatbuffer offset, buffer range, node length, offset array and
 * child count is checked before use, and a corrupt or truncated file gives an error message that names the
 * file (and the field, where there is one), never a crash.
 *
 * Files are memory-mapped and uncompressed record batches are views into the mapping. A file whose bytes
 * are not all local yet (a remote object cached on demand, remote.h) is opened with an at_source: the
 * reader then asks the source for each range before it reads it (the footer and the blocks' metadata at
 * open, a batch's body when the batch is read), per block, never per row, and tells it (at_source.done)
 * when a batch body is no longer pointed into. Batches with
 * LZ4_FRAME or ZSTD buffers, or with dictionary-encoded columns, are decoded into memory owned by the
 * returned at_batch (the caller caches them; see cache.h).
 */
#ifndef TS_ARROW_FILE_H
#define TS_ARROW_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tablecar.h"

/* Logical types the server understands: TC_TYPE_MAP of the public header, whose numbers are the proto's
 * tablecar.v1.TypeId. */
typedef enum at_type {
/* clang-format off */
#define AT_XX(sym, code, name, width) AT_##sym = code,
  TC_TYPE_MAP(AT_XX)
#undef AT_XX
  /* clang-format on */
} at_type;

typedef struct at_kv {
  char *key; /* NUL-terminated copies; may contain any bytes but NUL */
  char *value;
  size_t key_len, value_len; /* exact lengths (metadata values may hold NUL bytes) */
} at_kv;

typedef struct at_field {
  char *name;
  at_type type;
  int nullable;
  int32_t byte_width;     /* AT_FIXED_SIZE_BINARY */
  int32_t list_size;      /* AT_FIXED_SIZE_LIST */
  int time_unit;          /* AT_TIMESTAMP: 0 s, 1 ms, 2 us, 3 ns */
  char *timezone;         /* AT_TIMESTAMP: NULL when naive */
  int dictionary_encoded; /* served decoded; `type` is the dictionary's value type */
  size_t n_children;      /* lists: 1 (the item field); struct: its fields */
  struct at_field *children;
  size_t n_meta;
  at_kv *meta;
} at_field;

typedef struct at_schema {
  size_t n_fields;
  at_field *fields;
  size_t n_meta;
  at_kv *meta;
} at_schema;

/* One array of a record batch, in Arrow's physical layout, always starting at logical offset 0.
 * Buffers point into the file mapping or into memory owned by the at_batch. */
typedef struct at_array {
  int64_t length;
  int64_t null_count;
  const uint8_t *validity; /* NULL when null_count == 0, and for AT_NULL (all null) */
  const uint8_t *offsets;  /* int32 or int64 (LARGE_*), length + 1 entries, checked monotone and in range */
  const uint8_t *values;   /* fixed-width values or string bytes; NULL for list/struct */
  int64_t values_len;      /* bytes available at `values` */
  size_t n_children;
  struct at_array *children;
} at_array;

typedef struct at_batch {
  int64_t length;
  size_t n_columns; /* == schema n_fields */
  at_array *columns;
  size_t owned_bytes; /* heap bytes this batch holds (0 for pure views into the mapping); for cache sizing */
  /* private */
  void *priv;
} at_batch;

typedef struct at_file at_file;

typedef struct at_range {
  int64_t off, len;
} at_range;

/* Where the bytes of a mapped file come from when they are not all there yet. */
typedef struct at_source {
  /* Makes the N ranges readable in the file's mapping (they are fetched together, several at once).
   * Returns 0, or a status of tablecar.h (TC_EUNAVAILABLE...) with a message in err. Any thread. */
  int (*need)(void *arg, const at_range *ranges, size_t n, char *err, size_t errlen);
  void (*release)(void *arg); /* at at_file_close; may be NULL */
  /* Starts fetching the N ranges in the background, for a `need` soon; may be NULL. Never blocks. */
  void (*prefetch)(void *arg, const at_range *ranges, size_t n);
  /* Ends the lease of a batch body's `need`: nothing points into those bytes any more, so the source may
   * drop them (and fetch them again when needed). Each successful `need` for a batch body is matched by one
   * `done` with the same ranges: at the end of at_file_read_batch for a batch that owns its memory (which
   * then copies every buffer it keeps), at at_batch_free for a view. What opening needs (footer, metadata,
   * dictionaries) is never done'd: it is held while the file is open. May be NULL. */
  void (*done)(void *arg, const at_range *ranges, size_t n);
  void *arg;
} at_source;

/* Opens and validates the metadata of PATH (schema, batch index, and for the stream format the position of
 * every message). On error returns -1 and writes a message naming PATH into err (errlen bytes). */
int at_file_open(const char *path, at_file **out, char *err, size_t errlen);
/* The same for a file (of its final size, maybe sparse) whose bytes SRC provides on demand; SRC is released
 * by at_file_close, or here on failure. Returns 0, -1 when the file is not valid Arrow, or the source's
 * status when bytes could not be had. */
int at_file_open_source(const char *path, const at_source *src, at_file **out, char *err, size_t errlen);
void at_file_close(at_file *f);

const at_schema *at_file_schema(const at_file *f);
int64_t at_file_num_rows(const at_file *f);
int at_file_num_batches(const at_file *f);
int64_t at_file_batch_rows(const at_file *f, int i);
/* Nonzero when batch i needs decoding (compressed buffers or dictionaries), i.e. is worth caching. */
int at_file_batch_is_owned(const at_file *f, int i);

/* Decodes record batch I: validates its nodes and buffers against the schema, decompresses what is
 * compressed. On success *out must be released with at_batch_free (it may outlive nothing: free it before
 * at_file_close). On error returns -1 with a message naming the file and the field, or the source's status
 * when the body could not be fetched. Thread-safe: several
 * threads may read batches of one at_file at once. */
int at_file_read_batch(const at_file *f, int i, at_batch **out, char *err, size_t errlen);
/* The bytes batch I needs from the file besides its metadata (its body): what a prefetch asks for. */
int at_file_batch_range(const at_file *f, int i, at_range *out);
/* The source of F (NULL for a local file). */
const at_source *at_file_source(const at_file *f);
void at_batch_free(at_batch *b);

/* Two schemas are the same table schema (names, types, nesting; metadata ignored). */
int at_schema_equal(const at_schema *a, const at_schema *b);

/* Fixed bytes per value of a fixed-width type (bool: 0, meaning bit-packed); -1 for variable or nested. */
int at_type_fixed_width(const at_field *f);

/* Reading a batch's arrays: at_file_read_batch checked every length, bitmap and offset, so these do not. */
static inline int at_bit(const uint8_t *bits, int64_t i) { return bits[i >> 3] >> (i & 7) & 1; }

/* Value I is valid: by the bitmap; an array without one has no nulls, unless it is all null (AT_NULL). */
static inline int at_array_valid(const at_array *a, int64_t i) {
  return a->null_count == 0 || (a->validity && at_bit(a->validity, i));
}

/* Types with 64-bit offsets. */
static inline int at_type_is_large(at_type t) {
  return t == AT_LARGE_UTF8 || t == AT_LARGE_BINARY || t == AT_LARGE_LIST;
}

/* Offset I of a utf8, binary or list array (64-bit for the large types). */
static inline int64_t at_array_offset(const at_array *a, int large, int64_t i) {
  int64_t v;
  if (large) {
    memcpy(&v, a->offsets + 8 * i, 8);
    return v;
  }
  int32_t v32;
  memcpy(&v32, a->offsets + 4 * i, 4);
  return v32;
}

#endif
