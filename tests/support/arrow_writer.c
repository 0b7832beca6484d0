/* arrow_writer.c: see arrow_writer.h. Written from the Arrow columnar format spec ("Serialization and
 * Interprocess Communication") and format/{Schema,Message,File}.fbs; it shares nothing with the reader
 * (server/arrow_file.c) but the struct definitions, so the two can check each other.
 *
 * Layout written:
 *   stream: <Schema message> <RecordBatch message>* <0xFFFFFFFF 0x00000000>
 *   file:   "ARROW1\0\0" <Schema message> <RecordBatch message>* <Footer> <int32 footer size> "ARROW1"
 *   message: 0xFFFFFFFF, int32 metadata size, Message flatbuffer padded to 8, body (8-byte-aligned buffers)
 * Dictionary encoding is not written: a field flagged dictionary_encoded is written plain.
 */
#include "arrow_writer.h"

#include "fb_builder.h"

#include <errno.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

/* Flatbuffer enum values from format/Message.fbs and format/Schema.fbs. */
enum { MD_V5 = 4 };
enum { HDR_SCHEMA = 1, HDR_RECORD_BATCH = 3 };
enum {
  TY_INT = 2,
  TY_FLOAT = 3,
  TY_BINARY = 4,
  TY_UTF8 = 5,
  TY_BOOL = 6,
  TY_DATE = 8,
  TY_TIMESTAMP = 10,
  TY_LIST = 12,
  TY_STRUCT = 13,
  TY_FIXED_SIZE_BINARY = 15,
  TY_FIXED_SIZE_LIST = 16,
  TY_LARGE_BINARY = 19,
  TY_LARGE_UTF8 = 20,
  TY_LARGE_LIST = 21
};
enum { CODEC_LZ4_FRAME = 0, CODEC_ZSTD = 1 };

#define STRUCT16 16   /* FieldNode and Buffer: two longs */
#define BLOCK_SIZE 24 /* Block: long offset, int metaDataLength, 4 pad bytes, long bodyLength */

static void put_le(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int64_t get_offset(const uint8_t *offsets, int wide, int64_t i) {
  if (wide) {
    int64_t v;
    memcpy(&v, offsets + 8 * i, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, offsets + 4 * i, 4);
  return v;
}

/* ---------------------------------------------------------------- growable byte arrays */

typedef struct bytes {
  uint8_t *p;
  size_t len, cap;
} bytes;

static int bytes_reserve(bytes *b, size_t n) {
  if (b->cap - b->len >= n) return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) return errno = ENOMEM, -1;
    cap *= 2;
  }
  uint8_t *np = realloc(b->p, cap);
  if (!np) return errno = ENOMEM, -1;
  b->p = np;
  b->cap = cap;
  return 0;
}

