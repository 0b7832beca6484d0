/* A small protobuf reader for the messages that carry data (Batch) or nested schemas (TableInfo).
 *
 * protobuf-c would copy every `bytes` field into its own allocation; reading the wire format here lets a
 * column's buffers point straight into the received message. Repeated fields are counted in a first pass
 * so that each array is allocated once, at its size, in the result's arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEPTH 64 /* nesting of fields / arrays: bounds the recursion on hostile input */

int tc__pb_varint(tc__pb *r, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
    uint8_t b = *r->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

static int fixed(tc__pb *r, size_t n, uint64_t *v) {
  if ((size_t)(r->end - r->p) < n) return -1;
  uint64_t x = 0;
  for (size_t i = n; i-- > 0;) x = x << 8 | r->p[i];
  r->p += n;
  *v = x;
  return 0;
}

int tc__pb_next(tc__pb *r, tc__pb_field *f) {
  if (r->p >= r->end) return 0;
  uint64_t tag;
  if (tc__pb_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return -1;
  f->num = (uint32_t)(tag >> 3);
  f->wt = (int)(tag & 7);
  f->data = NULL;
  f->len = 0;
  f->v = 0;
  switch (f->wt) {
  case 0: return tc__pb_varint(r, &f->v) ? -1 : 1;
  case 1: return fixed(r, 8, &f->v) ? -1 : 1;
  case 5: return fixed(r, 4, &f->v) ? -1 : 1;
  case 2: {
    uint64_t len;
    if (tc__pb_varint(r, &len) || len > (uint64_t)(r->end - r->p)) return -1;
    f->data = r->p;
    f->len = (size_t)len;
    r->p += len;
    return 1;
  }
  default: return -1; /* groups: not in proto3 */
  }
}

/* ---- parsing context ---- */

typedef struct ctx {
  tc__arena *a;
  char *err;
  size_t errlen;
  const char *msg;     /* message type, for errors */
  const uint8_t *slot; /* a Batch written into a shared-memory slot: the slot, where its spans point */
  size_t slot_size;
} ctx;

static int malformed(ctx *c, const char *what) {
  snprintf(c->err, c->errlen, "malformed %s: %s", c->msg, what);
  return TC_EPROTO;
}

static int nomem(ctx *c) {
  snprintf(c->err, c->errlen, "out of memory parsing %s", c->msg);
  return TC_ENOMEM;
}

static int want(ctx *c, const tc__pb_field *f, int wt) {
  if (f->wt == wt) return 0;
  char what[64];
  snprintf(what, sizeof what, "field %u has wire type %d", f->num, f->wt);
  return malformed(c, what);
}

static int get_str(ctx *c, const tc__pb_field *f, const char **out) {
  if (want(c, f, 2)) return TC_EPROTO;
  if (!tc__utf8_ok((const char *)f->data, f->len)) return malformed(c, "a string is not valid UTF-8");
  char *s = tc__arena_strndup(c->a, f->data, f->len);
  if (!s) return nomem(c);
  *out = s;
  return 0;
}

static int get_i64(ctx *c, const tc__pb_field *f, int64_t *out) {
  if (want(c, f, 0)) return TC_EPROTO;
  *out = (int64_t)f->v;
  return 0;
}

static int get_i32(ctx *c, const tc__pb_field *f, int32_t *out) {
  if (want(c, f, 0)) return TC_EPROTO;
  *out = (int32_t)f->v; /* negative int32s are sign-extended to 10-byte varints */
  return 0;
}

static int get_int(ctx *c, const tc__pb_field *f, int *out) {
  int32_t v;
  if (get_i32(c, f, &v)) return TC_EPROTO;
  *out = v;
  return 0;
}

static int get_view(ctx *c, const tc__pb_field *f, const uint8_t **p, size_t *n) {
  if (want(c, f, 2)) return TC_EPROTO;
  *p = f->len ? f->data : NULL;
  *n = f->len;
  return 0;
}

/* A Span {1: offset, 2: size} of the shared-memory slot: a view of those bytes, checked to lie in it. */
static int get_span(ctx *c, const tc__pb_field *f, const uint8_t **p, size_t *n) {
  if (want(c, f, 2)) return TC_EPROTO;
  if (!c->slot) return malformed(c, "a shared-memory span, but the request named no slot");
  tc__pb r = {f->data, f->data + f->len};
  tc__pb_field g;
  int64_t off = 0, size = 0;
  int k, rc = 0;
  while (!rc && (k = tc__pb_next(&r, &g)) > 0) {
    if (g.num == 1) rc = get_i64(c, &g, &off);
    if (g.num == 2) rc = get_i64(c, &g, &size);
  }
  if (rc) return rc;
  if (k < 0) return malformed(c, "truncated span");
  if (off < 0 || size < 0 || (uint64_t)off > c->slot_size || (uint64_t)size > c->slot_size - (uint64_t)off)
    return malformed(c, "a span outside the shared-memory slot");
  *p = size ? c->slot + off : NULL;
  *n = (size_t)size;
  return 0;
}

/* Counts the length-delimited occurrences of field num. */
static int count_field(ctx *c, const uint8_t *p, size_t n, uint32_t num, size_t *count) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k;
  *count = 0;
  while ((k = tc__pb_next(&r, &f)) > 0)
    if (f.num == num) (*count)++;
  return k < 0 ? malformed(c, "truncated or bad field") : 0;
}

/* Counts the values of a repeated varint field, packed or not. */
static int count_varints(ctx *c, const uint8_t *p, size_t n, uint32_t num, size_t *count) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k;
  *count = 0;
  while ((k = tc__pb_next(&r, &f)) > 0) {
    if (f.num != num) continue;
    if (f.wt == 0) {
      (*count)++;
      continue;
    }
    if (f.wt != 2) return want(c, &f, 2);
    for (size_t i = 0; i < f.len; i++)
      if (!(f.data[i] & 0x80)) (*count)++;
  }
  return k < 0 ? malformed(c, "truncated or bad field") : 0;
}

