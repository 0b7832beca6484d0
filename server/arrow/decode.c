/* arrow/decode.c: a record batch's arrays: nodes and buffers in depth-first order, decompression (LZ4_FRAME, ZSTD),
 * validity, offsets and view checks. */
#include "internal.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <zstd.h>

/* ------------------------------------------------------------------------------------------------------ */
/* Reading a batch's arrays */

int ar_rd_node(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *nd = fb_vec_elem(&r->nodes, r->node_i++, FIELD_NODE_SIZE);
  if (!nd) return ar_ffail(&r->c, d->path, "missing field node");
  a->length = (int64_t)fb_load_u64(nd);
  a->null_count = (int64_t)fb_load_u64(nd + 8);
  if (a->length < 0 || a->null_count < 0 || a->null_count > a->length)
    return ar_ffail(&r->c, d->path, "invalid length %lld or null count %lld", (long long)a->length,
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
  ablk *b = ar_blk_new(cap);
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
  ablk *b = ar_blk_new(cap);
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
int ar_rd_buffer(rd *r, const fdesc *d, int64_t need, const uint8_t **out, int64_t *out_len) {
  const uint8_t *b = fb_vec_elem(&r->bufs, r->buf_i, BUFFER_SIZE);
  size_t idx = r->buf_i++;
  if (!b) return ar_ffail(&r->c, d->path, "missing buffer");
  int64_t off = (int64_t)fb_load_u64(b), len = (int64_t)fb_load_u64(b + 8), end;
  if (off < 0 || len < 0 || !add_ok(off, len, &end) || end > r->body_len)
    return ar_ffail(&r->c, d->path, "buffer %zu lies outside its message body", idx);
  const uint8_t *p = r->body + off;
  if (r->codec != CODEC_NONE && len > 0) {
    if (len < 8) return ar_ffail(&r->c, d->path, "compressed buffer %zu is too short", idx);
    int64_t raw = (int64_t)fb_load_u64(p);
    p += 8;
    len -= 8;
    if (raw != -1) { /* -1: stored uncompressed */
      if (raw < 0 || raw > MAX_BUFFER || (need >= 0 && raw < need))
        return ar_ffail(&r->c, d->path, "buffer %zu: uncompressed length %lld is invalid", idx, (long long)raw);
      int64_t want = need >= 0 ? need : raw; /* a larger prefix is harmless: we stop at what we need */
      ablk *blk = NULL;
      if (want > 0 && (r->codec == CODEC_LZ4_FRAME ? unlz4(p, (size_t)len, (size_t)want, &blk)
                                                   : unzstd(p, (size_t)len, (size_t)want, &blk)) != 0)
        return ar_ffail(&r->c, d->path, "buffer %zu does not decompress to %lld bytes", idx, (long long)want);
      *out = blk ? ar_blk_adopt(r->ar, blk, (size_t)want) : ar_zero_offsets;
      *out_len = want;
      return 0;
    }
  }
  if (need >= 0 && len < need)
    return ar_ffail(&r->c, d->path, "buffer %zu has %lld bytes, needs %lld", idx, (long long)len, (long long)need);
  if (len > 0 && (r->copy_all || ((uintptr_t)p & 7))) {
    uint8_t *copy = ar_buffer(r->ar, len);
    if (!copy) return ar_ffail(&r->c, d->path, "out of memory");
    memcpy(copy, p, (size_t)len);
    p = copy;
  }
  *out = len > 0 ? p : ar_zero_offsets;
  *out_len = len;
  return 0;
}

/* The validity buffer: kept only when there are nulls (then it must cover every value). */
int ar_rd_validity(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *p;
  int64_t len;
  if (a->null_count == 0) { /* skip it, without decompressing */
    if (!fb_vec_elem(&r->bufs, r->buf_i++, BUFFER_SIZE)) return ar_ffail(&r->c, d->path, "missing buffer");
    return 0;
  }
  if (ar_rd_buffer(r, d, bitmap_bytes(a->length), &p, &len) != 0) return -1;
  a->validity = p;
  return 0;
}

/* Offsets: LENGTH + 1 entries of width W, nonnegative and monotone; returns the last in *last. */
static int rd_offsets(rd *r, const fdesc *d, at_array *a, int w, int64_t *last) {
  const uint8_t *p;
  int64_t len, need;
  if (!add_ok(a->length, 1, &need) || !mul_ok(need, w, &need)) return ar_ffail(&r->c, d->path, "length overflows");
  if (ar_rd_buffer(r, d, a->length ? need : -1, &p, &len) != 0) return -1;
  if (a->length == 0 && len < need) p = ar_zero_offsets; /* an empty array may omit its offsets */
  int64_t prev = load_offset(p, w, 0);
  if (prev < 0) return ar_ffail(&r->c, d->path, "negative offset");
  for (int64_t i = 1; i <= a->length; i++) {
    int64_t o = load_offset(p, w, i);
    if (o < prev) return ar_ffail(&r->c, d->path, "offsets go backward at %lld", (long long)i);
    prev = o;
  }
  a->offsets = p;
  *last = prev;
  return 0;
}

static int rd_children(rd *r, const fdesc *d, at_array *a) {
  if (d->n_children == 0) return 0;
  a->children = ar_calloc(r->ar, d->n_children, sizeof(at_array));
  if (!a->children) return ar_ffail(&r->c, d->path, "out of memory");
  a->n_children = d->n_children;
  for (size_t i = 0; i < d->n_children; i++)
    if (ar_rd_array(r, &d->children[i], &a->children[i], 0) != 0) return -1;
  return 0;
}

int ar_rd_fixed(rd *r, const fdesc *d, at_array *a, int width) {
  int64_t need;
  if (width == 0)
    need = bitmap_bytes(a->length);
  else if (!mul_ok(a->length, width, &need))
    return ar_ffail(&r->c, d->path, "length overflows");
  return ar_rd_buffer(r, d, need, &a->values, &a->values_len);
}

static int rd_binary(rd *r, const fdesc *d, at_array *a) {
  int64_t last;
  if (rd_offsets(r, d, a, offsets_width(d), &last) != 0) return -1;
  return ar_rd_buffer(r, d, last, &a->values, &a->values_len);
}

static int rd_view(rd *r, const fdesc *d, at_array *a);

static int rd_list(rd *r, const fdesc *d, at_array *a) {
  int64_t last;
  if (rd_offsets(r, d, a, offsets_width(d), &last) != 0) return -1;
  if (rd_children(r, d, a) != 0) return -1;
  if (last > a->children[0].length)
    return ar_ffail(&r->c, d->path, "offsets run past the child's %lld values", (long long)a->children[0].length);
  return 0;
}

static int rd_fsl(rd *r, const fdesc *d, at_array *a) {
  int64_t need;
  if (!mul_ok(a->length, d->field->list_size, &need)) return ar_ffail(&r->c, d->path, "length overflows");
  if (rd_children(r, d, a) != 0) return -1;
  if (a->children[0].length != need)
    return ar_ffail(&r->c, d->path, "child has %lld values, needs %lld", (long long)a->children[0].length,
                    (long long)need);
  return 0;
}

static int rd_struct(rd *r, const fdesc *d, at_array *a) {
  if (rd_children(r, d, a) != 0) return -1;
  for (size_t i = 0; i < a->n_children; i++)
    if (a->children[i].length != a->length)
      return ar_ffail(&r->c, d->children[i].path, "length %lld differs from its struct's %lld",
                      (long long)a->children[i].length, (long long)a->length);
  return 0;
}

/* Array D (its dictionary's values when AS_VALUE) from the next node and buffers. */
int ar_rd_array(rd *r, const fdesc *d, at_array *a, int as_value) {
  if (ar_rd_node(r, d, a) != 0) return -1;
  if (d->phys == P_NULL && !(d->dict && !as_value)) {
    a->null_count = a->length; /* writers disagree on the node's null count; the type says it all */
    return 0;
  }
  if (ar_rd_validity(r, d, a) != 0) return -1;
  if (d->dict && !as_value) return ar_rd_dict(r, d, a);
  switch (d->phys) {
  case P_NULL: break;
  case P_FIXED: return ar_rd_fixed(r, d, a, d->width);
  case P_BOOL: return ar_rd_fixed(r, d, a, 0);
  case P_BIN32:
  case P_BIN64: return rd_binary(r, d, a);
  case P_VIEW: return rd_view(r, d, a);
  case P_LIST32:
  case P_LIST64: return rd_list(r, d, a);
  case P_FSL: return rd_fsl(r, d, a);
  case P_STRUCT: return rd_struct(r, d, a);
  }
  return ar_ffail(&r->c, d->path, "internal error: unknown layout");
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

/* Bytes of the variadic buffers that the views use: only that much of each is decompressed. */
static int view_needs(rd *r, const fdesc *d, const at_array *a, const uint8_t *views, int64_t nbuf, int64_t *need,
                      int64_t *total) {
  *total = 0;
  for (int64_t i = 0; i < a->length; i++) {
    if (!ar_valid(a, i)) continue;
    view v = load_view(views + 16 * i);
    if (v.len < 0) return ar_ffail(&r->c, d->path, "negative view length at %lld", (long long)i);
    if (!add_ok(*total, v.len, total) || *total > MAX_BUFFER) return ar_ffail(&r->c, d->path, "values too large");
    if (v.len <= 12) continue;
    if (v.buf < 0 || v.buf >= nbuf || v.off < 0)
      return ar_ffail(&r->c, d->path, "view %lld points outside the data buffers", (long long)i);
    int64_t end = (int64_t)v.off + v.len;
    if (end > need[v.buf]) need[v.buf] = end;
  }
  return 0;
}

static int rd_view(rd *r, const fdesc *d, at_array *a) {
  const uint8_t *views;
  int64_t vlen, need, total;
  if (!mul_ok(a->length, 16, &need)) return ar_ffail(&r->c, d->path, "length overflows");
  if (ar_rd_buffer(r, d, need, &views, &vlen) != 0) return -1;
  const uint8_t *nv = fb_vec_elem(&r->var, r->var_i++, 8);
  int64_t nbuf = nv ? (int64_t)fb_load_u64(nv) : -1;
  if (nbuf < 0) return ar_ffail(&r->c, d->path, "missing variadic buffer count");
  int64_t *needs = calloc((size_t)nbuf + 1, sizeof *needs);
  const uint8_t **data = calloc((size_t)nbuf + 1, sizeof *data);
  int rc = -1;
  if (!needs || !data) {
    ar_ffail(&r->c, d->path, "out of memory");
    goto done;
  }
  if (view_needs(r, d, a, views, nbuf, needs, &total) != 0) goto done;
  for (int64_t k = 0; k < nbuf; k++) {
    int64_t got;
    if (ar_rd_buffer(r, d, needs[k], &data[k], &got) != 0) goto done;
  }
  uint8_t *offs = ar_buffer(r->ar, (a->length + 1) * 8), *vals = ar_buffer(r->ar, total);
  if (!offs || !vals) {
    ar_ffail(&r->c, d->path, "out of memory");
    goto done;
  }
  int64_t pos = 0;
  store_offset(offs, 8, 0, 0);
  for (int64_t i = 0; i < a->length; i++) {
    if (ar_valid(a, i)) {
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
/* Decoding a RecordBatch table into arrays */

void ar_rd_init(rd *r, const ctx *c, arena *ar, const fb_table *rb, const uint8_t *body, int64_t body_len,
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
  r->codec = ar_batch_codec(rb, &bad); /* all checked by check_batch at open */
  r->dicts = dicts;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Reading a batch */

/* An at_batch and the arena behind it, freed together; a view over a source's bytes ends its lease then. */
typedef struct batch_mem {
  at_batch b;
  arena ar;
  const at_source *lease; /* non-NULL: `body` is leased until at_batch_free */
  at_range body;
} batch_mem;

static void end_lease(const at_file *f, const at_range *body) {
  if (f->src.need && f->src.done) f->src.done(f->src.arg, body, 1);
}

int at_file_read_batch(const at_file *f, int i, at_batch **out, char *err, size_t errlen) {
  ctx c = {f->path, err, errlen};
  *out = NULL;
  if (i < 0 || i >= f->n_batches) return ar_fail(&c, "no record batch %d", i);
  const batch_ix *bx = &f->batches[i];
  at_range body = {bx->body - f->map, bx->body_len};
  int rc = ar_need(&c, f, &body, 1);
  if (rc != 0) return rc;
  batch_mem *bm = calloc(1, sizeof *bm);
  if (!bm) {
    end_lease(f, &body);
    return ar_fail(&c, "out of memory");
  }
  /* With a source, the batch holds the lease: at_batch_free ends it, on the error paths below too. An owned
   * batch copies all it keeps, so it ends the lease once read; a view keeps it until freed. */
  int copy_all = f->src.need && bx->owned;
  if (f->src.need) bm->lease = &f->src, bm->body = body;
  at_batch *b = &bm->b;
  b->priv = bm;
  b->length = bx->rows;
  b->n_columns = f->schema.n_fields;
  b->columns = b->n_columns ? ar_calloc(&bm->ar, b->n_columns, sizeof(at_array)) : NULL;
  if (b->n_columns && !b->columns) {
    at_batch_free(b);
    return ar_fail(&c, "out of memory");
  }
  rd r;
  ar_rd_init(&r, &c, &bm->ar, &bx->rb, bx->body, bx->body_len, bx->dicts);
  r.copy_all = copy_all;
  for (size_t k = 0; k < b->n_columns; k++) {
    if (ar_rd_array(&r, &f->cols[k], &b->columns[k], 0) != 0) {
      at_batch_free(b);
      return -1;
    }
  }
  if (copy_all) end_lease(f, &body), bm->lease = NULL;
  b->owned_bytes = bm->ar.data_bytes;
  *out = b;
  return 0;
}

void at_batch_free(at_batch *b) {
  if (!b) return;
  batch_mem *bm = b->priv;
  ar_free(&bm->ar);
  if (bm->lease && bm->lease->done) bm->lease->done(bm->lease->arg, &bm->body, 1);
  free(bm);
}