static int bytes_append(bytes *b, const void *p, size_t n) {
  if (bytes_reserve(b, n)) return -1;
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static int bytes_pad8(bytes *b) {
  static const uint8_t zeros[8];
  return bytes_append(b, zeros, (0 - b->len) & 7);
}

/* ---------------------------------------------------------------- schema metadata */

static size_t kv_len(const char *s, size_t len) { return (len || !s) ? len : strlen(s); }

static fbb_ref build_metadata(fbb_builder *b, const at_kv *meta, size_t n) {
  if (!n) return 0;
  fbb_ref *refs = calloc(n, sizeof *refs);
  if (!refs) return b->failed = 1, 0;
  for (size_t i = 0; i < n; i++) {
    fbb_ref k = fbb_string(b, meta[i].key ? meta[i].key : "", kv_len(meta[i].key, meta[i].key_len));
    fbb_ref v = fbb_string(b, meta[i].value ? meta[i].value : "", kv_len(meta[i].value, meta[i].value_len));
    fbb_table_start(b);
    fbb_add_ref(b, 0, k);
    fbb_add_ref(b, 1, v);
    refs[i] = fbb_table_end(b);
  }
  fbb_ref r = fbb_ref_vector(b, refs, n);
  free(refs);
  return r;
}

/* Int{bitWidth, is_signed} for the integer types; 0 bits for anything else. */
static int int_bits(at_type t, int *is_signed) {
  static const int bits[] = {[AT_INT8] = 8,  [AT_INT16] = 16,  [AT_INT32] = 32,  [AT_INT64] = 64,
                             [AT_UINT8] = 8, [AT_UINT16] = 16, [AT_UINT32] = 32, [AT_UINT64] = 64};
  if (t < AT_INT8 || t > AT_UINT64) return 0;
  *is_signed = t <= AT_INT64;
  return bits[t];
}

/* The type-specific table of field F; sets *type_type to its union tag. Returns 0 (and fails B) for a type
 * the writer does not know. */
static fbb_ref build_type(fbb_builder *b, const at_field *f, uint8_t *type_type) {
  static const uint8_t empty_tables[] = {[AT_BOOL] = TY_BOOL,
                                         [AT_UTF8] = TY_UTF8,
                                         [AT_LARGE_UTF8] = TY_LARGE_UTF8,
                                         [AT_BINARY] = TY_BINARY,
                                         [AT_LARGE_BINARY] = TY_LARGE_BINARY,
                                         [AT_LIST] = TY_LIST,
                                         [AT_LARGE_LIST] = TY_LARGE_LIST,
                                         [AT_STRUCT] = TY_STRUCT};
  int is_signed = 0, bits = int_bits(f->type, &is_signed);
  fbb_ref tz = 0;
  if (f->type == AT_TIMESTAMP && f->timezone) /* strings must be built before the table */
    tz = fbb_string(b, f->timezone, strlen(f->timezone));
  fbb_table_start(b);
  if (bits) {
    *type_type = TY_INT;
    fbb_add_i32(b, 0, bits);
    fbb_add_u8(b, 1, (uint8_t)is_signed);
  } else if (f->type >= AT_FLOAT16 && f->type <= AT_FLOAT64) {
    *type_type = TY_FLOAT;
    fbb_add_i16(b, 0, (int16_t)(f->type - AT_FLOAT16)); /* HALF, SINGLE, DOUBLE */
  } else if (f->type == AT_DATE32 || f->type == AT_DATE64) {
    *type_type = TY_DATE;
    fbb_add_i16(b, 0, f->type == AT_DATE64); /* DAY = 0, MILLISECOND = 1 (the schema default!) */
  } else if (f->type == AT_TIMESTAMP) {
    *type_type = TY_TIMESTAMP;
    fbb_add_i16(b, 0, (int16_t)f->time_unit);
    fbb_add_ref(b, 1, tz);
  } else if (f->type == AT_FIXED_SIZE_BINARY) {
    *type_type = TY_FIXED_SIZE_BINARY;
    fbb_add_i32(b, 0, f->byte_width);
  } else if (f->type == AT_FIXED_SIZE_LIST) {
    *type_type = TY_FIXED_SIZE_LIST;
    fbb_add_i32(b, 0, f->list_size);
  } else if (f->type > 0 && (size_t)f->type < sizeof empty_tables && empty_tables[f->type]) {
    *type_type = empty_tables[f->type];
  } else {
    b->failed = 1;
  }
  return fbb_table_end(b);
}

static int type_is_list(at_type t) { return t == AT_LIST || t == AT_LARGE_LIST || t == AT_FIXED_SIZE_LIST; }

/* Nested types must have the right number of child fields: lists one, struct any, others none. */
static int field_shape_ok(const at_field *f) {
  if (type_is_list(f->type)) return f->n_children == 1 && f->children;
  if (f->type == AT_STRUCT) return f->n_children == 0 || f->children;
  return f->n_children == 0;
}

static fbb_ref build_field(fbb_builder *b, const at_field *f);

static fbb_ref build_fields(fbb_builder *b, const at_field *fields, size_t n) {
  fbb_ref *refs = calloc(n ? n : 1, sizeof *refs);
  if (!refs) return b->failed = 1, 0;
  for (size_t i = 0; i < n; i++) refs[i] = build_field(b, &fields[i]);
  fbb_ref r = fbb_ref_vector(b, refs, n);
  free(refs);
  return r;
}

static fbb_ref build_field(fbb_builder *b, const at_field *f) {
  if (!field_shape_ok(f)) return b->failed = 1, 0;
  fbb_ref children = build_fields(b, f->children, f->n_children); /* always present, even empty */
  fbb_ref meta = build_metadata(b, f->meta, f->n_meta);
  fbb_ref name = f->name ? fbb_string(b, f->name, strlen(f->name)) : 0;
  uint8_t type_type = 0;
  fbb_ref type = build_type(b, f, &type_type);
  fbb_table_start(b);
  fbb_add_ref(b, 0, name);
  fbb_add_u8(b, 1, f->nullable != 0);
  fbb_add_u8(b, 2, type_type);
  fbb_add_ref(b, 3, type);
  fbb_add_ref(b, 5, children);
  fbb_add_ref(b, 6, meta);
  return fbb_table_end(b);
}

static fbb_ref build_schema(fbb_builder *b, const at_schema *s) {
  fbb_ref fields = build_fields(b, s->fields, s->n_fields);
  fbb_ref meta = build_metadata(b, s->meta, s->n_meta);
  fbb_table_start(b);
  fbb_add_i16(b, 0, 0); /* Little endian */
  fbb_add_ref(b, 1, fields);
  fbb_add_ref(b, 2, meta);
  return fbb_table_end(b);
}

static fbb_ref build_message(fbb_builder *b, uint8_t header_type, fbb_ref header, int64_t body_len) {
  fbb_table_start(b);
  fbb_add_i16(b, 0, MD_V5);
  fbb_add_u8(b, 1, header_type);
  fbb_add_ref(b, 2, header);
  fbb_add_i64(b, 3, body_len);
  return fbb_table_end(b);
}

/* ---------------------------------------------------------------- record batch bodies */

typedef struct body {
  const aw_options *opt;
  bytes data;  /* the body: every buffer, each padded to 8 */
  bytes nodes; /* FieldNode structs, pre-order */
  bytes bufs;  /* Buffer structs {offset into body, length} */
} body;

static int add_node(body *bd, int64_t length, int64_t null_count) {
  uint8_t s[STRUCT16];
  put_le(s, (uint64_t)length, 8);
  put_le(s + 8, (uint64_t)null_count, 8);
  return bytes_append(&bd->nodes, s, sizeof s);
}

/* Appends N bytes compressed with the body's codec: int64 uncompressed length, then the codec's output;
 * or -1 and the raw bytes when N is under min_compress_bytes. */
static int append_compressed(body *bd, const uint8_t *p, size_t n) {
  uint8_t prefix[8];
  if ((int64_t)n < bd->opt->min_compress_bytes) {
    put_le(prefix, (uint64_t)-1, 8);
    return bytes_append(&bd->data, prefix, 8) || bytes_append(&bd->data, p, n) ? -1 : 0;
  }
  int lz4 = bd->opt->codec == AW_LZ4;
  size_t bound = lz4 ? LZ4F_compressFrameBound(n, NULL) : ZSTD_compressBound(n);
  if (bytes_reserve(&bd->data, 8 + bound)) return -1;
  uint8_t *dst = bd->data.p + bd->data.len + 8;
  size_t got = lz4 ? LZ4F_compressFrame(dst, bound, p, n, NULL) : ZSTD_compress(dst, bound, p, n, 3);
  if (lz4 ? LZ4F_isError(got) : ZSTD_isError(got)) return errno = EIO, -1;
  put_le(bd->data.p + bd->data.len, n, 8);
  bd->data.len += 8 + got;
  return 0;
}

/* Appends one buffer of N bytes at P (P may be NULL when N is 0) and its Buffer struct. Empty buffers stay
 * empty even when compressing, as Arrow C++ writes them. */
static int add_buffer(body *bd, const uint8_t *p, size_t n) {
  size_t start = bd->data.len;
  int rc = 0;
  if (n && bd->opt->codec != AW_NONE)
    rc = append_compressed(bd, p, n);
  else
    rc = bytes_append(&bd->data, p, n);
  uint8_t s[STRUCT16];
  put_le(s, start, 8);
  put_le(s + 8, bd->data.len - start, 8);
  return rc || bytes_pad8(&bd->data) || bytes_append(&bd->bufs, s, sizeof s) ? -1 : 0;
}

/* Fixed bytes per value; 0 for bool (bit-packed), -1 for variable-size and nested types. */
static int64_t value_width(const at_field *f) {
  static const int8_t w[] = {[AT_INT8] = 1,    [AT_INT16] = 2,  [AT_INT32] = 4,  [AT_INT64] = 8,    [AT_UINT8] = 1,
                             [AT_UINT16] = 2,  [AT_UINT32] = 4, [AT_UINT64] = 8, [AT_FLOAT16] = 2,  [AT_FLOAT32] = 4,
                             [AT_FLOAT64] = 8, [AT_DATE32] = 4, [AT_DATE64] = 8, [AT_TIMESTAMP] = 8};
  if (f->type == AT_BOOL) return 0;
  if (f->type == AT_FIXED_SIZE_BINARY) return f->byte_width > 0 ? f->byte_width : -1;
  if (f->type > 0 && (size_t)f->type < sizeof w && w[f->type]) return w[f->type];
  return -1;
}

/* Appends bytes the array must provide: N bytes of `values`, checked against values_len. */
static int add_values(body *bd, const at_array *a, int64_t n) {
  if (n < 0 || (n > 0 && (!a->values || a->values_len < n))) return errno = EINVAL, -1;
  return add_buffer(bd, a->values, (size_t)n);
}

/* Offsets buffer (length + 1 entries; zeros when an empty array has none). Sets *last to the last offset. */
static int add_offsets(body *bd, const at_array *a, int wide, int64_t *last) {
  size_t n = (size_t)(a->length + 1) * (wide ? 8 : 4);
  if (!a->offsets) {
    static const uint8_t zero[8];
    *last = 0;
    return a->length == 0 ? add_buffer(bd, zero, n) : (errno = EINVAL, -1);
  }
  *last = get_offset(a->offsets, wide, a->length);
  if (*last < 0 || get_offset(a->offsets, wide, 0) < 0 || get_offset(a->offsets, wide, 0) > *last)
    return errno = EINVAL, -1;
  return add_buffer(bd, a->offsets, n);
}

static int add_array(body *bd, const at_field *f, const at_array *a);

static int add_children(body *bd, const at_field *f, const at_array *a, int64_t child_len) {
  if (a->n_children != f->n_children || (a->n_children && !a->children)) return errno = EINVAL, -1;
  for (size_t i = 0; i < a->n_children; i++) {
    if (child_len >= 0 && a->children[i].length != child_len) return errno = EINVAL, -1;
    if (add_array(bd, &f->children[i], &a->children[i])) return -1;
  }
  return 0;
}

/* The buffers after validity, then the children, for array A of field F. */
static int add_array_data(body *bd, const at_field *f, const at_array *a) {
  int64_t width = value_width(f), last = 0;
  int wide = f->type == AT_LARGE_UTF8 || f->type == AT_LARGE_BINARY || f->type == AT_LARGE_LIST;
  switch (f->type) {
  case AT_BOOL: return add_values(bd, a, (a->length + 7) / 8);
  case AT_UTF8:
  case AT_LARGE_UTF8:
  case AT_BINARY:
  case AT_LARGE_BINARY: return add_offsets(bd, a, wide, &last) || add_values(bd, a, last) ? -1 : 0;
  case AT_LIST:
  case AT_LARGE_LIST: return add_offsets(bd, a, wide, &last) || add_children(bd, f, a, last) ? -1 : 0;
  case AT_FIXED_SIZE_LIST:
    if (f->list_size < 0 || (f->list_size && a->length > INT64_MAX / f->list_size)) return errno = EINVAL, -1;
    return add_children(bd, f, a, a->length * f->list_size);
  case AT_STRUCT: return add_children(bd, f, a, a->length);
  default:
    if (width <= 0 || a->length > INT64_MAX / width) return errno = EINVAL, -1;
    return add_values(bd, a, a->length * width);
  }
}

/* One node: FieldNode, validity buffer (empty when the array has no bitmap), the rest pre-order. */
static int add_array(body *bd, const at_field *f, const at_array *a) {
  if (a->length < 0 || a->null_count < 0 || a->null_count > a->length || (a->null_count && !a->validity) ||
      !field_shape_ok(f) || a->n_children != f->n_children)
    return errno = EINVAL, -1;
  if (add_node(bd, a->length, a->null_count)) return -1;
  if (add_buffer(bd, a->validity, a->validity ? (size_t)(a->length + 7) / 8 : 0)) return -1;
  return add_array_data(bd, f, a);
}

/* RecordBatch{length, nodes, buffers, compression} wrapped in a Message. */
static fbb_ref build_batch_message(fbb_builder *b, const body *bd, int64_t rows) {
  fbb_ref nodes = fbb_struct_vector(b, bd->nodes.p, STRUCT16, bd->nodes.len / STRUCT16, 8);
  fbb_ref bufs = fbb_struct_vector(b, bd->bufs.p, STRUCT16, bd->bufs.len / STRUCT16, 8);
  fbb_ref compression = 0;
  if (bd->opt->codec != AW_NONE) {
    fbb_table_start(b);
    fbb_add_u8(b, 0, bd->opt->codec == AW_LZ4 ? CODEC_LZ4_FRAME : CODEC_ZSTD);
    fbb_add_u8(b, 1, 0); /* BUFFER: each buffer compressed on its own */
    compression = fbb_table_end(b);
  }
  fbb_table_start(b);
  fbb_add_i64(b, 0, rows);
  fbb_add_ref(b, 1, nodes);
  fbb_add_ref(b, 2, bufs);
  fbb_add_ref(b, 3, compression);
  fbb_ref rb = fbb_table_end(b);
  return build_message(b, HDR_RECORD_BATCH, rb, (int64_t)bd->data.len);
}

/* ---------------------------------------------------------------- output */

typedef struct writer {
  FILE *fp;
  int64_t pos;  /* bytes written so far */
  bytes blocks; /* Block structs of the record batches, for the footer */
} writer;

static int out(writer *w, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, w->fp) != n) return errno = errno ? errno : EIO, -1;
  w->pos += (int64_t)n;
  return 0;
}