static void *alloc_array(ctx *c, size_t n, size_t size) {
  if (n == 0) return NULL;
  if (n > SIZE_MAX / size) return NULL;
  return tc__arena_alloc(c->a, n * size);
}

#define ALLOC_ARRAY(c, ptr, n)                                                                                         \
  ((n) == 0 ? ((ptr) = NULL, 0) : ((ptr) = alloc_array((c), (n), sizeof *(ptr))) ? 0 : nomem(c))

/* ---- schema ---- */

static int parse_datatype(ctx *c, const uint8_t *p, size_t n, tc_field *fl) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k = 0, rc = 0;
  while (!rc && (k = tc__pb_next(&r, &f)) > 0) {
    switch (f.num) {
    case 1: rc = get_int(c, &f, &fl->type); break;
    case 2: rc = get_i32(c, &f, &fl->byte_width); break;
    case 3: rc = get_i32(c, &f, &fl->list_size); break;
    case 4: rc = get_int(c, &f, &fl->unit); break;
    case 5: rc = get_str(c, &f, &fl->timezone); break;
    default: break;
    }
  }
  if (rc) return rc;
  return k < 0 ? malformed(c, "bad DataType") : 0;
}

static int parse_kv(ctx *c, const uint8_t *p, size_t n, tc_kv *kv) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k = 0, rc = 0;
  kv->key = kv->value = "";
  while (!rc && (k = tc__pb_next(&r, &f)) > 0) {
    if (f.num == 1)
      rc = get_str(c, &f, &kv->key);
    else if (f.num == 2)
      rc = get_str(c, &f, &kv->value);
  }
  if (rc) return rc;
  return k < 0 ? malformed(c, "bad KeyValue") : 0;
}

