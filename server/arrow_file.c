/* arrow_file.c: an Arrow IPC reader (file and stream formats) that never trusts the file.
 *
 * Layout of the code: error and memory helpers; the schema (flatbuffer -> at_field tree, plus a parallel
 * tree of private field descriptors); the message index (file footer or a walk over the stream); record
 * batch decoding (nodes and buffers in depth-first order, decompression, offsets checks); dictionary
 * decoding (a generic "take"); view types; the public API.
 *
 * Ownership: everything an at_file holds (schema, index, decoded dictionaries) lives in the file's arena
 * and is read-only once at_file_open returns, which is what makes at_file_read_batch thread-safe. Each
 * batch has its own arena for its at_array tree and for the buffers it had to decode.
 */
#include "arrow_file.h"

#include "flatbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4frame.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "buffers are served straight from little-endian Arrow files: big-endian hosts are not supported"
#endif

/* Limits on what a file may ask of us. Nesting and field counts bound the recursion and stop a
 * flatbuffer whose offsets share subtrees from expanding into an exponential schema. */
enum { MAX_DEPTH = 64, MAX_FIELDS = 100000 };
/* No single buffer we allocate (decompressed or decoded) may exceed this. */
#define MAX_BUFFER ((int64_t)1 << 34)

/* Flatbuffer field ids and enum values of Arrow's format/{Schema,Message,File}.fbs. */
enum { MSG_VERSION = 0, MSG_HEADER_TYPE = 1, MSG_HEADER = 2, MSG_BODY_LENGTH = 3 };
enum { HDR_SCHEMA = 1, HDR_DICTIONARY = 2, HDR_RECORD_BATCH = 3 };
enum { SCH_ENDIANNESS = 0, SCH_FIELDS = 1, SCH_METADATA = 2 };
enum { FLD_NAME = 0, FLD_NULLABLE = 1, FLD_TYPE_TYPE = 2, FLD_TYPE = 3, FLD_DICTIONARY = 4, FLD_CHILDREN = 5,
       FLD_METADATA = 6 };
enum { FOOT_SCHEMA = 1, FOOT_DICTIONARIES = 2, FOOT_BATCHES = 3 };
enum { RB_LENGTH = 0, RB_NODES = 1, RB_BUFFERS = 2, RB_COMPRESSION = 3, RB_VARIADIC = 4 };
enum { DB_ID = 0, DB_DATA = 1, DB_IS_DELTA = 2 };
enum { DE_ID = 0, DE_INDEX_TYPE = 1 };
enum { CODEC_NONE = -1, CODEC_LZ4_FRAME = 0, CODEC_ZSTD = 1 };
enum {
  T_NULL = 1, T_INT, T_FLOAT, T_BINARY, T_UTF8, T_BOOL, T_DECIMAL, T_DATE, T_TIME, T_TIMESTAMP, T_INTERVAL,
  T_LIST, T_STRUCT, T_UNION, T_FSB, T_FSL, T_MAP, T_DURATION, T_LARGE_BINARY, T_LARGE_UTF8, T_LARGE_LIST,
  T_RUN_END, T_BINARY_VIEW, T_UTF8_VIEW, T_LIST_VIEW, T_LARGE_LIST_VIEW, T_COUNT
};
static const char *const type_names[T_COUNT] = {
    "NONE", "Null", "Int", "FloatingPoint", "Binary", "Utf8", "Bool", "Decimal", "Date", "Time",
    "Timestamp", "Interval", "List", "Struct", "Union", "FixedSizeBinary", "FixedSizeList", "Map",
    "Duration", "LargeBinary", "LargeUtf8", "LargeList", "RunEndEncoded", "BinaryView", "Utf8View",
    "ListView", "LargeListView"};

/* Sizes of the flatbuffer structs we read from vectors. */
enum { FIELD_NODE_SIZE = 16, BUFFER_SIZE = 16, BLOCK_SIZE = 24 };

/* ------------------------------------------------------------------------------------------------------ */
/* Errors */

typedef struct ctx {
  const char *path;
  char *err;
  size_t errlen;
} ctx;

static int vfail(const ctx *c, const char *field, const char *fmt, va_list ap) {
  if (!c->err || c->errlen == 0) return -1;
  int n = field ? snprintf(c->err, c->errlen, "%s: field '%s': ", c->path, field)
                : snprintf(c->err, c->errlen, "%s: ", c->path);
  if (n >= 0 && (size_t)n < c->errlen) vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
  return -1;
}

/* Writes "PATH: message" and returns -1. */
static int fail(const ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, NULL, fmt, ap);
  va_end(ap);
  return -1;
}

/* Writes "PATH: field 'NAME': message" and returns -1. */
static int ffail(const ctx *c, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, field, fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Arithmetic on untrusted sizes */

static int mul_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out) && *out >= 0; }
static int add_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out) && *out >= 0; }
static int64_t bitmap_bytes(int64_t n) { return n / 8 + (n % 8 != 0); }
static int bit(const uint8_t *bits, int64_t i) { return bits[i >> 3] >> (i & 7) & 1; }
static void set_bit(uint8_t *bits, int64_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }
static int64_t load_offset(const uint8_t *p, int w, int64_t i) {
  return w == 4 ? (int64_t)(int32_t)fb_load_u32(p + 4 * i) : (int64_t)fb_load_u64(p + 8 * i);
}
static void store_offset(uint8_t *p, int w, int64_t i, int64_t v) {
  if (w == 4) {
    int32_t x = (int32_t)v;
    memcpy(p + 4 * i, &x, 4);
  } else {
    memcpy(p + 8 * i, &v, 8);
  }
}

/* The offsets of an empty array when the file stores none (a valid, if lazy, encoding). */
static const uint8_t zero_offsets[8];

/* ------------------------------------------------------------------------------------------------------ */
/* Arenas: one for the file's metadata, one per decoded batch. Blocks are individual mallocs in a list. */

typedef struct ablk {
  struct ablk *next;
  max_align_t data[];
} ablk;

typedef struct arena {
  ablk *head;
  size_t data_bytes; /* buffer bytes (what owned_bytes reports), not bookkeeping structs */
} arena;

static ablk *blk_new(size_t n) {
  if (n > SIZE_MAX - sizeof(ablk)) return NULL;
  return malloc(sizeof(ablk) + (n ? n : 1));
}

static void *blk_adopt(arena *a, ablk *b, size_t data_bytes) {
  b->next = a->head;
  a->head = b;
  a->data_bytes += data_bytes;
  return b->data;
}

/* Zeroed memory for structs and arrays of them; NULL on overflow or exhaustion. */
static void *ar_calloc(arena *a, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  ablk *b = blk_new(n * size);
  if (!b) return NULL;
  memset(b->data, 0, n * size);
  return blk_adopt(a, b, 0);
}

/* Uninitialised buffer memory, counted in data_bytes. */
static uint8_t *ar_buffer(arena *a, int64_t n) {
  if (n < 0 || n > MAX_BUFFER) return NULL;
  ablk *b = blk_new((size_t)n);
  return b ? blk_adopt(a, b, (size_t)n) : NULL;
}

static char *ar_strdup(arena *a, const char *s, size_t n) {
  char *p = ar_calloc(a, n + 1, 1);
  if (p) memcpy(p, s, n);
  return p;
}

