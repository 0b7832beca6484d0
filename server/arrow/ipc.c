/* arrow/ipc.c: Arrow IPC framing: messages, the batch index (file footer or a walk over the stream), dictionaries
 * in force per batch, and opening a file (mmap), asking its source (if any) for each range before it is read. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file with a source is read ahead this much from the end (the footer, usually whole) and from each stream
 * message (its metadata), so that most of them cost one request. */
#define TAIL_BYTES ((int64_t)64 << 10)
#define STREAM_AHEAD ((int64_t)16 << 10)

int ar_need(const ctx *c, const at_file *f, const at_range *r, size_t n) {
  if (!f->src.need || n == 0) return 0;
  return f->src.need(f->src.arg, r, n, c->err, c->errlen);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Messages */

typedef struct msg {
  int type;        /* HDR_* */
  fb_table header; /* the Schema, DictionaryBatch or RecordBatch table */
  const uint8_t *body;
  int64_t body_len;
} msg;

/* Parses the Message flatbuffer [fb, fb + len); its body starts at BODY, with at most AVAIL bytes there. */
static int parse_message(const ctx *c, const uint8_t *fb, size_t len, const uint8_t *body, int64_t avail, msg *m) {
  fb_table t;
  int bad = 0;
  if (fb_root(fb, len, &t) != 0) return ar_fail(c, "corrupt message metadata");
  int16_t version = fb_i16(&t, MSG_VERSION, 0, &bad);
  m->type = fb_u8(&t, MSG_HEADER_TYPE, 0, &bad);
  m->body_len = fb_i64(&t, MSG_BODY_LENGTH, 0, &bad);
  int has = fb_table_field(&t, MSG_HEADER, &m->header, &bad);
  if (bad || !has) return ar_fail(c, "corrupt message");
  if (version < 3) return ar_fail(c, "Arrow metadata version V%d is too old (V4 or later is needed)", version + 1);
  if (m->body_len < 0 || m->body_len > avail) return ar_fail(c, "message body runs past the end of the file");
  m->body = body;
  return 0;
}

/* Reads the encapsulated message at POS (stream format): continuation marker (optional, legacy), metadata
 * length, flatbuffer, body. *next is where the following message starts; *eos is set at the end. */
static int read_stream_message(const ctx *c, const uint8_t *map, size_t size, size_t pos, msg *m, size_t *next,
                               int *eos) {
  *eos = 0;
  if (pos == size) {
    *eos = 1; /* a stream may simply end after a message */
    return 0;
  }
  if (size - pos < 4) return ar_fail(c, "truncated message at byte %zu", pos);
  size_t hdr = 4;
  uint32_t len = fb_load_u32(map + pos);
  if (len == 0xFFFFFFFFu) {
    if (size - pos < 8) return ar_fail(c, "truncated message at byte %zu", pos);
    len = fb_load_u32(map + pos + 4);
    hdr = 8;
  }
  if (len == 0) {
    *eos = 1;
    return 0;
  }
  if (len > INT32_MAX || len > size - pos - hdr) return ar_fail(c, "truncated message at byte %zu", pos);
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
  case P_VIEW:
    l->buffers += 2;
    l->views++;
    break;
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
int ar_batch_codec(const fb_table *rb, int *bad) {
  fb_table bc;
  if (!fb_table_field(rb, RB_COMPRESSION, &bc, bad)) return CODEC_NONE;
  int codec = (int8_t)fb_u8(&bc, 0, 0, bad);
  int method = (int8_t)fb_u8(&bc, 1, 0, bad);
  return (codec == CODEC_LZ4_FRAME || codec == CODEC_ZSTD) && method == 0 ? codec : -2;
}

/* Checks the vectors of RecordBatch RB against the columns COLS (dictionary values when AS_VALUE) and the
 * body; sets *rows and *owned. */
int ar_check_batch(const ctx *c, const fb_table *rb, const fdesc *cols, size_t ncols, int as_value, const uint8_t *body,
                   int64_t body_len, int64_t *rows, int *owned) {
  int bad = 0;
  layout l = {0, 0, 0};
  fb_vec nodes, bufs, var;
  int64_t len = fb_i64(rb, RB_LENGTH, 0, &bad);
  size_t nn = fb_vector(rb, RB_NODES, FIELD_NODE_SIZE, &nodes, &bad);
  size_t nb = fb_vector(rb, RB_BUFFERS, BUFFER_SIZE, &bufs, &bad);
  size_t nv = fb_vector(rb, RB_VARIADIC, 8, &var, &bad);
  int codec = ar_batch_codec(rb, &bad);
  if (bad || len < 0) return ar_fail(c, "corrupt record batch metadata");
  if (codec == -2) return ar_fail(c, "unsupported body compression");
  for (size_t i = 0; i < ncols; i++) count_layout(&cols[i], as_value, &l);
  if (nn != l.nodes) return ar_fail(c, "record batch has %zu field nodes, the schema needs %zu", nn, l.nodes);
  if (nv != l.views)
    return ar_fail(c, "record batch has %zu variadic buffer counts, the schema needs %zu", nv, l.views);
  size_t need = l.buffers;
  for (size_t i = 0; i < nv; i++) {
    int64_t k = (int64_t)fb_load_u64(fb_vec_elem(&var, i, 8));
    if (k < 0 || (uint64_t)k > nb || need + (size_t)k > nb) return ar_fail(c, "bad variadic buffer count");
    need += (size_t)k;
  }
  if (nb != need) return ar_fail(c, "record batch has %zu buffers, the schema needs %zu", nb, need);
  int misaligned = 0;
  for (size_t i = 0; i < nb; i++) {
    const uint8_t *b = fb_vec_elem(&bufs, i, BUFFER_SIZE);
    int64_t off = (int64_t)fb_load_u64(b), blen = (int64_t)fb_load_u64(b + 8), end;
    if (off < 0 || blen < 0 || !add_ok(off, blen, &end) || end > body_len)
      return ar_fail(c, "buffer %zu lies outside its message body", i);
    misaligned |= blen && ((uintptr_t)(body + off) & 7);
  }
  /* Top-level columns have the batch's length; deeper nodes are checked when the batch is read. */
  size_t node = 0;
  for (size_t i = 0; i < ncols; i++) {
    const uint8_t *nd = fb_vec_elem(&nodes, node, FIELD_NODE_SIZE);
    int64_t nlen = (int64_t)fb_load_u64(nd), nulls = (int64_t)fb_load_u64(nd + 8);
    if (nlen != len)
      return ar_ffail(c, cols[i].path, "column length %lld differs from the batch length %lld", (long long)nlen,
                      (long long)len);
    if (nulls < 0 || nulls > nlen) return ar_ffail(c, cols[i].path, "invalid null count %lld", (long long)nulls);
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
/* Opening: dictionaries and the batch index */

static int add_batch(const ctx *c, at_file *f, const msg *m) {
  batch_ix bx = {m->header, m->body, m->body_len, 0, 0, f->dicts};
  if (ar_check_batch(c, &m->header, f->cols, f->schema.n_fields, 0, m->body, m->body_len, &bx.rows, &bx.owned) != 0)
    return -1;
  for (size_t i = 0; i < f->n_dict; i++)
    if (!f->dicts[i]) return ar_ffail(c, f->dict_fields[i]->path, "no dictionary before the first record batch");
  if (f->n_batches == INT_MAX || !add_ok(f->num_rows, bx.rows, &f->num_rows)) return ar_fail(c, "too many batches");
  if (f->n_batches == f->cap_batches) {
    int cap = f->cap_batches < 16 ? 16 : f->cap_batches > INT_MAX / 2 ? INT_MAX : f->cap_batches * 2;
    batch_ix *n = realloc(f->batches, (size_t)cap * sizeof *n);
    if (!n) return ar_fail(c, "out of memory");
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
  if (!fb_table_field(&m->header, DB_DATA, &data, &bad) || bad) return ar_fail(c, "corrupt dictionary batch");
  fdesc *d = NULL;
  for (size_t i = 0; i < f->n_dict && !d; i++)
    if (f->dict_fields[i]->dict_id == id) d = f->dict_fields[i];
  if (!d) return ar_fail(c, "dictionary batch with unknown id %lld", (long long)id);
  if (delta) return ar_ffail(c, d->path, "delta dictionary batches are not supported");
  int64_t rows;
  int owned;
  if (ar_check_batch(c, &data, d, 1, 1, m->body, m->body_len, &rows, &owned) != 0) return -1;
  if (f->dicts_shared) { /* batches already indexed keep the dictionaries they were written with */
    at_array **n = ar_calloc(&f->ar, f->n_dict, sizeof *n);
    if (!n) return ar_fail(c, "out of memory");
    memcpy(n, f->dicts, f->n_dict * sizeof *n);
    f->dicts = n;
    f->dicts_shared = 0;
  }
  at_array *a = ar_calloc(&f->ar, 1, sizeof *a);
  if (!a) return ar_fail(c, "out of memory");
  rd r;
  ar_rd_init(&r, c, &f->ar, &data, m->body, m->body_len, NULL);
  if (ar_rd_array(&r, d, a, 1) != 0) return -1;
  f->dicts[d->dict_slot] = a;
  return 0;
}

/* Makes the stream message at POS readable up to its body: its length prefix and metadata. */
static int need_stream_message(const ctx *c, const at_file *f, size_t pos) {
  int64_t left = (int64_t)(f->size - pos);
  at_range r = {(int64_t)pos, left < STREAM_AHEAD ? left : STREAM_AHEAD};
  int rc = ar_need(c, f, &r, 1);
  if (rc != 0 || left < 8) return rc;
  size_t hdr = fb_load_u32(f->map + pos) == 0xFFFFFFFFu ? 8 : 4;
  int64_t want = (int64_t)hdr + fb_load_u32(f->map + pos + hdr - 4);
  if (want <= r.len) return 0;
  r.len = want < left ? want : left;
  return ar_need(c, f, &r, 1);
}

static int open_stream(const ctx *c, at_file *f) {
  size_t pos = 0, next = 0;
  int eos, seen_schema = 0, rc;
  pctx p = {*c, f, MAX_FIELDS};
  for (;;) {
    msg m;
    if (pos < f->size && (rc = need_stream_message(c, f, pos)) != 0) return rc;
    if (read_stream_message(c, f->map, f->size, pos, &m, &next, &eos) != 0) return -1;
    if (eos) break;
    if (!seen_schema && m.type != HDR_SCHEMA) return ar_fail(c, "not an Arrow file (no schema message first)");
    if (m.type == HDR_SCHEMA) {
      if (seen_schema) return ar_fail(c, "a second schema message");
      if (ar_parse_schema(&p, &m.header) != 0) return -1;
      seen_schema = 1;
    } else if (m.type == HDR_DICTIONARY) {
      at_range body = {m.body - f->map, m.body_len};
      if ((rc = ar_need(c, f, &body, 1)) != 0) return rc;
      if (add_dictionary(c, f, &m) != 0) return -1;
    } else if (m.type == HDR_RECORD_BATCH) {
      if (add_batch(c, f, &m) != 0) return -1;
    } else {
      return ar_fail(c, "unknown message type %d", m.type);
    }
    pos = next;
  }
  if (!seen_schema) return ar_fail(c, "empty Arrow stream (no schema)");
  return 0;
}

/* File-format BLOCK I of vector V, which must lie before the footer at END: its offset, metadata and body
 * lengths. */
static int block_at(const fb_vec *v, size_t i, size_t end, int64_t *off, int32_t *meta, int64_t *body_len) {
  const uint8_t *b = fb_vec_elem(v, i, BLOCK_SIZE);
  int64_t e;
  *off = (int64_t)fb_load_u64(b), *body_len = (int64_t)fb_load_u64(b + 16);
  *meta = (int32_t)fb_load_u32(b + 8);
  return *off < 8 || *meta < 8 || *body_len < 0 || !add_ok(*off, *meta, &e) || !add_ok(e, *body_len, &e) ||
                 e > (int64_t)end
             ? -1
             : 0;
}

/* Asks the source for what opening reads: each dictionary block whole, each batch block's metadata. */
static int need_blocks(const ctx *c, at_file *f, const fb_vec *dicts, size_t nd, const fb_vec *batches, size_t nb,
                       size_t end) {
  if (!f->src.need || nd + nb == 0) return 0;
  at_range *r = malloc((nd + nb) * sizeof *r);
  if (!r) return ar_fail(c, "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < nd + nb; i++) {
    int64_t off, body_len;
    int32_t meta;
    if (block_at(i < nd ? dicts : batches, i < nd ? i : i - nd, end, &off, &meta, &body_len) != 0)
      continue; /* read_block says what is wrong with it */
    r[n++] = (at_range){off, meta + (i < nd ? body_len : 0)};
  }
  int rc = ar_need(c, f, r, n);
  free(r);
  return rc;
}

/* Reads the message of file-format BLOCK I of vector V, all of which must lie before the footer at END. */
static int read_block(const ctx *c, at_file *f, const fb_vec *v, size_t i, size_t end, int type, msg *m) {
  int64_t off, body_len;
  int32_t meta;
  if (block_at(v, i, end, &off, &meta, &body_len) != 0) return ar_fail(c, "block %zu lies outside the file", i);
  const uint8_t *p = f->map + off;
  size_t hdr = fb_load_u32(p) == 0xFFFFFFFFu ? 8 : 4;
  uint32_t len = fb_load_u32(p + hdr - 4);
  if (len > (uint32_t)meta - hdr) return ar_fail(c, "block %zu: message larger than its block", i);
  if (parse_message(c, p + hdr, len, p + meta, body_len, m) != 0) return -1;
  if (m->type != type) return ar_fail(c, "block %zu holds the wrong message type %d", i, m->type);
  return 0;
}

static int open_file_format(const ctx *c, at_file *f) {
  static const char magic[6] = {'A', 'R', 'R', 'O', 'W', '1'};
  int64_t tail = (int64_t)f->size < TAIL_BYTES ? (int64_t)f->size : TAIL_BYTES;
  at_range r = {(int64_t)f->size - tail, tail};
  int rc = ar_need(c, f, &r, 1);
  if (rc != 0) return rc;
  if (f->size < 8 + 4 + 6 || memcmp(f->map + f->size - 6, magic, 6) != 0)
    return ar_fail(c, "truncated Arrow file (no footer magic)");
  uint32_t flen = fb_load_u32(f->map + f->size - 10);
  if (flen == 0 || flen > f->size - 18) return ar_fail(c, "bad footer length %u", flen);
  size_t foot = f->size - 10 - flen;
  r = (at_range){(int64_t)foot, (int64_t)f->size - tail - (int64_t)foot};
  if (r.len > 0 && (rc = ar_need(c, f, &r, 1)) != 0) return rc;
  fb_table ft, st;
  fb_vec dicts, batches;
  int bad = 0;
  if (fb_root(f->map + foot, flen, &ft) != 0) return ar_fail(c, "corrupt footer");
  int has_schema = fb_table_field(&ft, FOOT_SCHEMA, &st, &bad);
  size_t nd = fb_vector(&ft, FOOT_DICTIONARIES, BLOCK_SIZE, &dicts, &bad);
  size_t nb = fb_vector(&ft, FOOT_BATCHES, BLOCK_SIZE, &batches, &bad);
  if (bad || !has_schema) return ar_fail(c, "corrupt footer");
  pctx p = {*c, f, MAX_FIELDS};
  if (ar_parse_schema(&p, &st) != 0) return -1;
  if ((rc = need_blocks(c, f, &dicts, nd, &batches, nb, foot)) != 0) return rc;
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
  if (fd < 0) return ar_fail(c, "%s", strerror(errno));
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) != 0)
    ar_fail(c, "%s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    ar_fail(c, "not a regular file");
  else if (st.st_size < 8)
    ar_fail(c, "too short to be an Arrow file (%lld bytes)", (long long)st.st_size);
  else if ((uint64_t)st.st_size > SIZE_MAX)
    ar_fail(c, "too large");
  else {
    /* Shared: a source's bytes are written into the file after it is mapped. */
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, f->src.need ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
      ar_fail(c, "mmap: %s", strerror(errno));
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

/* Whether the file (or stream) format: its first 6 bytes. */
static int open_format(const ctx *c, at_file *f) {
  at_range head = {0, 6};
  int rc = ar_need(c, f, &head, 1);
  if (rc != 0) return rc;
  return memcmp(f->map, "ARROW1", 6) == 0 ? open_file_format(c, f) : open_stream(c, f);
}

int at_file_open_source(const char *path, const at_source *src, at_file **out, char *err, size_t errlen) {
  ctx c = {path, err, errlen};
  *out = NULL;
  at_file *f = calloc(1, sizeof *f);
  if (!f) {
    if (src && src->release) src->release(src->arg);
    return ar_fail(&c, "out of memory");
  }
  if (src) f->src = *src;
  f->path = ar_strdup(&f->ar, path, strlen(path));
  if (!f->path) {
    at_file_close(f);
    return ar_fail(&c, "out of memory");
  }
  c.path = f->path;
  int rc = map_file(&c, f);
  if (rc == 0) rc = open_format(&c, f);
  if (rc != 0) {
    at_file_close(f);
    return rc;
  }
  *out = f;
  return 0;
}

int at_file_open(const char *path, at_file **out, char *err, size_t errlen) {
  return at_file_open_source(path, NULL, out, err, errlen);
}

void at_file_close(at_file *f) {
  if (!f) return;
  if (f->src.release) f->src.release(f->src.arg);
  if (f->map) munmap(f->map, f->size);
  free(f->batches);
  ar_free(&f->ar);
  free(f);
}

const at_schema *at_file_schema(const at_file *f) { return &f->schema; }
int64_t at_file_num_rows(const at_file *f) { return f->num_rows; }
int at_file_num_batches(const at_file *f) { return f->n_batches; }

int64_t at_file_batch_rows(const at_file *f, int i) { return i >= 0 && i < f->n_batches ? f->batches[i].rows : -1; }

int at_file_batch_is_owned(const at_file *f, int i) { return i >= 0 && i < f->n_batches ? f->batches[i].owned : 0; }

int at_file_batch_range(const at_file *f, int i, at_range *out) {
  if (i < 0 || i >= f->n_batches) return -1;
  *out = (at_range){f->batches[i].body - f->map, f->batches[i].body_len};
  return 0;
}

const at_source *at_file_source(const at_file *f) { return f->src.need ? &f->src : NULL; }