static int parse_shape(ctx *c, const tc__pb_field *f, int64_t *shape, size_t *ndim) {
  if (f->wt == 0) {
    shape[(*ndim)++] = (int64_t)f->v;
    return 0;
  }
  tc__pb r = {f->data, f->data + f->len};
  while (r.p < r.end) {
    uint64_t v;
    if (tc__pb_varint(&r, &v)) return malformed(c, "bad packed shape");
    shape[(*ndim)++] = (int64_t)v;
  }
  return 0;
}

static int parse_field(ctx *c, const uint8_t *p, size_t n, tc_field *fl, int depth);

static int parse_field_body(ctx *c, const uint8_t *p, size_t n, tc_field *fl, int depth) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k = 0, rc = 0;
  size_t nc = 0, nm = 0;
  tc_field *children = (tc_field *)fl->children;
  tc_kv *meta = (tc_kv *)fl->metadata;
  int64_t *shape = (int64_t *)fl->shape;
  fl->ndim = 0;
  while (!rc && (k = tc__pb_next(&r, &f)) > 0) {
    switch (f.num) {
    case 1: rc = get_str(c, &f, &fl->name); break;
    case 2: rc = want(c, &f, 2) ? TC_EPROTO : parse_datatype(c, f.data, f.len, fl); break;
    case 3: rc = get_int(c, &f, &fl->nullable); break;
    case 4: rc = want(c, &f, 2) ? TC_EPROTO : parse_field(c, f.data, f.len, &children[nc++], depth + 1); break;
    case 5: rc = want(c, &f, 2) ? TC_EPROTO : parse_kv(c, f.data, f.len, &meta[nm++]); break;
    case 6: rc = parse_shape(c, &f, shape, &fl->ndim); break;
    case 7: rc = get_int(c, &f, &fl->element_type); break;
    case 8: rc = get_int(c, &f, &fl->dictionary_encoded); break;
    default: break;
    }
  }
  if (rc) return rc;
  return k < 0 ? malformed(c, "bad Field") : 0;
}

static int parse_field(ctx *c, const uint8_t *p, size_t n, tc_field *fl, int depth) {
  if (depth > MAX_DEPTH) return malformed(c, "fields nested too deeply");
  fl->name = fl->timezone = "";
  tc_field *children = NULL;
  tc_kv *meta = NULL;
  int64_t *shape = NULL;
  int rc = count_field(c, p, n, 4, &fl->n_children);
  if (!rc) rc = count_field(c, p, n, 5, &fl->n_metadata);
  if (!rc) rc = count_varints(c, p, n, 6, &fl->ndim);
  if (!rc) rc = ALLOC_ARRAY(c, children, fl->n_children);
  if (!rc) rc = ALLOC_ARRAY(c, meta, fl->n_metadata);
  if (!rc) rc = ALLOC_ARRAY(c, shape, fl->ndim);
  if (rc) return rc;
  fl->children = children;
  fl->metadata = meta;
  fl->shape = shape;
  return parse_field_body(c, p, n, fl, depth);
}

static int parse_fields(ctx *c, const uint8_t *p, size_t n, uint32_t fnum, uint32_t mnum, tc_schema *s) {
  tc_field *fields = NULL;
  tc_kv *meta = NULL;
  int rc = count_field(c, p, n, fnum, &s->n_fields);
  if (!rc && mnum) rc = count_field(c, p, n, mnum, &s->n_metadata);
  if (!rc) rc = ALLOC_ARRAY(c, fields, s->n_fields);
  if (!rc) rc = ALLOC_ARRAY(c, meta, s->n_metadata);
  if (rc) return rc;
  s->fields = fields;
  s->metadata = meta;
  tc__pb r = {p, p + n};
  tc__pb_field f;
  size_t nf = 0, nm = 0;
  while (!rc && tc__pb_next(&r, &f) > 0) {
    if (f.num == fnum)
      rc = want(c, &f, 2) ? TC_EPROTO : parse_field(c, f.data, f.len, &fields[nf++], 0);
    else if (mnum && f.num == mnum)
      rc = want(c, &f, 2) ? TC_EPROTO : parse_kv(c, f.data, f.len, &meta[nm++]);
  }
  return rc;
}