static void ar_free(arena *a) {
  for (ablk *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  a->head = NULL;
  a->data_bytes = 0;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Private field descriptors, parallel to the at_field tree. */

enum phys { P_NULL, P_FIXED, P_BOOL, P_BIN32, P_BIN64, P_VIEW, P_LIST32, P_LIST64, P_FSL, P_STRUCT };

typedef struct fdesc {
  const at_field *field;
  const char *path; /* dotted names from the top-level column, for error messages */
  enum phys phys;
  int width;        /* P_FIXED: bytes per value */
  int dict;         /* dictionary-encoded: the batch holds indices, the dictionary holds `phys` values */
  int idx_width;    /* index bytes: 1, 2, 4, 8 */
  int idx_signed;
  int64_t dict_id;
  size_t dict_slot; /* index into at_file.dict_fields */
  size_t n_children;
  struct fdesc *children;
} fdesc;

/* Offsets width of a variable-size layout; views are decoded to 64-bit offsets. */
static int offsets_width(const fdesc *d) { return d->phys == P_BIN32 || d->phys == P_LIST32 ? 4 : 8; }

typedef struct batch_ix {
  fb_table rb;         /* the RecordBatch table, validated at open */
  const uint8_t *body; /* message body in the mapping */
  int64_t body_len;
  int64_t rows;
  int owned;
  at_array **dicts;    /* per dictionary slot: the dictionary in force for this batch */
} batch_ix;

struct at_file {
  char *path;
  uint8_t *map;
  size_t size;
  arena ar;
  at_schema schema;
  fdesc *cols;
  size_t n_dict;        /* dictionary-encoded fields (each its own id) */
  fdesc **dict_fields;
  at_array **dicts;     /* the dictionaries read so far (stream) or all of them (file) */
  int dicts_shared;     /* `dicts` is referenced by a batch: copy before changing it */
  int n_batches, cap_batches;
  batch_ix *batches;    /* malloc'd, grows while the stream is indexed */
  int64_t num_rows;
};

/* ------------------------------------------------------------------------------------------------------ */
/* Schema */

typedef struct pctx {
  ctx c;
  at_file *f;
  size_t budget; /* fields and metadata entries left */
} pctx;

static int parse_field(pctx *p, const fb_table *ft, const char *parent, at_field *o, fdesc *d, int depth,
                       int in_dict);

static int parse_kvs(pctx *p, const fb_table *t, int id, const char *field, size_t *n_out, at_kv **out) {
  fb_vec v;
  int bad = 0;
  size_t n = fb_vector(t, id, 4, &v, &bad);
  if (bad) return ffail(&p->c, field, "corrupt metadata");
  if (n > p->budget) return fail(&p->c, "too many fields or metadata entries");
  p->budget -= n;
  *n_out = 0;
  *out = n ? ar_calloc(&p->f->ar, n, sizeof(at_kv)) : NULL;
  if (n && !*out) return fail(&p->c, "out of memory");
  for (size_t i = 0; i < n; i++) {
    fb_table kv;
    const char *k, *val;
    size_t kn, vn;
    fb_vec_table(&v, i, &kv, &bad);
    fb_string(&kv, 0, &k, &kn, &bad);
    fb_string(&kv, 1, &val, &vn, &bad);
    if (bad) return ffail(&p->c, field, "corrupt metadata entry %zu", i);
    at_kv *e = &(*out)[i];
    e->key = ar_strdup(&p->f->ar, k, kn);
    e->value = ar_strdup(&p->f->ar, val, vn);
    if (!e->key || !e->value) return fail(&p->c, "out of memory");
    e->key_len = kn;
    e->value_len = vn;
  }
  *n_out = n;
  return 0;
}

static int set_int_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  static const at_type sgn[] = {AT_INT8, AT_INT16, AT_INT32, AT_INT64};
  static const at_type uns[] = {AT_UINT8, AT_UINT16, AT_UINT32, AT_UINT64};
  int bad = 0;
  int32_t bits = fb_i32(tt, 0, 0, &bad);
  int is_signed = fb_u8(tt, 1, 0, &bad) != 0;
  int k = bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : bits == 64 ? 3 : -1;
  if (bad || k < 0) return ffail(&p->c, d->path, "invalid Int bit width %d", (int)bits);
  o->type = is_signed ? sgn[k] : uns[k];
  d->phys = P_FIXED;
  d->width = bits / 8;
  return 0;
}

static int set_float_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  int16_t prec = fb_i16(tt, 0, 0, &bad);
  if (bad || prec < 0 || prec > 2) return ffail(&p->c, d->path, "invalid FloatingPoint precision %d", prec);
  o->type = prec == 0 ? AT_FLOAT16 : prec == 1 ? AT_FLOAT32 : AT_FLOAT64;
  d->phys = P_FIXED;
  d->width = 2 << prec;
  return 0;
}

static int set_timestamp_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  const char *tz;
  size_t tzn;
  int16_t unit = fb_i16(tt, 0, 0, &bad);
  fb_string(tt, 1, &tz, &tzn, &bad);
  if (bad || unit < 0 || unit > 3) return ffail(&p->c, d->path, "invalid Timestamp type");
  o->type = AT_TIMESTAMP;
  o->time_unit = unit;
  if (tzn) { /* an empty timezone means naive, as an absent one */
    o->timezone = ar_strdup(&p->f->ar, tz, tzn);
    if (!o->timezone) return fail(&p->c, "out of memory");
  }
  d->phys = P_FIXED;
  d->width = 8;
  return 0;
}

/* Scalar and string types: everything without children. Returns 1 when TYPE is not one of them. */
static int set_flat_type(pctx *p, int type, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  switch (type) {
  case T_INT: return set_int_type(p, tt, o, d);
  case T_FLOAT: return set_float_type(p, tt, o, d);
  case T_TIMESTAMP: return set_timestamp_type(p, tt, o, d);
  case T_NULL: o->type = AT_NULL; d->phys = P_NULL; return 0; /* no buffers: every value is null */
  case T_BOOL: o->type = AT_BOOL; d->phys = P_BOOL; return 0;
  case T_UTF8: o->type = AT_UTF8; d->phys = P_BIN32; return 0;
  case T_BINARY: o->type = AT_BINARY; d->phys = P_BIN32; return 0;
  case T_LARGE_UTF8: o->type = AT_LARGE_UTF8; d->phys = P_BIN64; return 0;
  case T_LARGE_BINARY: o->type = AT_LARGE_BINARY; d->phys = P_BIN64; return 0;
  case T_UTF8_VIEW: o->type = AT_LARGE_UTF8; d->phys = P_VIEW; return 0;
  case T_BINARY_VIEW: o->type = AT_LARGE_BINARY; d->phys = P_VIEW; return 0;
  case T_DATE: {
    int16_t unit = fb_i16(tt, 0, 1, &bad); /* Schema.fbs: unit defaults to MILLISECOND */
    if (bad || unit < 0 || unit > 1) return ffail(&p->c, d->path, "invalid Date unit");
    o->type = unit == 0 ? AT_DATE32 : AT_DATE64;
    d->phys = P_FIXED;
    d->width = unit == 0 ? 4 : 8;
    return 0;
  }
  case T_FSB: {
    int32_t w = fb_i32(tt, 0, 0, &bad);
    if (bad || w < 1) return ffail(&p->c, d->path, "invalid FixedSizeBinary width %d", (int)w);
    o->type = AT_FIXED_SIZE_BINARY;
    o->byte_width = w;
    d->phys = P_FIXED;
    d->width = w;
    return 0;
  }
  default: return 1;
  }
}

static int parse_children(pctx *p, const fb_table *ft, at_field *o, fdesc *d, int depth, int in_dict) {
  fb_vec v;
  int bad = 0;
  size_t n = fb_vector(ft, FLD_CHILDREN, 4, &v, &bad);
  if (bad) return ffail(&p->c, d->path, "corrupt children");
  if ((d->phys == P_LIST32 || d->phys == P_LIST64 || d->phys == P_FSL) && n != 1)
    return ffail(&p->c, d->path, "a list type needs exactly one child, has %zu", n);
  if (n > p->budget) return fail(&p->c, "too many fields");
  if (n == 0) return 0;
  o->children = ar_calloc(&p->f->ar, n, sizeof(at_field));
  d->children = ar_calloc(&p->f->ar, n, sizeof(fdesc));
  if (!o->children || !d->children) return fail(&p->c, "out of memory");
  o->n_children = d->n_children = n;
  for (size_t i = 0; i < n; i++) {
    fb_table ct;
    if (!fb_vec_table(&v, i, &ct, &bad)) return ffail(&p->c, d->path, "corrupt child %zu", i);
    if (parse_field(p, &ct, d->path, &o->children[i], &d->children[i], depth + 1, in_dict) != 0) return -1;
  }
  return 0;
}