/* Writes one encapsulated message; records its Block when BLOCKS is set. */
static int write_message(writer *w, fbb_builder *b, fbb_ref msg, const bytes *body_data, int record) {
  size_t meta_len;
  const uint8_t *meta = fbb_finish(b, msg, &meta_len); /* already a multiple of 8 */
  if (!meta) return errno = EINVAL, -1;
  uint8_t prefix[8];
  put_le(prefix, 0xFFFFFFFFu, 4);
  put_le(prefix + 4, meta_len, 4);
  uint8_t block[BLOCK_SIZE] = {0};
  put_le(block, (uint64_t)w->pos, 8);
  put_le(block + 8, 8 + meta_len, 4);
  put_le(block + 16, body_data ? body_data->len : 0, 8);
  if (record && bytes_append(&w->blocks, block, sizeof block)) return -1;
  if (out(w, prefix, 8) || out(w, meta, meta_len)) return -1;
  return body_data ? out(w, body_data->p, body_data->len) : 0;
}

static int write_schema_message(writer *w, const at_schema *schema) {
  fbb_builder b;
  fbb_init(&b);
  fbb_ref s = build_schema(&b, schema);
  int rc = write_message(w, &b, build_message(&b, HDR_SCHEMA, s, 0), NULL, 0);
  fbb_release(&b);
  return rc;
}