/* ---- arrays ---- */

static int parse_array(ctx *c, const uint8_t *p, size_t n, tc_column *col, const tc_field *fl, int depth) {
  if (depth > MAX_DEPTH) return malformed(c, "arrays nested too deeply");
  col->field = fl;
  col->name = fl ? fl->name : "";
  col->type = fl ? fl->type : TC_TYPE_UNSPECIFIED;
  tc_column *children = NULL;
  int rc = count_field(c, p, n, 6, &col->n_children);
  if (!rc) rc = ALLOC_ARRAY(c, children, col->n_children);
  if (rc) return rc;
  col->children = children;
  tc__pb r = {p, p + n};
  tc__pb_field f;
  size_t nc = 0;
  while (!rc && tc__pb_next(&r, &f) > 0) {
    switch (f.num) {
    case 1: rc = get_i64(c, &f, &col->length); break;
    case 2: rc = get_i64(c, &f, &col->null_count); break;
    case 3: rc = get_view(c, &f, &col->validity, &col->validity_size); break;
    case 4: rc = get_view(c, &f, &col->offsets, &col->offsets_size); break;
    case 5: rc = get_view(c, &f, &col->values, &col->values_size); break;
    case 6: {
      const tc_field *cf = fl && nc < fl->n_children ? &fl->children[nc] : NULL;
      rc = want(c, &f, 2) ? TC_EPROTO : parse_array(c, f.data, f.len, &children[nc++], cf, depth + 1);
      break;
    }
    case 7: rc = get_span(c, &f, &col->validity, &col->validity_size); break;
    case 8: rc = get_span(c, &f, &col->offsets, &col->offsets_size); break;
    case 9: rc = get_span(c, &f, &col->values, &col->values_size); break;
    default: break;
    }
  }
  return rc;
}

/* ---- checking a column's buffers against its type ----
 * Done once here, so that every consumer (the CLI, the Python package, users) may index the buffers of a
 * column of a known type without checks of its own: sizes match lengths, offsets are monotone and in
 * range, child lengths match. A column of a type this header does not know is left unchecked. */