static int set_type(pctx *p, const fb_table *ft, at_field *o, fdesc *d, int depth, int in_dict) {
  int bad = 0;
  int type = fb_u8(ft, FLD_TYPE_TYPE, 0, &bad);
  fb_table tt;
  fb_table_field(ft, FLD_TYPE, &tt, &bad); /* absent: every parameter takes its default */
  if (bad) return ffail(&p->c, d->path, "corrupt type");
  int r = set_flat_type(p, type, &tt, o, d);
  if (r <= 0) return r;
  switch (type) {
  case T_LIST: o->type = AT_LIST; d->phys = P_LIST32; break;
  case T_LARGE_LIST: o->type = AT_LARGE_LIST; d->phys = P_LIST64; break;
  case T_STRUCT: o->type = AT_STRUCT; d->phys = P_STRUCT; break;
  case T_FSL:
    o->type = AT_FIXED_SIZE_LIST;
    o->list_size = fb_i32(&tt, 0, 0, &bad);
    if (bad || o->list_size < 0) return ffail(&p->c, d->path, "invalid FixedSizeList size");
    d->phys = P_FSL;
    break;
  default:
    if (type > 0 && type < T_COUNT) return ffail(&p->c, d->path, "unsupported type %s", type_names[type]);
    return ffail(&p->c, d->path, "unknown type id %d", type);
  }
  return parse_children(p, ft, o, d, depth, in_dict);
}

static int parse_dictionary(pctx *p, const fb_table *de, at_field *o, fdesc *d, int in_dict) {
  int bad = 0;
  if (in_dict) return ffail(&p->c, d->path, "unsupported: a dictionary inside a dictionary's values");
  fb_table it;
  int has_it = fb_table_field(de, DE_INDEX_TYPE, &it, &bad);
  d->dict_id = fb_i64(de, DE_ID, 0, &bad);
  int32_t bits = has_it ? fb_i32(&it, 0, 0, &bad) : 32; /* Schema.fbs: absent means signed int32 */
  d->idx_signed = has_it ? fb_u8(&it, 1, 0, &bad) != 0 : 1;
  if (bad || (bits != 8 && bits != 16 && bits != 32 && bits != 64))
    return ffail(&p->c, d->path, "invalid dictionary index type");
  d->idx_width = bits / 8;
  d->dict = 1;
  o->dictionary_encoded = 1;
  at_file *f = p->f;
  for (size_t i = 0; i < f->n_dict; i++)
    if (f->dict_fields[i]->dict_id == d->dict_id)
      return ffail(&p->c, d->path, "dictionary id %lld is used by two fields", (long long)d->dict_id);
  if (f->n_dict % 16 == 0) { /* grow by 16 in the arena: the old array is simply left behind */
    fdesc **n = ar_calloc(&f->ar, f->n_dict + 16, sizeof *n);
    if (!n) return fail(&p->c, "out of memory");
    if (f->n_dict) memcpy(n, f->dict_fields, f->n_dict * sizeof *n);
    f->dict_fields = n;
  }
  d->dict_slot = f->n_dict;
  f->dict_fields[f->n_dict++] = d;
  return 0;
}

static int parse_field(pctx *p, const fb_table *ft, const char *parent, at_field *o, fdesc *d, int depth,
                       int in_dict) {
  int bad = 0;
  const char *name;
  size_t nlen;
  if (depth > MAX_DEPTH) return ffail(&p->c, parent, "nested too deeply");
  if (p->budget == 0) return fail(&p->c, "too many fields");
  p->budget--;
  fb_string(ft, FLD_NAME, &name, &nlen, &bad);
  o->nullable = fb_u8(ft, FLD_NULLABLE, 0, &bad) != 0;
  if (bad) return ffail(&p->c, parent, "corrupt field");
  o->name = ar_strdup(&p->f->ar, name, nlen);
  size_t plen = parent ? strlen(parent) + 1 : 0;
  char *path = ar_calloc(&p->f->ar, plen + nlen + 1, 1);
  if (!o->name || !path) return fail(&p->c, "out of memory");
  if (parent) {
    memcpy(path, parent, plen - 1);
    path[plen - 1] = '.';
  }
  memcpy(path + plen, name, nlen);
  d->field = o;
  d->path = path;
  fb_table de;
  int is_dict = fb_table_field(ft, FLD_DICTIONARY, &de, &bad);
  if (bad) return ffail(&p->c, path, "corrupt dictionary encoding");
  if (set_type(p, ft, o, d, depth, in_dict || is_dict) != 0) return -1;
  if (is_dict && parse_dictionary(p, &de, o, d, in_dict) != 0) return -1;
  return parse_kvs(p, ft, FLD_METADATA, path, &o->n_meta, &o->meta);
}