static int write_batch(writer *w, const aw_options *opt, const at_schema *schema, int64_t rows, const at_array *cols) {
  body bd = {.opt = opt};
  int rc = 0;
  for (size_t i = 0; i < schema->n_fields && !rc; i++) {
    if (cols[i].length != rows)
      rc = (errno = EINVAL, -1);
    else
      rc = add_array(&bd, &schema->fields[i], &cols[i]);
  }
  if (!rc) {
    fbb_builder b;
    fbb_init(&b);
    rc = write_message(w, &b, build_batch_message(&b, &bd, rows), &bd.data, 1);
    fbb_release(&b);
  }
  free(bd.data.p);
  free(bd.nodes.p);
  free(bd.bufs.p);
  return rc;
}

/* Footer{version, schema, dictionaries: [], recordBatches}, its int32 size and the closing magic. */
static int write_footer(writer *w, const at_schema *schema) {
  fbb_builder b;
  fbb_init(&b);
  fbb_ref s = build_schema(&b, schema);
  fbb_ref dicts = fbb_struct_vector(&b, NULL, BLOCK_SIZE, 0, 8);
  fbb_ref batches = fbb_struct_vector(&b, w->blocks.p, BLOCK_SIZE, w->blocks.len / BLOCK_SIZE, 8);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, MD_V5);
  fbb_add_ref(&b, 1, s);
  fbb_add_ref(&b, 2, dicts);
  fbb_add_ref(&b, 3, batches);
  size_t len = 0;
  const uint8_t *fb = fbb_finish(&b, fbb_table_end(&b), &len);
  uint8_t tail[10];
  put_le(tail, len, 4);
  memcpy(tail + 4, "ARROW1", 6);
  int rc = !fb ? (errno = EINVAL, -1) : out(w, fb, len) || out(w, tail, sizeof tail) ? -1 : 0;
  fbb_release(&b);
  return rc;
}

