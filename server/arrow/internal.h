/* arrow/internal.h: what the files of the Arrow IPC reader share (see arrow_file.h for its contract).
 *
 * The reader is split by stage: util.c (errors, arenas), schema.c (flatbuffer schema -> at_field tree and a
 * parallel tree of private field descriptors), ipc.c (messages, the batch index of the file or stream format,
 * opening), decode.c (a record batch's nodes and buffers: decompression, offsets and view checks) and take.c
 * (dictionary decoding, a generic take).
 *
 * Ownership: everything an at_file holds (schema, index, decoded dictionaries) lives in the file's arena
 * and is read-only once at_file_open returns, which is what makes at_file_read_batch thread-safe. Each
 * batch has its own arena for its at_array tree and for the buffers it had to decode.
 */
#ifndef TS_ARROW_INTERNAL_H
#define TS_ARROW_INTERNAL_H

#include "arrow_file.h"
#include "flatbuf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
enum {
  FLD_NAME = 0,
  FLD_NULLABLE = 1,
  FLD_TYPE_TYPE = 2,
  FLD_TYPE = 3,
  FLD_DICTIONARY = 4,
  FLD_CHILDREN = 5,
  FLD_METADATA = 6
};
enum { FOOT_SCHEMA = 1, FOOT_DICTIONARIES = 2, FOOT_BATCHES = 3 };
enum { RB_LENGTH = 0, RB_NODES = 1, RB_BUFFERS = 2, RB_COMPRESSION = 3, RB_VARIADIC = 4 };
enum { DB_ID = 0, DB_DATA = 1, DB_IS_DELTA = 2 };
enum { DE_ID = 0, DE_INDEX_TYPE = 1 };
enum { CODEC_NONE = -1, CODEC_LZ4_FRAME = 0, CODEC_ZSTD = 1 };
enum {
  T_NULL = 1,
  T_INT,
  T_FLOAT,
  T_BINARY,
  T_UTF8,
  T_BOOL,
  T_DECIMAL,
  T_DATE,
  T_TIME,
  T_TIMESTAMP,
  T_INTERVAL,
  T_LIST,
  T_STRUCT,
  T_UNION,
  T_FSB,
  T_FSL,
  T_MAP,
  T_DURATION,
  T_LARGE_BINARY,
  T_LARGE_UTF8,
  T_LARGE_LIST,
  T_RUN_END,
  T_BINARY_VIEW,
  T_UTF8_VIEW,
  T_LIST_VIEW,
  T_LARGE_LIST_VIEW,
  T_COUNT
};
extern const char *const ar_type_names[T_COUNT];

/* Sizes of the flatbuffer structs we read from vectors. */
enum { FIELD_NODE_SIZE = 16, BUFFER_SIZE = 16, BLOCK_SIZE = 24 };

/* ------------------------------------------------------------------------------------------------------ */
/* Errors */

typedef struct ctx {
  const char *path;
  char *err;
  size_t errlen;
} ctx;

/* Writes "PATH: message" and returns -1. */
int ar_fail(const ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes "PATH: field 'NAME': message" and returns -1. */
int ar_ffail(const ctx *c, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------------------------------------ */
/* Arithmetic on untrusted sizes */

static inline int mul_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out) && *out >= 0; }
static inline int add_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out) && *out >= 0; }
static inline int64_t bitmap_bytes(int64_t n) { return n / 8 + (n % 8 != 0); }
static inline int bit(const uint8_t *bits, int64_t i) { return bits[i >> 3] >> (i & 7) & 1; }
static inline void set_bit(uint8_t *bits, int64_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }
/* Row I of A is valid (no bitmap: all are). */
static inline int ar_valid(const at_array *a, int64_t i) { return !a->validity || bit(a->validity, i); }
static inline int64_t load_offset(const uint8_t *p, int w, int64_t i) {
  return w == 4 ? (int64_t)(int32_t)fb_load_u32(p + 4 * i) : (int64_t)fb_load_u64(p + 8 * i);
}
static inline void store_offset(uint8_t *p, int w, int64_t i, int64_t v) {
  if (w == 4) {
    int32_t x = (int32_t)v;
    memcpy(p + 4 * i, &x, 4);
  } else {
    memcpy(p + 8 * i, &v, 8);
  }
}

/* The offsets of an empty array when the file stores none (a valid, if lazy, encoding). */
extern const uint8_t ar_zero_offsets[8];

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

ablk *ar_blk_new(size_t n);
void *ar_blk_adopt(arena *a, ablk *b, size_t data_bytes);
/* Zeroed memory for structs and arrays of them; NULL on overflow or exhaustion. */
void *ar_calloc(arena *a, size_t n, size_t size);
/* Uninitialised buffer memory, counted in data_bytes. */
uint8_t *ar_buffer(arena *a, int64_t n);
char *ar_strdup(arena *a, const char *s, size_t n);
void ar_free(arena *a);