static int parse_schema(pctx *p, const fb_table *st) {
  at_file *f = p->f;
  int bad = 0;
  if (fb_i16(st, SCH_ENDIANNESS, 0, &bad) != 0 && !bad) return fail(&p->c, "big-endian files are not supported");
  fb_vec v;
  size_t n = fb_vector(st, SCH_FIELDS, 4, &v, &bad);
  if (bad) return fail(&p->c, "corrupt schema");
  if (n > p->budget) return fail(&p->c, "too many fields");
  f->schema.fields = n ? ar_calloc(&f->ar, n, sizeof(at_field)) : NULL;
  f->cols = n ? ar_calloc(&f->ar, n, sizeof(fdesc)) : NULL;
  if (n && (!f->schema.fields || !f->cols)) return fail(&p->c, "out of memory");
  f->schema.n_fields = n;
  for (size_t i = 0; i < n; i++) {
    fb_table ft;
    if (!fb_vec_table(&v, i, &ft, &bad)) return fail(&p->c, "corrupt schema field %zu", i);
    if (parse_field(p, &ft, NULL, &f->schema.fields[i], &f->cols[i], 0, 0) != 0) return -1;
  }
  if (parse_kvs(p, st, SCH_METADATA, NULL, &f->schema.n_meta, &f->schema.meta) != 0) return -1;
  f->dicts = f->n_dict ? ar_calloc(&f->ar, f->n_dict, sizeof(at_array *)) : NULL;
  if (f->n_dict && !f->dicts) return fail(&p->c, "out of memory");
  return 0;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Messages */

typedef struct msg {
  int type;         /* HDR_* */
  fb_table header;  /* the Schema, DictionaryBatch or RecordBatch table */
  const uint8_t *body;
  int64_t body_len;
} msg;

/* Parses the Message flatbuffer [fb, fb + len); its body starts at BODY, with at most AVAIL bytes there. */
static int parse_message(const ctx *c, const uint8_t *fb, size_t len, const uint8_t *body, int64_t avail,
                         msg *m) {
  fb_table t;
  int bad = 0;
  if (fb_root(fb, len, &t) != 0) return fail(c, "corrupt message metadata");
  int16_t version = fb_i16(&t, MSG_VERSION, 0, &bad);
  m->type = fb_u8(&t, MSG_HEADER_TYPE, 0, &bad);
  m->body_len = fb_i64(&t, MSG_BODY_LENGTH, 0, &bad);
  int has = fb_table_field(&t, MSG_HEADER, &m->header, &bad);
  if (bad || !has) return fail(c, "corrupt message");
  if (version < 3) return fail(c, "Arrow metadata version V%d is too old (V4 or later is needed)", version + 1);
  if (m->body_len < 0 || m->body_len > avail) return fail(c, "message body runs past the end of the file");
  m->body = body;
  return 0;
}

/* Reads the encapsulated message at POS (stream format): continuation marker (optional, legacy), metadata
 * length, flatbuffer, body. *next is where the following message starts; *eos is set at the end. */
static int read_stream_message(const ctx *c, const uint8_t *map, size_t size, size_t pos, msg *m,
                               size_t *next, int *eos) {
  *eos = 0;
  if (pos == size) {
    *eos = 1; /* a stream may simply end after a message */
    return 0;
  }
  if (size - pos < 4) return fail(c, "truncated message at byte %zu", pos);
  size_t hdr = 4;
  uint32_t len = fb_load_u32(map + pos);
  if (len == 0xFFFFFFFFu) {
    if (size - pos < 8) return fail(c, "truncated message at byte %zu", pos);
    len = fb_load_u32(map + pos + 4);
    hdr = 8;
  }
  if (len == 0) {
    *eos = 1;
    return 0;
  }
  if (len > INT32_MAX || len > size - pos - hdr) return fail(c, "truncated message at byte %zu", pos);
  size_t body = pos + hdr + len;
  if (parse_message(c, map + pos + hdr, len, map + body, (int64_t)(size - body), m) != 0) return -1;
  *next = body + (size_t)m->body_len;
  return 0;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Record batch metadata: counts checked at open, so reading a batch cannot run off its vectors. */

typedef struct layout {
  size_t nodes, buffers, views;
} layout;

/* Nodes and buffers of field D (as its dictionary's values when AS_VALUE) and its children. */
static void count_layout(const fdesc *d, int as_value, layout *l) {
  l->nodes++;
  if (d->dict && !as_value) {
    l->buffers += 2;
    return;
  }
  switch (d->phys) {
  case P_NULL: break;
  case P_FIXED:
  case P_BOOL: l->buffers += 2; break;
  case P_BIN32:
  case P_BIN64: l->buffers += 3; break;
  case P_VIEW: l->buffers += 2; l->views++; break;
  case P_LIST32:
  case P_LIST64: l->buffers += 2; break;
  case P_FSL:
  case P_STRUCT: l->buffers += 1; break;
  }
  for (size_t i = 0; i < d->n_children; i++) count_layout(&d->children[i], 0, l);
}

static int tree_has_dict(const fdesc *d) {
  if (d->dict) return 1;
  for (size_t i = 0; i < d->n_children; i++)
    if (tree_has_dict(&d->children[i])) return 1;
  return 0;
}

/* The codec of a RecordBatch, CODEC_NONE when uncompressed, -2 when unsupported. */
static int batch_codec(const fb_table *rb, int *bad) {
  fb_table bc;
  if (!fb_table_field(rb, RB_COMPRESSION, &bc, bad)) return CODEC_NONE;
  int codec = (int8_t)fb_u8(&bc, 0, 0, bad);
  int method = (int8_t)fb_u8(&bc, 1, 0, bad);
  return (codec == CODEC_LZ4_FRAME || codec == CODEC_ZSTD) && method == 0 ? codec : -2;
}

/* Checks the vectors of RecordBatch RB against the columns COLS (dictionary values when AS_VALUE) and the
 * body; sets *rows and *owned. */
static int check_batch(const ctx *c, const fb_table *rb, const fdesc *cols, size_t ncols, int as_value,
                       const uint8_t *body, int64_t body_len, int64_t *rows, int *owned) {
  int bad = 0;
  layout l = {0, 0, 0};
  fb_vec nodes, bufs, var;
  int64_t len = fb_i64(rb, RB_LENGTH, 0, &bad);
  size_t nn = fb_vector(rb, RB_NODES, FIELD_NODE_SIZE, &nodes, &bad);
  size_t nb = fb_vector(rb, RB_BUFFERS, BUFFER_SIZE, &bufs, &bad);
  size_t nv = fb_vector(rb, RB_VARIADIC, 8, &var, &bad);
  int codec = batch_codec(rb, &bad);
  if (bad || len < 0) return fail(c, "corrupt record batch metadata");
  if (codec == -2) return fail(c, "unsupported body compression");
  for (size_t i = 0; i < ncols; i++) count_layout(&cols[i], as_value, &l);
  if (nn != l.nodes) return fail(c, "record batch has %zu field nodes, the schema needs %zu", nn, l.nodes);
  if (nv != l.views)
    return fail(c, "record batch has %zu variadic buffer counts, the schema needs %zu", nv, l.views);
  size_t need = l.buffers;
  for (size_t i = 0; i < nv; i++) {
    int64_t k = (int64_t)fb_load_u64(fb_vec_elem(&var, i, 8));
    if (k < 0 || (uint64_t)k > nb || need + (size_t)k > nb) return fail(c, "bad variadic buffer count");
    need += (size_t)k;
  }
  if (nb != need) return fail(c, "record batch has %zu buffers, the schema needs %zu", nb, need);
  int misaligned = 0;
  for (size_t i = 0; i < nb; i++) {
    const uint8_t *b = fb_vec_elem(&bufs, i, BUFFER_SIZE);
    int64_t off = (int64_t)fb_load_u64(b), blen = (int64_t)fb_load_u64(b + 8), end;
    if (off < 0 || blen < 0 || !add_ok(off, blen, &end) || end > body_len)
      return fail(c, "buffer %zu lies outside its message body", i);
    misaligned |= blen && ((uintptr_t)(body + off) & 7);
  }
  /* Top-level columns have the batch's length; deeper nodes are checked when the batch is read. */
  size_t node = 0;
  for (size_t i = 0; i < ncols; i++) {
    const uint8_t *nd = fb_vec_elem(&nodes, node, FIELD_NODE_SIZE);
    int64_t nlen = (int64_t)fb_load_u64(nd), nulls = (int64_t)fb_load_u64(nd + 8);
    if (nlen != len || nulls < 0 || nulls > nlen)
      return ffail(c, cols[i].path, "column length %lld differs from the batch length %lld", (long long)nlen,
                   (long long)len);
    layout sub = {0, 0, 0};
    count_layout(&cols[i], as_value, &sub);
    node += sub.nodes;
  }
  int dict = 0;
  for (size_t i = 0; i < ncols && !as_value; i++) dict |= tree_has_dict(&cols[i]);
  *rows = len;
  *owned = codec != CODEC_NONE || dict || l.views || misaligned;
  return 0;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Reading a batch's arrays */

typedef struct rd {
  ctx c;
  arena *ar;
  const uint8_t *body;
  int64_t body_len;
  fb_vec nodes, bufs, var;
  size_t node_i, buf_i, var_i;
  int codec;
  at_array *const *dicts;
} rd;

static int rd_node(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *nd = fb_vec_elem(&r->nodes, r->node_i++, FIELD_NODE_SIZE);
  if (!nd) return ffail(&r->c, d->path, "missing field node");
  a->length = (int64_t)fb_load_u64(nd);
  a->null_count = (int64_t)fb_load_u64(nd + 8);
  if (a->length < 0 || a->null_count < 0 || a->null_count > a->length)
    return ffail(&r->c, d->path, "invalid length %lld or null count %lld", (long long)a->length,
                 (long long)a->null_count);
  return 0;
}

/* Grows a decompression output block to CAP bytes (keeping *have); NULL when out of memory. */
static ablk *grow(ablk *b, size_t cap) {
  ablk *n = realloc(b, sizeof(ablk) + cap);
  if (!n) free(b);
  return n;
}

/* First output capacity: the declared size when small, else a guess that grows with real output, so
 * that a lying length prefix cannot make us allocate more than the data actually expands to. */
static size_t first_cap(size_t src_len, size_t want) {
  size_t guess = src_len < (SIZE_MAX - 65536) / 4 ? src_len * 4 + 65536 : SIZE_MAX;
  return want < guess ? want : guess;
}

/* Decompresses the LZ4 frame(s) in [src, src + n) into WANT bytes of *out (a block not yet in an arena). */
static int unlz4(const uint8_t *src, size_t n, size_t want, ablk **out) {
  LZ4F_dctx *dctx;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) return -1;
  size_t cap = first_cap(n, want), have = 0, used = 0;
  ablk *b = blk_new(cap);
  int rc = -1;
  while (b && have < want) {
    if (have == cap && !(b = grow(b, cap = cap > want / 2 ? want : cap * 2))) break;
    size_t dst = cap - have, in = n - used;
    size_t ret = LZ4F_decompress(dctx, (uint8_t *)b->data + have, &dst, src + used, &in, NULL);
    if (LZ4F_isError(ret) || (dst == 0 && in == 0)) break;
    have += dst;
    used += in;
  }
  if (b && have == want) rc = 0;
  LZ4F_freeDecompressionContext(dctx);
  if (rc != 0) free(b);
  *out = rc == 0 ? b : NULL;
  return rc;
}

static int unzstd(const uint8_t *src, size_t n, size_t want, ablk **out) {
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx) return -1;
  size_t cap = first_cap(n, want);
  ablk *b = blk_new(cap);
  ZSTD_inBuffer in = {src, n, 0};
  size_t have = 0;
  int rc = -1;
  while (b && have < want) {
    if (have == cap && !(b = grow(b, cap = cap > want / 2 ? want : cap * 2))) break;
    ZSTD_outBuffer o = {(uint8_t *)b->data + have, cap - have, 0};
    size_t in_before = in.pos;
    size_t ret = ZSTD_decompressStream(dctx, &o, &in);
    if (ZSTD_isError(ret) || (o.pos == 0 && in.pos == in_before)) break;
    have += o.pos;
  }
  if (b && have == want) rc = 0;
  ZSTD_freeDCtx(dctx);
  if (rc != 0) free(b);
  *out = rc == 0 ? b : NULL;
  return rc;
}

/* The next buffer of the batch, which must hold at least NEED bytes (NEED < 0: no minimum; then the
 * whole buffer). A compressed buffer is decompressed, only as far as NEED when that is known. A buffer
 * misaligned in the mapping is copied so that consumers may load its values directly. */
static int rd_buffer(rd *r, const fdesc *d, int64_t need, const uint8_t **out, int64_t *out_len) {
  const uint8_t *b = fb_vec_elem(&r->bufs, r->buf_i, BUFFER_SIZE);
  size_t idx = r->buf_i++;
  if (!b) return ffail(&r->c, d->path, "missing buffer");
  int64_t off = (int64_t)fb_load_u64(b), len = (int64_t)fb_load_u64(b + 8), end;
  if (off < 0 || len < 0 || !add_ok(off, len, &end) || end > r->body_len)
    return ffail(&r->c, d->path, "buffer %zu lies outside its message body", idx);
  const uint8_t *p = r->body + off;
  if (r->codec != CODEC_NONE && len > 0) {
    if (len < 8) return ffail(&r->c, d->path, "compressed buffer %zu is too short", idx);
    int64_t raw = (int64_t)fb_load_u64(p);
    p += 8;
    len -= 8;
    if (raw != -1) { /* -1: stored uncompressed */
      if (raw < 0 || raw > MAX_BUFFER || (need >= 0 && raw < need))
        return ffail(&r->c, d->path, "buffer %zu: uncompressed length %lld is invalid", idx, (long long)raw);
      int64_t want = need >= 0 ? need : raw; /* a larger prefix is harmless: we stop at what we need */
      ablk *blk = NULL;
      if (want > 0 && (r->codec == CODEC_LZ4_FRAME ? unlz4(p, (size_t)len, (size_t)want, &blk)
                                                   : unzstd(p, (size_t)len, (size_t)want, &blk)) != 0)
        return ffail(&r->c, d->path, "buffer %zu does not decompress to %lld bytes", idx, (long long)want);
      *out = blk ? blk_adopt(r->ar, blk, (size_t)want) : zero_offsets;
      *out_len = want;
      return 0;
    }
  }
  if (need >= 0 && len < need)
    return ffail(&r->c, d->path, "buffer %zu has %lld bytes, needs %lld", idx, (long long)len, (long long)need);
  if (len > 0 && ((uintptr_t)p & 7)) {
    uint8_t *copy = ar_buffer(r->ar, len);
    if (!copy) return ffail(&r->c, d->path, "out of memory");
    memcpy(copy, p, (size_t)len);
    p = copy;
  }
  *out = len > 0 ? p : zero_offsets;
  *out_len = len;
  return 0;
}

/* The validity buffer: kept only when there are nulls (then it must cover every value). */
static int rd_validity(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *p;
  int64_t len;
  if (a->null_count == 0) { /* skip it, without decompressing */
    if (!fb_vec_elem(&r->bufs, r->buf_i++, BUFFER_SIZE)) return ffail(&r->c, d->path, "missing buffer");
    return 0;
  }
  if (rd_buffer(r, d, bitmap_bytes(a->length), &p, &len) != 0) return -1;
  a->validity = p;
  return 0;
}

/* Offsets: LENGTH + 1 entries of width W, nonnegative and monotone; returns the last in *last. */
static int rd_offsets(rd *r, const fdesc *d, at_array *a, int w, int64_t *last) {
  const uint8_t *p;
  int64_t len, need;
  if (!mul_ok(a->length + 1, w, &need)) return ffail(&r->c, d->path, "length overflows");
  if (rd_buffer(r, d, a->length ? need : -1, &p, &len) != 0) return -1;
  if (a->length == 0 && len < need) p = zero_offsets; /* an empty array may omit its offsets */
  int64_t prev = load_offset(p, w, 0);
  if (prev < 0) return ffail(&r->c, d->path, "negative offset");
  for (int64_t i = 1; i <= a->length; i++) {
    int64_t o = load_offset(p, w, i);
    if (o < prev) return ffail(&r->c, d->path, "offsets go backward at %lld", (long long)i);
    prev = o;
  }
  a->offsets = p;
  *last = prev;
  return 0;
}

static int rd_array(rd *r, const fdesc *d, at_array *a, int as_value);

static int rd_children(rd *r, const fdesc *d, at_array *a) {
  if (d->n_children == 0) return 0;
  a->children = ar_calloc(r->ar, d->n_children, sizeof(at_array));
  if (!a->children) return ffail(&r->c, d->path, "out of memory");
  a->n_children = d->n_children;
  for (size_t i = 0; i < d->n_children; i++)
    if (rd_array(r, &d->children[i], &a->children[i], 0) != 0) return -1;
  return 0;
}

static int rd_fixed(rd *r, const fdesc *d, at_array *a, int width) {
  int64_t need;
  if (width == 0)
    need = bitmap_bytes(a->length);
  else if (!mul_ok(a->length, width, &need))
    return ffail(&r->c, d->path, "length overflows");
  return rd_buffer(r, d, need, &a->values, &a->values_len);
}

static int rd_binary(rd *r, const fdesc *d, at_array *a) {
  int64_t last;
  if (rd_offsets(r, d, a, offsets_width(d), &last) != 0) return -1;
  return rd_buffer(r, d, last, &a->values, &a->values_len);
}

static int rd_view(rd *r, const fdesc *d, at_array *a);

static int rd_list(rd *r, const fdesc *d, at_array *a) {
  int64_t last;
  if (rd_offsets(r, d, a, offsets_width(d), &last) != 0) return -1;
  if (rd_children(r, d, a) != 0) return -1;
  if (last > a->children[0].length)
    return ffail(&r->c, d->path, "offsets run past the child's %lld values", (long long)a->children[0].length);
  return 0;
}

static int rd_fsl(rd *r, const fdesc *d, at_array *a) {
  int64_t need;
  if (!mul_ok(a->length, d->field->list_size, &need)) return ffail(&r->c, d->path, "length overflows");
  if (rd_children(r, d, a) != 0) return -1;
  if (a->children[0].length != need)
    return ffail(&r->c, d->path, "child has %lld values, needs %lld", (long long)a->children[0].length,
                 (long long)need);
  return 0;
}

static int rd_struct(rd *r, const fdesc *d, at_array *a) {
  if (rd_children(r, d, a) != 0) return -1;
  for (size_t i = 0; i < a->n_children; i++)
    if (a->children[i].length != a->length)
      return ffail(&r->c, d->children[i].path, "length %lld differs from its struct's %lld",
                   (long long)a->children[i].length, (long long)a->length);
  return 0;
}

static int rd_dict(rd *r, const fdesc *d, at_array *a);

/* Array D (its dictionary's values when AS_VALUE) from the next node and buffers. */
static int rd_array(rd *r, const fdesc *d, at_array *a, int as_value) {
  if (rd_node(r, d, a) != 0) return -1;
  if (d->phys == P_NULL && !(d->dict && !as_value)) {
    a->null_count = a->length; /* writers disagree on the node's null count; the type says it all */
    return 0;
  }
  if (rd_validity(r, d, a) != 0) return -1;
  if (d->dict && !as_value) return rd_dict(r, d, a);
  switch (d->phys) {
  case P_NULL: break;
  case P_FIXED: return rd_fixed(r, d, a, d->width);
  case P_BOOL: return rd_fixed(r, d, a, 0);
  case P_BIN32:
  case P_BIN64: return rd_binary(r, d, a);
  case P_VIEW: return rd_view(r, d, a);
  case P_LIST32:
  case P_LIST64: return rd_list(r, d, a);
  case P_FSL: return rd_fsl(r, d, a);
  case P_STRUCT: return rd_struct(r, d, a);
  }
  return ffail(&r->c, d->path, "internal error: unknown layout");
}

/* ------------------------------------------------------------------------------------------------------ */
/* View types (utf8_view, binary_view): 16-byte views, inline up to 12 bytes, else (length, prefix, buffer
 * index, offset) into variadic data buffers. Decoded to 64-bit offsets and one data buffer. */

typedef struct view {
  int32_t len, buf, off;
  const uint8_t *inline_data;
} view;

static view load_view(const uint8_t *v) {
  view x = {(int32_t)fb_load_u32(v), 0, 0, v + 4};
  if (x.len > 12) {
    x.buf = (int32_t)fb_load_u32(v + 8);
    x.off = (int32_t)fb_load_u32(v + 12);
  }
  return x;
}

static int view_valid(const at_array *a, int64_t i) { return !a->validity || bit(a->validity, i); }

/* Bytes of the variadic buffers that the views use: only that much of each is decompressed. */
static int view_needs(rd *r, const fdesc *d, const at_array *a, const uint8_t *views, int64_t nbuf,
                      int64_t *need, int64_t *total) {
  *total = 0;
  for (int64_t i = 0; i < a->length; i++) {
    if (!view_valid(a, i)) continue;
    view v = load_view(views + 16 * i);
    if (v.len < 0) return ffail(&r->c, d->path, "negative view length at %lld", (long long)i);
    if (!add_ok(*total, v.len, total) || *total > MAX_BUFFER) return ffail(&r->c, d->path, "values too large");
    if (v.len <= 12) continue;
    if (v.buf < 0 || v.buf >= nbuf || v.off < 0)
      return ffail(&r->c, d->path, "view %lld points outside the data buffers", (long long)i);
    int64_t end = (int64_t)v.off + v.len;
    if (end > need[v.buf]) need[v.buf] = end;
  }
  return 0;
}

static int rd_view(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *views;
  int64_t vlen, need, total;
  if (!mul_ok(a->length, 16, &need)) return ffail(&r->c, d->path, "length overflows");
  if (rd_buffer(r, d, need, &views, &vlen) != 0) return -1;
  const uint8_t *nv = fb_vec_elem(&r->var, r->var_i++, 8);
  int64_t nbuf = nv ? (int64_t)fb_load_u64(nv) : -1;
  if (nbuf < 0) return ffail(&r->c, d->path, "missing variadic buffer count");
  int64_t *needs = calloc((size_t)nbuf + 1, sizeof *needs);
  const uint8_t **data = calloc((size_t)nbuf + 1, sizeof *data);
  int rc = -1;
  if (!needs || !data) {
    ffail(&r->c, d->path, "out of memory");
    goto done;
  }
  if (view_needs(r, d, a, views, nbuf, needs, &total) != 0) goto done;
  for (int64_t k = 0; k < nbuf; k++) {
    int64_t got;
    if (rd_buffer(r, d, needs[k], &data[k], &got) != 0) goto done;
  }
  uint8_t *offs = ar_buffer(r->ar, (a->length + 1) * 8), *vals = ar_buffer(r->ar, total);
  if (!offs || !vals) {
    ffail(&r->c, d->path, "out of memory");
    goto done;
  }
  int64_t pos = 0;
  store_offset(offs, 8, 0, 0);
  for (int64_t i = 0; i < a->length; i++) {
    if (view_valid(a, i)) {
      view v = load_view(views + 16 * i);
      memcpy(vals + pos, v.len <= 12 ? v.inline_data : data[v.buf] + v.off, (size_t)v.len);
      pos += v.len;
    }
    store_offset(offs, 8, i + 1, pos);
  }
  a->offsets = offs;
  a->values = vals;
  a->values_len = total;
  rc = 0;
done:
  free(needs);
  free(data);
  return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Dictionaries: a generic take of dictionary rows, recursive over nested value types. */

static int take(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst);

static int take_validity(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n,
                         at_array *dst) {
  int64_t nulls = 0;
  for (int64_t i = 0; i < n; i++) nulls += ix[i] < 0 || (src->validity && !bit(src->validity, ix[i]));
  dst->length = n;
  dst->null_count = nulls;
  if (!nulls) return 0;
  uint8_t *bits = ar_buffer(r->ar, bitmap_bytes(n));
  if (!bits) return ffail(&r->c, d->path, "out of memory");
  memset(bits, 0, (size_t)bitmap_bytes(n));
  for (int64_t i = 0; i < n; i++)
    if (ix[i] >= 0 && (!src->validity || bit(src->validity, ix[i]))) set_bit(bits, i);
  dst->validity = bits;
  return 0;
}

static int take_fixed(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int w = d->phys == P_BOOL ? 0 : d->width;
  int64_t bytes = bitmap_bytes(n);
  if (w && !mul_ok(n, w, &bytes)) return ffail(&r->c, d->path, "decoded column too large");
  uint8_t *v = ar_buffer(r->ar, bytes);
  if (!v) return ffail(&r->c, d->path, "decoded column too large or out of memory");
  memset(v, 0, (size_t)bytes);
  for (int64_t i = 0; i < n; i++) {
    if (ix[i] < 0) continue;
    if (w)
      memcpy(v + i * w, src->values + ix[i] * w, (size_t)w);
    else if (bit(src->values, ix[i]))
      set_bit(v, i);
  }
  dst->values = v;
  dst->values_len = bytes;
  return 0;
}

static int take_binary(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n,
                       at_array *dst) {
  int w = offsets_width(d);
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++)
    if (ix[i] >= 0 && !add_ok(total, load_offset(src->offsets, w, ix[i] + 1) -
                                         load_offset(src->offsets, w, ix[i]), &total))
      return ffail(&r->c, d->path, "decoded column too large");
  if (total > MAX_BUFFER || (w == 4 && total > INT32_MAX)) return ffail(&r->c, d->path, "decoded column too large");
  uint8_t *offs = ar_buffer(r->ar, (n + 1) * w), *vals = ar_buffer(r->ar, total);
  if (!offs || !vals) return ffail(&r->c, d->path, "out of memory");
  int64_t pos = 0;
  store_offset(offs, w, 0, 0);
  for (int64_t i = 0; i < n; i++) {
    if (ix[i] >= 0) {
      int64_t s = load_offset(src->offsets, w, ix[i]), e = load_offset(src->offsets, w, ix[i] + 1);
      memcpy(vals + pos, src->values + s, (size_t)(e - s));
      pos += e - s;
    }
    store_offset(offs, w, i + 1, pos);
  }
  dst->offsets = offs;
  dst->values = vals;
  dst->values_len = total;
  return 0;
}

/* Takes CHILD_N rows of SRC's only child, by the child indices CIX (malloc'd; freed here). */
static int take_child(rd *r, const fdesc *d, const at_array *src, int64_t *cix, int64_t child_n,
                      at_array *dst) {
  int rc = -1;
  dst->children = ar_calloc(r->ar, 1, sizeof(at_array));
  if (!dst->children)
    ffail(&r->c, d->path, "out of memory");
  else {
    dst->n_children = 1;
    rc = take(r, &d->children[0], &src->children[0], cix, child_n, &dst->children[0]);
  }
  free(cix);
  return rc;
}

static int take_list(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int w = offsets_width(d);
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++)
    if (ix[i] >= 0 && !add_ok(total, load_offset(src->offsets, w, ix[i] + 1) -
                                         load_offset(src->offsets, w, ix[i]), &total))
      return ffail(&r->c, d->path, "decoded column too large");
  if (total > MAX_BUFFER / 8 || (w == 4 && total > INT32_MAX)) return ffail(&r->c, d->path, "decoded column too large");
  uint8_t *offs = ar_buffer(r->ar, (n + 1) * w);
  int64_t *cix = malloc((size_t)(total ? total : 1) * sizeof *cix);
  if (!offs || !cix) {
    free(cix);
    return ffail(&r->c, d->path, "out of memory");
  }
  int64_t pos = 0;
  store_offset(offs, w, 0, 0);
  for (int64_t i = 0; i < n; i++) {
    if (ix[i] >= 0)
      for (int64_t j = load_offset(src->offsets, w, ix[i]); j < load_offset(src->offsets, w, ix[i] + 1); j++)
        cix[pos++] = j;
    store_offset(offs, w, i + 1, pos);
  }
  dst->offsets = offs;
  return take_child(r, d, src, cix, total, dst);
}