struct aw_writer {
  writer w;
  aw_options opt;
  const at_schema *schema;
  char *path;
  int failed;
};

static int options_ok(const aw_options *opt) {
  return opt && opt->codec >= AW_NONE && opt->codec <= AW_ZSTD && (opt->format == AW_FILE || opt->format == AW_STREAM);
}

aw_writer *aw_open(const char *path, const aw_options *opt, const at_schema *schema) {
  if (!path || !options_ok(opt) || !schema || (schema->n_fields && !schema->fields)) return errno = EINVAL, NULL;
  aw_writer *aw = calloc(1, sizeof *aw);
  if (!aw || !(aw->path = strdup(path))) {
    free(aw);
    return errno = ENOMEM, NULL;
  }
  aw->opt = *opt;
  aw->schema = schema;
  aw->w.fp = fopen(path, "wb");
  if (!aw->w.fp) {
    int saved = errno;
    free(aw->path);
    free(aw);
    return errno = saved, NULL;
  }
  errno = 0;
  if ((opt->format == AW_FILE && out(&aw->w, "ARROW1\0\0", 8)) || write_schema_message(&aw->w, schema)) {
    aw_abort(aw);
    return NULL;
  }
  return aw;
}

int aw_write_batch(aw_writer *aw, int64_t rows, const at_array *columns) {
  if (aw->failed) return errno = EINVAL, -1;
  errno = 0;
  if (write_batch(&aw->w, &aw->opt, aw->schema, rows, columns)) {
    aw->failed = 1;
    return -1;
  }
  return 0;
}