/* ------------------------------------------------------------------------------------------------------ */
/* Private field descriptors, parallel to the at_field tree. */

enum phys { P_NULL, P_FIXED, P_BOOL, P_BIN32, P_BIN64, P_VIEW, P_LIST32, P_LIST64, P_FSL, P_STRUCT };

typedef struct fdesc {
  const at_field *field;
  const char *path; /* dotted names from the top-level column, for error messages */
  enum phys phys;
  int width;     /* P_FIXED: bytes per value */
  int dict;      /* dictionary-encoded: the batch holds indices, the dictionary holds `phys` values */
  int idx_width; /* index bytes: 1, 2, 4, 8 */
  int idx_signed;
  int64_t dict_id;
  size_t dict_slot; /* index into at_file.dict_fields */
  size_t n_children;
  struct fdesc *children;
} fdesc;

/* Offsets width of a variable-size layout; views are decoded to 64-bit offsets. */
static inline int offsets_width(const fdesc *d) { return d->phys == P_BIN32 || d->phys == P_LIST32 ? 4 : 8; }

typedef struct batch_ix {
  fb_table rb;         /* the RecordBatch table, validated at open */
  const uint8_t *body; /* message body in the mapping */
  int64_t body_len;
  int64_t rows;
  int owned;
  at_array **dicts; /* per dictionary slot: the dictionary in force for this batch */
} batch_ix;

struct at_file {
  char *path;
  uint8_t *map;
  size_t size;
  at_source src; /* need == NULL: a local file, all mapped */
  arena ar;
  at_schema schema;
  fdesc *cols;
  size_t n_dict; /* dictionary-encoded fields (each its own id) */
  fdesc **dict_fields;
  at_array **dicts; /* the dictionaries read so far (stream) or all of them (file) */
  int dicts_shared; /* `dicts` is referenced by a batch: copy before changing it */
  int n_batches, cap_batches;
  batch_ix *batches; /* malloc'd, grows while the stream is indexed */
  int64_t num_rows;
};

/* ------------------------------------------------------------------------------------------------------ */
/* Reading a batch: the cursor over its nodes, buffers and variadic counts, in depth-first order. */

typedef struct rd {
  ctx c;
  arena *ar;
  const uint8_t *body;
  int64_t body_len;
  fb_vec nodes, bufs, var;
  size_t node_i, buf_i, var_i;
  int codec;
  int copy_all; /* copy every buffer kept out of the body (a source may drop the body once read) */
  at_array *const *dicts;
} rd;

/* Array D (its dictionary's values when AS_VALUE) from the next node and buffers (decode.c). */
int ar_rd_array(rd *r, const fdesc *d, at_array *a, int as_value);
int ar_rd_node(rd *r, const fdesc *d, at_array *a);
/* The next buffer of the batch, which must hold at least NEED bytes (decode.c). */
int ar_rd_buffer(rd *r, const fdesc *d, int64_t need, const uint8_t **out, int64_t *out_len);
int ar_rd_validity(rd *r, const fdesc *d, at_array *a);
/* A fixed-width array of WIDTH bytes a value (0: bits). */
int ar_rd_fixed(rd *r, const fdesc *d, at_array *a, int width);
/* A dictionary-encoded array: its indices taken from the dictionary in force (take.c). */
int ar_rd_dict(rd *r, const fdesc *d, at_array *a);

/* The codec of a RecordBatch, CODEC_NONE when uncompressed, -2 when unsupported (ipc.c). */
int ar_batch_codec(const fb_table *rb, int *bad);
/* Checks RecordBatch RB's vectors against the columns COLS at open (ipc.c). */
int ar_check_batch(const ctx *c, const fb_table *rb, const fdesc *cols, size_t ncols, int as_value, const uint8_t *body,
                   int64_t body_len, int64_t *rows, int *owned);
/* A batch's reading cursor (decode.c). */
void ar_rd_init(rd *r, const ctx *c, arena *ar, const fb_table *rb, const uint8_t *body, int64_t body_len,
                at_array *const *dicts);
/* Asks F's source for the ranges (a no-op for local files): 0 or the source's status (ipc.c). */
int ar_need(const ctx *c, const at_file *f, const at_range *r, size_t n);
/* Parsing a schema: the file it goes into, and a budget of fields and metadata entries (schema.c). */
typedef struct pctx {
  ctx c;
  at_file *f;
  size_t budget; /* fields and metadata entries left */
} pctx;
int ar_parse_schema(pctx *p, const fb_table *st);

#endif