static int take_fsl(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int64_t ls = d->field->list_size, total;
  if (!mul_ok(n, ls, &total) || total > MAX_BUFFER / 8) return ffail(&r->c, d->path, "decoded column too large");
  int64_t *cix = malloc((size_t)(total ? total : 1) * sizeof *cix);
  if (!cix) return ffail(&r->c, d->path, "out of memory");
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < ls; j++) cix[i * ls + j] = ix[i] < 0 ? -1 : ix[i] * ls + j;
  return take_child(r, d, src, cix, total, dst);
}

static int take_struct(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n,
                       at_array *dst) {
  if (d->n_children == 0) return 0;
  dst->children = ar_calloc(r->ar, d->n_children, sizeof(at_array));
  if (!dst->children) return ffail(&r->c, d->path, "out of memory");
  dst->n_children = d->n_children;
  for (size_t i = 0; i < d->n_children; i++)
    if (take(r, &d->children[i], &src->children[i], ix, n, &dst->children[i]) != 0) return -1;
  return 0;
}

/* DST = rows IX of SRC (a validated array of field D's value type); IX[i] < 0 gives a null row. */
static int take(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  if (d->phys == P_NULL) {
    dst->length = dst->null_count = n;
    return 0;
  }
  if (take_validity(r, d, src, ix, n, dst) != 0) return -1;
  switch (d->phys) {
  case P_NULL: break;
  case P_FIXED:
  case P_BOOL: return take_fixed(r, d, src, ix, n, dst);
  case P_BIN32:
  case P_BIN64:
  case P_VIEW: return take_binary(r, d, src, ix, n, dst);
  case P_LIST32:
  case P_LIST64: return take_list(r, d, src, ix, n, dst);
  case P_FSL: return take_fsl(r, d, src, ix, n, dst);
  case P_STRUCT: return take_struct(r, d, src, ix, n, dst);
  }
  return ffail(&r->c, d->path, "internal error: unknown layout");
}