static int64_t load_le(const uint8_t *p, size_t w, size_t i) {
  if (w == 4) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

/* Bytes per value of a fixed-width column (a fixed_size_binary's may be 0, or negative: refused); -1 for
 * the other types. */
static int value_width(int type, const tc_field *fl) {
  if (type == TC_TYPE_FIXED_SIZE_BINARY) return fl->byte_width;
  int w = tc_type_fixed_width(type);
  return w > 0 ? w : -1;
}

/* LEN + 1 offsets of width W (none at all is fine for LEN 0), from >= 0, monotone, the last <= LIMIT. */
static int check_offsets(ctx *c, const tc_column *col, size_t w, int64_t limit, int64_t *last) {
  *last = 0;
  if (col->length == 0 && col->offsets_size == 0) return 0;
  if ((uint64_t)col->length >= SIZE_MAX / w - 1 || col->offsets_size != ((size_t)col->length + 1) * w)
    return malformed(c, "offsets do not match the length");
  int64_t prev = load_le(col->offsets, w, 0);
  if (prev < 0) return malformed(c, "negative offset");
  for (size_t i = 1; i <= (size_t)col->length; i++) {
    int64_t o = load_le(col->offsets, w, i);
    if (o < prev) return malformed(c, "offsets go backwards");
    prev = o;
  }
  if (prev > limit) return malformed(c, "offsets run past their data");
  *last = prev;
  return 0;
}

static int check_column(ctx *c, const tc_column *col, int64_t length, int depth);

static int check_children(ctx *c, const tc_column *col, size_t n, const int64_t *lengths, int depth) {
  if (col->n_children != n) return malformed(c, "wrong number of child arrays");
  for (size_t i = 0; i < n; i++)
    if (check_column(c, &col->children[i], lengths ? lengths[i] : col->children[i].length, depth + 1)) return TC_EPROTO;
  return 0;
}

static int check_nested(ctx *c, const tc_column *col, const tc_field *fl, int depth) {
  int64_t last;
  switch (col->type) {
  case TC_TYPE_UTF8:
  case TC_TYPE_BINARY:
  case TC_TYPE_LARGE_UTF8:
  case TC_TYPE_LARGE_BINARY: {
    size_t w = col->type == TC_TYPE_UTF8 || col->type == TC_TYPE_BINARY ? 4 : 8;
    return check_offsets(c, col, w, (int64_t)(col->values_size > INT64_MAX ? INT64_MAX : col->values_size), &last);
  }
  case TC_TYPE_LIST:
  case TC_TYPE_LARGE_LIST: {
    if (col->n_children != 1) return malformed(c, "a list needs one child array");
    if (check_offsets(c, col, col->type == TC_TYPE_LIST ? 4 : 8, col->children[0].length, &last)) return TC_EPROTO;
    return check_children(c, col, 1, NULL, depth);
  }
  case TC_TYPE_FIXED_SIZE_LIST: {
    int64_t need;
    if (fl->list_size < 0 || __builtin_mul_overflow(col->length, (int64_t)fl->list_size, &need))
      return malformed(c, "bad fixed-size list");
    return check_children(c, col, 1, &need, depth);
  }
  case TC_TYPE_STRUCT: {
    if (col->n_children != fl->n_children) return malformed(c, "a struct's arrays do not match its fields");
    for (size_t i = 0; i < col->n_children; i++)
      if (check_column(c, &col->children[i], col->length, depth + 1)) return TC_EPROTO;
    return 0;
  }
  case TC_TYPE_NULL: return col->null_count == col->length ? 0 : malformed(c, "a null array with values");
  default: return 0; /* a type this header does not know: left to the caller */
  }
}

static int check_column(ctx *c, const tc_column *col, int64_t length, int depth) {
  if (depth > MAX_DEPTH) return malformed(c, "arrays nested too deeply");
  if (col->length != length || length < 0) return malformed(c, "an array's length does not match its parent");
  if (col->null_count < 0 || col->null_count > length) return malformed(c, "bad null count");
  if (!col->field) return 0; /* no type: nothing to check against */
  size_t bitmap = (size_t)(length / 8 + (length % 8 != 0));
  if (col->validity_size && col->validity_size < bitmap) return malformed(c, "validity bitmap too short");
  if (!col->validity_size && col->null_count && col->type != TC_TYPE_NULL)
    return malformed(c, "nulls without a validity bitmap");
  int w = value_width(col->type, col->field);
  if (col->type == TC_TYPE_BOOL) return col->values_size >= bitmap ? 0 : malformed(c, "bool values too short");
  if (w >= 0)
    return (w == 0 || (uint64_t)length <= col->values_size / (size_t)w) ? 0 : malformed(c, "values too short");
  if (col->type == TC_TYPE_FIXED_SIZE_BINARY) return malformed(c, "negative fixed-size binary width");
  return check_nested(c, col, col->field, depth);
}

/* ---- Batch ---- */

typedef struct batch_priv {
  tc_batch pub; /* first: tc_batch_free casts back */
  tc__arena arena;
  tc__msg *msg;
} batch_priv;

static int batch_scalars(ctx *c, const uint8_t *p, size_t n, tc_batch *b) {
  tc__pb r = {p, p + n};
  tc__pb_field f;
  int k = 0, rc = 0;
  while (!rc && (k = tc__pb_next(&r, &f)) > 0) {
    switch (f.num) {
    case 1: rc = get_str(c, &f, &b->table); break;
    case 2: rc = get_str(c, &f, &b->version); break;
    case 3: rc = get_i64(c, &f, &b->num_rows); break;
    case 4: rc = get_view(c, &f, &b->row_ids, &b->row_ids_size); break;
    case 7: rc = get_i64(c, &f, &b->offset); break;
    case 8: rc = get_int(c, &f, &b->shm); break;
    case 9: rc = get_span(c, &f, &b->row_ids, &b->row_ids_size); break;
    default: break;
    }
  }
  if (rc) return rc;
  b->shm = b->shm != 0;
  if (b->shm && !c->slot) return malformed(c, "a batch in shared memory, but the request named no slot");
  if (k < 0) return malformed(c, "truncated or bad field");
  if (b->num_rows < 0 || b->row_ids_size % 8 || b->row_ids_size / 8 != (uint64_t)b->num_rows)
    return malformed(c, "row_ids do not match num_rows");
  return 0;
}

static int batch_columns(ctx *c, const uint8_t *p, size_t n, const tc_schema *s, tc_batch *b) {
  tc_column *cols = NULL;
  int rc = count_field(c, p, n, 6, &b->n_columns);
  if (!rc) rc = ALLOC_ARRAY(c, cols, b->n_columns);
  if (rc) return rc;
  b->columns = cols;
  tc__pb r = {p, p + n};
  tc__pb_field f;
  size_t i = 0;
  while (!rc && tc__pb_next(&r, &f) > 0) {
    if (f.num != 6) continue;
    const tc_field *fl = i < s->n_fields ? &s->fields[i] : NULL;
    rc = want(c, &f, 2) ? TC_EPROTO : parse_array(c, f.data, f.len, &cols[i], fl, 0);
    if (!rc) rc = check_column(c, &cols[i], b->num_rows, 0);
    i++;
  }
  return rc;
}

int tc__batch_parse(tc__msg *m, tc_batch **out, char *err, size_t errlen) {
  return tc__batch_parse_shm(m, NULL, 0, out, err, errlen);
}

int tc__batch_parse_shm(tc__msg *m, const uint8_t *slot, size_t slot_size, tc_batch **out, char *err, size_t errlen) {
  tc__arena a = {NULL};
  batch_priv *bp = tc__arena_alloc(&a, sizeof *bp);
  if (!bp) {
    free(m);
    snprintf(err, errlen, "out of memory parsing Batch");
    return TC_ENOMEM;
  }
  bp->arena = a;
  bp->msg = m;
  tc_batch *b = &bp->pub;
  b->table = b->version = "";
  ctx c = {&bp->arena, err, errlen, "Batch", slot, slot_size};
  tc_schema s = {0};
  int rc = batch_scalars(&c, m->data, m->len, b);
  if (!rc) rc = parse_fields(&c, m->data, m->len, 5, 0, &s);
  if (!rc) rc = batch_columns(&c, m->data, m->len, &s, b);
  if (rc) {
    tc_batch_free(b);
    return rc;
  }
  *out = b;
  return TC_OK;
}

void tc_batch_free(tc_batch *batch) {
  if (!batch) return;
  batch_priv *bp = (batch_priv *)batch;
  free(bp->msg);
  tc__arena_free(&bp->arena);
}

const tc_column *tc_batch_column(const tc_batch *batch, const char *name) {
  if (!batch || !name) return NULL;
  for (size_t i = 0; i < batch->n_columns; i++)
    if (strcmp(batch->columns[i].name, name) == 0) return &batch->columns[i];
  return NULL;
}

/* ---- TableInfo, ListTablesResponse ---- */

static int parse_table_info(ctx *c, const uint8_t *p, size_t n, tc_table_info *t) {
  t->name = t->version = "";
  const char **files = NULL;
  int rc = count_field(c, p, n, 5, &t->n_files);
  if (!rc) rc = ALLOC_ARRAY(c, files, t->n_files);
  if (rc) return rc;
  t->files = files;
  tc__pb r = {p, p + n};
  tc__pb_field f;
  size_t nf = 0;
  int k = 0;
  while (!rc && (k = tc__pb_next(&r, &f)) > 0) {
    switch (f.num) {
    case 1: rc = get_str(c, &f, &t->name); break;
    case 2: rc = want(c, &f, 2) ? TC_EPROTO : parse_fields(c, f.data, f.len, 1, 2, &t->schema); break;
    case 3: rc = get_i64(c, &f, &t->num_rows); break;
    case 4: rc = get_str(c, &f, &t->version); break;
    case 5: rc = get_str(c, &f, &files[nf++]); break;
    case 6: rc = get_i64(c, &f, &t->num_bytes); break;
    default: break;
    }
  }
  if (rc) return rc;
  return k < 0 ? malformed(c, "truncated or bad field") : 0;
}

typedef struct info_priv {
  tc_table_info pub;
  tc__arena arena;
} info_priv;

typedef struct list_priv {
  tc_table_list pub;
  tc__arena arena;
} list_priv;

int tc__table_info_parse(tc__msg *m, tc_table_info **out, char *err, size_t errlen) {
  tc__arena a = {NULL};
  info_priv *ip = tc__arena_alloc(&a, sizeof *ip);
  int rc = TC_ENOMEM;
  if (!ip) {
    snprintf(err, errlen, "out of memory parsing TableInfo");
  } else {
    ip->arena = a;
    ctx c = {.a = &ip->arena, .err = err, .errlen = errlen, .msg = "TableInfo"};
    rc = parse_table_info(&c, m->data, m->len, &ip->pub);
    if (rc)
      tc__arena_free(&ip->arena);
    else
      *out = &ip->pub;
  }
  free(m);
  return rc;
}

void tc_table_info_free(tc_table_info *info) {
  if (info) tc__arena_free(&((info_priv *)info)->arena);
}

static int parse_table_list(ctx *c, const uint8_t *p, size_t n, tc_table_list *l) {
  tc_table_info *tables = NULL;
  int rc = count_field(c, p, n, 1, &l->n_tables);
  if (!rc) rc = ALLOC_ARRAY(c, tables, l->n_tables);
  if (rc) return rc;
  l->tables = tables;
  tc__pb r = {p, p + n};
  tc__pb_field f;
  size_t i = 0;
  while (!rc && tc__pb_next(&r, &f) > 0)
    if (f.num == 1) rc = want(c, &f, 2) ? TC_EPROTO : parse_table_info(c, f.data, f.len, &tables[i++]);
  return rc;
}

int tc__table_list_parse(tc__msg *m, tc_table_list **out, char *err, size_t errlen) {
  tc__arena a = {NULL};
  list_priv *lp = tc__arena_alloc(&a, sizeof *lp);
  int rc = TC_ENOMEM;
  if (!lp) {
    snprintf(err, errlen, "out of memory parsing ListTablesResponse");
  } else {
    lp->arena = a;
    ctx c = {.a = &lp->arena, .err = err, .errlen = errlen, .msg = "ListTablesResponse"};
    rc = parse_table_list(&c, m->data, m->len, &lp->pub);
    if (rc)
      tc__arena_free(&lp->arena);
    else
      *out = &lp->pub;
  }
  free(m);
  return rc;
}

void tc_table_list_free(tc_table_list *list) {
  if (list) tc__arena_free(&((list_priv *)list)->arena);
}

/* Strings travel in proto3 `string` fields, which must be UTF-8 (and the Python package decodes them). */
int tc__utf8_ok(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i], k, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xe0) == 0xc0)
      k = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
      k = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
      k = 3, min = 0x10000, c &= 0x07;
    else
      return 0;
    if (n - i <= k) return 0;
    for (unsigned j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      c = c << 6 | (s[i + j] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0; /* overlong, too big, surrogate */
    i += k + 1;
  }
  return 1;
}