/* Closes and frees AW; with DISCARD (or after a failure) removes the file. */
static int finish(aw_writer *aw, int discard) {
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  int rc = aw->failed || discard ? -1 : 0, saved = errno;
  errno = 0;
  if (!rc) rc = aw->opt.format == AW_STREAM ? out(&aw->w, eos, sizeof eos) : write_footer(&aw->w, aw->schema);
  if (!rc) saved = errno;
  if (fclose(aw->w.fp) && !rc) rc = -1, saved = errno ? errno : EIO;
  if (rc) unlink(aw->path); /* never leave a half-written fixture behind */
  free(aw->w.blocks.p);
  free(aw->path);
  free(aw);
  errno = rc ? (saved ? saved : EIO) : 0;
  return rc;
}

int aw_close(aw_writer *aw) { return finish(aw, 0); }

void aw_abort(aw_writer *aw) {
  int saved = errno;
  if (aw) finish(aw, 1);
  errno = saved;
}

int aw_write(const char *path, const aw_options *opt, const at_schema *schema, size_t n_batches,
             const int64_t *batch_rows, const at_array *const *batches) {
  if (n_batches && (!batch_rows || !batches)) return errno = EINVAL, -1;
  aw_writer *aw = aw_open(path, opt, schema);
  if (!aw) return -1;
  for (size_t i = 0; i < n_batches; i++)
    if (aw_write_batch(aw, batch_rows[i], batches[i])) break;
  return aw_close(aw);
}