/* Loads the index of row I (width W, signedness S) as int64, or -1 for an unrepresentable one. */
static int64_t load_index(const uint8_t *p, int w, int s, int64_t i) {
  switch (w) {
  case 1: return s ? (int8_t)p[i] : p[i];
  case 2: return s ? (int16_t)fb_load_u16(p + 2 * i) : fb_load_u16(p + 2 * i);
  case 4: return s ? (int32_t)fb_load_u32(p + 4 * i) : (int64_t)fb_load_u32(p + 4 * i);
  default: {
    uint64_t v = fb_load_u64(p + 8 * i);
    return v > INT64_MAX ? -1 : (int64_t)v;
  }
  }
}

static int rd_dict(rd *r, const fdesc *d, at_array *a) {
  const at_array *dict = r->dicts ? r->dicts[d->dict_slot] : NULL;
  if (!dict) return ffail(&r->c, d->path, "no dictionary with id %lld", (long long)d->dict_id);
  at_array idx = *a;
  if (rd_fixed(r, d, &idx, d->idx_width) != 0) return -1;
  int64_t *ix = malloc((size_t)(a->length ? a->length : 1) * sizeof *ix);
  if (!ix) return ffail(&r->c, d->path, "out of memory");
  for (int64_t i = 0; i < a->length; i++) {
    ix[i] = view_valid(&idx, i) ? load_index(idx.values, d->idx_width, d->idx_signed, i) : -1;
    if (view_valid(&idx, i) && (ix[i] < 0 || ix[i] >= dict->length)) {
      free(ix);
      return ffail(&r->c, d->path, "dictionary index out of range at row %lld", (long long)i);
    }
  }
  memset(a, 0, sizeof *a);
  int rc = take(r, d, dict, ix, idx.length, a);
  free(ix);
  return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Decoding a RecordBatch table into arrays */

static void rd_init(rd *r, const ctx *c, arena *ar, const fb_table *rb, const uint8_t *body, int64_t body_len,
                    at_array *const *dicts) {
  int bad = 0;
  memset(r, 0, sizeof *r);
  r->c = *c;
  r->ar = ar;
  r->body = body;
  r->body_len = body_len;
  fb_vector(rb, RB_NODES, FIELD_NODE_SIZE, &r->nodes, &bad);
  fb_vector(rb, RB_BUFFERS, BUFFER_SIZE, &r->bufs, &bad);
  fb_vector(rb, RB_VARIADIC, 8, &r->var, &bad);
  r->codec = batch_codec(rb, &bad); /* all checked by check_batch at open */
  r->dicts = dicts;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Opening: dictionaries and the batch index */

static int add_batch(const ctx *c, at_file *f, const msg *m) {
  batch_ix bx = {m->header, m->body, m->body_len, 0, 0, f->dicts};
  if (check_batch(c, &m->header, f->cols, f->schema.n_fields, 0, m->body, m->body_len, &bx.rows, &bx.owned) != 0)
    return -1;
  for (size_t i = 0; i < f->n_dict; i++)
    if (!f->dicts[i]) return ffail(c, f->dict_fields[i]->path, "no dictionary before the first record batch");
  if (f->n_batches == INT_MAX || !add_ok(f->num_rows, bx.rows, &f->num_rows)) return fail(c, "too many batches");
  if (f->n_batches == f->cap_batches) {
    int cap = f->cap_batches < 16 ? 16 : f->cap_batches > INT_MAX / 2 ? INT_MAX : f->cap_batches * 2;
    batch_ix *n = realloc(f->batches, (size_t)cap * sizeof *n);
    if (!n) return fail(c, "out of memory");
    f->batches = n;
    f->cap_batches = cap;
  }
  f->batches[f->n_batches++] = bx;
  f->dicts_shared = 1;
  return 0;
}

static int add_dictionary(const ctx *c, at_file *f, const msg *m) {
  int bad = 0;
  fb_table data;
  int64_t id = fb_i64(&m->header, DB_ID, 0, &bad);
  int delta = fb_u8(&m->header, DB_IS_DELTA, 0, &bad) != 0;
  if (!fb_table_field(&m->header, DB_DATA, &data, &bad) || bad) return fail(c, "corrupt dictionary batch");
  fdesc *d = NULL;
  for (size_t i = 0; i < f->n_dict && !d; i++)
    if (f->dict_fields[i]->dict_id == id) d = f->dict_fields[i];
  if (!d) return fail(c, "dictionary batch with unknown id %lld", (long long)id);
  if (delta) return ffail(c, d->path, "delta dictionary batches are not supported");
  int64_t rows;
  int owned;
  if (check_batch(c, &data, d, 1, 1, m->body, m->body_len, &rows, &owned) != 0) return -1;
  if (f->dicts_shared) { /* batches already indexed keep the dictionaries they were written with */
    at_array **n = ar_calloc(&f->ar, f->n_dict, sizeof *n);
    if (!n) return fail(c, "out of memory");
    memcpy(n, f->dicts, f->n_dict * sizeof *n);
    f->dicts = n;
    f->dicts_shared = 0;
  }
  at_array *a = ar_calloc(&f->ar, 1, sizeof *a);
  if (!a) return fail(c, "out of memory");
  rd r;
  rd_init(&r, c, &f->ar, &data, m->body, m->body_len, NULL);
  if (rd_array(&r, d, a, 1) != 0) return -1;
  f->dicts[d->dict_slot] = a;
  return 0;
}

static int open_stream(const ctx *c, at_file *f) {
  size_t pos = 0, next = 0;
  int eos, seen_schema = 0;
  pctx p = {*c, f, MAX_FIELDS};
  for (;;) {
    msg m;
    if (read_stream_message(c, f->map, f->size, pos, &m, &next, &eos) != 0) return -1;
    if (eos) break;
    if (!seen_schema && m.type != HDR_SCHEMA) return fail(c, "not an Arrow file (no schema message first)");
    if (m.type == HDR_SCHEMA) {
      if (seen_schema) return fail(c, "a second schema message");
      if (parse_schema(&p, &m.header) != 0) return -1;
      seen_schema = 1;
    } else if (m.type == HDR_DICTIONARY) {
      if (add_dictionary(c, f, &m) != 0) return -1;
    } else if (m.type == HDR_RECORD_BATCH) {
      if (add_batch(c, f, &m) != 0) return -1;
    } else {
      return fail(c, "unknown message type %d", m.type);
    }
    pos = next;
  }
  if (!seen_schema) return fail(c, "empty Arrow stream (no schema)");
  return 0;
}

/* Reads the message of file-format BLOCK I of vector V, all of which must lie before the footer at END. */
static int read_block(const ctx *c, at_file *f, const fb_vec *v, size_t i, size_t end, int type, msg *m) {
  const uint8_t *b = fb_vec_elem(v, i, BLOCK_SIZE);
  int64_t off = (int64_t)fb_load_u64(b), body_len = (int64_t)fb_load_u64(b + 16), e;
  int32_t meta = (int32_t)fb_load_u32(b + 8);
  if (off < 8 || meta < 8 || body_len < 0 || !add_ok(off, meta, &e) || !add_ok(e, body_len, &e) ||
      e > (int64_t)end)
    return fail(c, "block %zu lies outside the file", i);
  const uint8_t *p = f->map + off;
  size_t hdr = fb_load_u32(p) == 0xFFFFFFFFu ? 8 : 4;
  uint32_t len = fb_load_u32(p + hdr - 4);
  if (len > (uint32_t)meta - hdr) return fail(c, "block %zu: message larger than its block", i);
  if (parse_message(c, p + hdr, len, p + meta, body_len, m) != 0) return -1;
  if (m->type != type) return fail(c, "block %zu holds the wrong message type %d", i, m->type);
  return 0;
}

static int open_file_format(const ctx *c, at_file *f) {
  static const char magic[6] = {'A', 'R', 'R', 'O', 'W', '1'};
  if (f->size < 8 + 4 + 6 || memcmp(f->map + f->size - 6, magic, 6) != 0)
    return fail(c, "truncated Arrow file (no footer magic)");
  uint32_t flen = fb_load_u32(f->map + f->size - 10);
  if (flen == 0 || flen > f->size - 18) return fail(c, "bad footer length %u", flen);
  size_t foot = f->size - 10 - flen;
  fb_table ft, st;
  fb_vec dicts, batches;
  int bad = 0;
  if (fb_root(f->map + foot, flen, &ft) != 0) return fail(c, "corrupt footer");
  int has_schema = fb_table_field(&ft, FOOT_SCHEMA, &st, &bad);
  size_t nd = fb_vector(&ft, FOOT_DICTIONARIES, BLOCK_SIZE, &dicts, &bad);
  size_t nb = fb_vector(&ft, FOOT_BATCHES, BLOCK_SIZE, &batches, &bad);
  if (bad || !has_schema) return fail(c, "corrupt footer");
  pctx p = {*c, f, MAX_FIELDS};
  if (parse_schema(&p, &st) != 0) return -1;
  for (size_t i = 0; i < nd; i++) {
    msg m;
    if (read_block(c, f, &dicts, i, foot, HDR_DICTIONARY, &m) != 0 || add_dictionary(c, f, &m) != 0) return -1;
  }
  for (size_t i = 0; i < nb; i++) {
    msg m;
    if (read_block(c, f, &batches, i, foot, HDR_RECORD_BATCH, &m) != 0 || add_batch(c, f, &m) != 0) return -1;
  }
  return 0;
}

static int map_file(const ctx *c, at_file *f) {
  int fd = open(c->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(c, "%s", strerror(errno));
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) != 0)
    fail(c, "%s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    fail(c, "not a regular file");
  else if (st.st_size < 8)
    fail(c, "too short to be an Arrow file (%lld bytes)", (long long)st.st_size);
  else if ((uint64_t)st.st_size > SIZE_MAX)
    fail(c, "too large");
  else {
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
      fail(c, "mmap: %s", strerror(errno));
    else {
      f->map = m;
      f->size = (size_t)st.st_size;
      rc = 0;
    }
  }
  close(fd);
  return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Public API */

int at_file_open(const char *path, at_file **out, char *err, size_t errlen) {
  ctx c = {path, err, errlen};
  *out = NULL;
  at_file *f = calloc(1, sizeof *f);
  if (!f) return fail(&c, "out of memory");
  f->path = ar_strdup(&f->ar, path, strlen(path));
  if (!f->path) {
    free(f);
    return fail(&c, "out of memory");
  }
  c.path = f->path;
  int rc = map_file(&c, f);
  if (rc == 0)
    rc = memcmp(f->map, "ARROW1", 6) == 0 ? open_file_format(&c, f) : open_stream(&c, f);
  if (rc != 0) {
    at_file_close(f);
    return -1;
  }
  *out = f;
  return 0;
}

void at_file_close(at_file *f) {
  if (!f) return;
  if (f->map) munmap(f->map, f->size);
  free(f->batches);
  ar_free(&f->ar);
  free(f);
}

const at_schema *at_file_schema(const at_file *f) { return &f->schema; }
int64_t at_file_num_rows(const at_file *f) { return f->num_rows; }
int at_file_num_batches(const at_file *f) { return f->n_batches; }

int64_t at_file_batch_rows(const at_file *f, int i) {
  return i >= 0 && i < f->n_batches ? f->batches[i].rows : -1;
}

int at_file_batch_is_owned(const at_file *f, int i) {
  return i >= 0 && i < f->n_batches ? f->batches[i].owned : 0;
}

/* An at_batch and the arena behind it, freed together. */
typedef struct batch_mem {
  at_batch b;
  arena ar;
} batch_mem;

int at_file_read_batch(const at_file *f, int i, at_batch **out, char *err, size_t errlen) {
  ctx c = {f->path, err, errlen};
  *out = NULL;
  if (i < 0 || i >= f->n_batches) return fail(&c, "no record batch %d", i);
  const batch_ix *bx = &f->batches[i];
  batch_mem *bm = calloc(1, sizeof *bm);
  if (!bm) return fail(&c, "out of memory");
  at_batch *b = &bm->b;
  b->priv = bm;
  b->length = bx->rows;
  b->n_columns = f->schema.n_fields;
  b->columns = b->n_columns ? ar_calloc(&bm->ar, b->n_columns, sizeof(at_array)) : NULL;
  if (b->n_columns && !b->columns) {
    at_batch_free(b);
    return fail(&c, "out of memory");
  }
  rd r;
  rd_init(&r, &c, &bm->ar, &bx->rb, bx->body, bx->body_len, bx->dicts);
  for (size_t k = 0; k < b->n_columns; k++) {
    if (rd_array(&r, &f->cols[k], &b->columns[k], 0) != 0) {
      at_batch_free(b);
      return -1;
    }
  }
  b->owned_bytes = bm->ar.data_bytes;
  *out = b;
  return 0;
}

void at_batch_free(at_batch *b) {
  if (!b) return;
  batch_mem *bm = b->priv;
  ar_free(&bm->ar);
  free(bm);
}

static int field_equal(const at_field *a, const at_field *b, int compare_name) {
  if (compare_name && strcmp(a->name, b->name) != 0) return 0;
  if (a->type != b->type || a->n_children != b->n_children) return 0;
  if (a->type == AT_FIXED_SIZE_BINARY && a->byte_width != b->byte_width) return 0;
  if (a->type == AT_FIXED_SIZE_LIST && a->list_size != b->list_size) return 0;
  if (a->type == AT_TIMESTAMP) {
    if (a->time_unit != b->time_unit || !a->timezone != !b->timezone) return 0;
    if (a->timezone && strcmp(a->timezone, b->timezone) != 0) return 0;
  }
  /* A list's item name differs between writers ("item", "element") and means nothing. */
  int names = a->type == AT_STRUCT;
  for (size_t i = 0; i < a->n_children; i++)
    if (!field_equal(&a->children[i], &b->children[i], names)) return 0;
  return 1;
}

int at_schema_equal(const at_schema *a, const at_schema *b) {
  if (a->n_fields != b->n_fields) return 0;
  for (size_t i = 0; i < a->n_fields; i++)
    if (!field_equal(&a->fields[i], &b->fields[i], 1)) return 0;
  return 1;
}

int at_type_fixed_width(const at_field *f) {
  switch (f->type) {
  case AT_BOOL: return 0;
  case AT_INT8:
  case AT_UINT8: return 1;
  case AT_INT16:
  case AT_UINT16:
  case AT_FLOAT16: return 2;
  case AT_INT32:
  case AT_UINT32:
  case AT_FLOAT32:
  case AT_DATE32: return 4;
  case AT_INT64:
  case AT_UINT64:
  case AT_FLOAT64:
  case AT_DATE64:
  case AT_TIMESTAMP: return 8;
  case AT_FIXED_SIZE_BINARY: return f->byte_width;
  default: return -1;
  }
}
