/* gather.c: see gather.h.
 *
 * Every row has a source (an array of some pinned record batch, and an index in it). Gathering walks the
 * column's type tree once, building each output buffer with one allocation. A chain of fixed-size lists
 * of a fixed-width type (an image) has each row contiguous in its file, so it is copied with one memcpy
 * per row instead of element by element.
 */
#include "gather.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "schema.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tablecar serves little-endian Arrow buffers as they are: build it on a little-endian machine"
#endif

typedef struct src {
  const at_array *a;
  int64_t i;
} src;

typedef struct budget {
  size_t used, max;
  ts_gather_dest *dest; /* NULL: buffers are malloc'd; else carved out of dest, 64-byte aligned */
  size_t dest_used;
} budget;

#define DEST_ALIGN 64 /* a cache line, and what any tensor library wants of a buffer it wraps */

static void set_bit(uint8_t *bits, int64_t i) { bits[i >> 3] |= (uint8_t)(1u << (i & 7)); }

static ts_status too_big(ts_error *err, const budget *b) {
  if (b->dest) { /* not an error the client sees: the batch goes in the message instead */
    b->dest->overflow = 1;
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "the batch is larger than its shared-memory slot");
  }
  return ts_error_set(err, TC_ERESOURCE_EXHAUSTED,
                      "the batch is larger than the server's --max-message-bytes (%zu): ask for fewer rows "
                      "or columns",
                      b->max);
}

/* A buffer of N bytes charged to the budget, or NULL with err set. Zeroed only for bitmaps (ZERO): every
 * other buffer is written whole by its gather, and zeroing it first would write each byte twice. */
static uint8_t *take_buf(budget *b, size_t n, int zero, ts_error *err) {
  if (n > b->max - b->used || n > SIZE_MAX / 2) {
    too_big(err, b);
    return NULL;
  }
  if (b->dest) {
    size_t at = (b->dest_used + DEST_ALIGN - 1) & ~(size_t)(DEST_ALIGN - 1);
    if (at > b->dest->size || n > b->dest->size - at) {
      too_big(err, b);
      return NULL;
    }
    b->dest_used = at + n;
    b->used += n;
    if (zero) memset(b->dest->base + at, 0, n);
    return b->dest->base + at;
  }
  uint8_t *p = zero ? calloc(n ? n : 1, 1) : malloc(n ? n : 1);
  if (!p)
    ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory gathering %zu bytes", n);
  else
    b->used += n;
  return p;
}

static uint8_t *take(budget *b, size_t n, ts_error *err) { return take_buf(b, n, 0, err); }

static uint8_t *take_zeroed(budget *b, size_t n, ts_error *err) { return take_buf(b, n, 1, err); }

static Tablecar__V1__Array *new_array(size_t n, ts_error *err) {
  Tablecar__V1__Array *a = malloc(sizeof *a);
  if (!a) {
    ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  tablecar__v1__array__init(a);
  a->length = (int64_t)n;
  return a;
}

static ts_status add_children(Tablecar__V1__Array *a, size_t n, ts_error *err) {
  a->children = calloc(n, sizeof *a->children);
  if (!a->children) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  a->n_children = n;
  return TC_OK;
}

static ts_status gather_validity(size_t n, const src *s, Tablecar__V1__Array *out, budget *b, ts_error *err) {
  size_t k = 0;
  while (k < n && s[k].a->null_count == 0) k++;
  if (k == n) return TC_OK;
  uint8_t *bits = take_zeroed(b, (n + 7) / 8, err);
  if (!bits) return err->code;
  int64_t nulls = 0;
  for (k = 0; k < n; k++) {
    if (at_array_valid(s[k].a, s[k].i))
      set_bit(bits, (int64_t)k);
    else
      nulls++;
  }
  out->validity.data = bits;
  out->validity.len = (n + 7) / 8;
  out->null_count = nulls;
  return TC_OK;
}

static ts_status gather_fixed(int64_t w, size_t n, const src *s, Tablecar__V1__Array *out, budget *b, ts_error *err) {
  size_t bytes = w == 0 ? (n + 7) / 8 : n * (size_t)w;
  uint8_t *v = w == 0 ? take_zeroed(b, bytes, err) : take(b, bytes, err);
  if (!v) return err->code;
  if (w == 0) {
    for (size_t k = 0; k < n; k++)
      if (at_bit(s[k].a->values, s[k].i)) set_bit(v, (int64_t)k);
  } else {
    for (size_t k = 0; k < n; k++) memcpy(v + k * (size_t)w, s[k].a->values + s[k].i * w, (size_t)w);
  }
  out->values.data = v;
  out->values.len = bytes;
  return TC_OK;
}

/* New offsets (n + 1 of them, in the output's width) for the ranges [start, end) of each row. */
static ts_status build_offsets(int large, size_t n, const src *s, Tablecar__V1__Array *out, budget *b, int64_t *total,
                               ts_error *err) {
  int64_t sum = 0;
  for (size_t k = 0; k < n; k++)
    sum += at_array_offset(s[k].a, large, s[k].i + 1) - at_array_offset(s[k].a, large, s[k].i);
  if ((!large && sum > INT32_MAX) || (uint64_t)sum > b->max) return too_big(err, b);
  size_t width = large ? 8 : 4;
  uint8_t *o = take(b, (n + 1) * width, err);
  if (!o) return err->code;
  int64_t at = 0;
  for (size_t k = 0; k <= n; k++) {
    if (large)
      ((int64_t *)(void *)o)[k] = at;
    else
      ((int32_t *)(void *)o)[k] = (int32_t)at;
    if (k < n) at += at_array_offset(s[k].a, large, s[k].i + 1) - at_array_offset(s[k].a, large, s[k].i);
  }
  out->offsets.data = o;
  out->offsets.len = (n + 1) * width;
  *total = sum;
  return TC_OK;
}

static ts_status gather_bytes(int large, size_t n, const src *s, Tablecar__V1__Array *out, budget *b, ts_error *err) {
  int64_t total;
  if (build_offsets(large, n, s, out, b, &total, err) != TC_OK) return err->code;
  uint8_t *v = take(b, (size_t)total, err);
  if (!v) return err->code;
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    int64_t start = at_array_offset(s[k].a, large, s[k].i), end = at_array_offset(s[k].a, large, s[k].i + 1);
    memcpy(v + at, s[k].a->values + start, (size_t)(end - start));
    at += (size_t)(end - start);
  }
  out->values.data = v;
  out->values.len = (size_t)total;
  return TC_OK;
}

static ts_status gather_array(const at_field *f, size_t n, const src *s, budget *b, Tablecar__V1__Array **out,
                              ts_error *err);

/* Bytes of one row of a fixed-size-list chain ending in a fixed-width (not bool) type, whose child arrays
 * have no nulls in any of the sources; 0 when the fast path does not apply. */
static int64_t contiguous_row_bytes(const at_field *f, size_t n, const src *s) {
  int64_t bytes = 1;
  const at_field *g = f;
  int depth = 0;
  while (g->type == AT_FIXED_SIZE_LIST) {
    bytes *= g->list_size;
    g = &g->children[0];
    depth++;
  }
  int64_t w = at_type_fixed_width(g);
  if (w <= 0) return 0;
  for (size_t k = 0; k < n; k++) {
    const at_array *a = s[k].a;
    for (int d = 0; d < depth; d++) {
      a = &a->children[0];
      if (a->null_count != 0) return 0;
    }
  }
  return bytes * w;
}

/* The fast path: nested arrays without validity, the leaf values copied a row at a time. */
static ts_status gather_fsl_contiguous(const at_field *f, size_t n, const src *s, int64_t row_bytes,
                                       Tablecar__V1__Array *top, budget *b, ts_error *err) {
  Tablecar__V1__Array *parent = top;
  size_t len = n;
  const at_field *g = f;
  while (g->type == AT_FIXED_SIZE_LIST) {
    len *= (size_t)g->list_size;
    if (add_children(parent, 1, err) != TC_OK || !(parent->children[0] = new_array(len, err))) return err->code;
    parent = parent->children[0];
    g = &g->children[0];
  }
  if ((uint64_t)row_bytes * n > b->max) return too_big(err, b);
  uint8_t *v = take(b, (size_t)row_bytes * n, err);
  if (!v) return err->code;
  for (size_t k = 0; k < n; k++) {
    const at_array *leaf = s[k].a;
    while (leaf->n_children > 0) leaf = &leaf->children[0];
    memcpy(v + k * (size_t)row_bytes, leaf->values + s[k].i * row_bytes, (size_t)row_bytes);
  }
  parent->values.data = v;
  parent->values.len = (size_t)row_bytes * n;
  return TC_OK;
}

/* The child rows [start, end) of parent row K: by its offsets, or FIXED a row (a fixed-size list, which
 * has no offsets; FIXED may be 0) when FIXED >= 0. */
static void child_range(const src *s, int large, int64_t fixed, int64_t *start, int64_t *end) {
  *start = fixed >= 0 ? s->i * fixed : at_array_offset(s->a, large, s->i);
  *end = fixed >= 0 ? *start + fixed : at_array_offset(s->a, large, s->i + 1);
}

/* Fast path for children of a fixed width (not bool) without nulls: each row's range copied at once, with
 * no per-element bookkeeping. */
static ts_status copy_child_ranges(int64_t w, size_t n, const src *s, int large, int64_t fixed, int64_t total,
                                   Tablecar__V1__Array *out, budget *b, ts_error *err) {
  if ((uint64_t)total > (b->max - b->used) / (uint64_t)w) return too_big(err, b);
  Tablecar__V1__Array *ca;
  uint8_t *v;
  if (add_children(out, 1, err) != TC_OK || !(ca = out->children[0] = new_array((size_t)total, err)) ||
      !(v = take(b, (size_t)(total * w), err)))
    return err->code;
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    int64_t start, end;
    child_range(&s[k], large, fixed, &start, &end);
    memcpy(v + at, s[k].a->children[0].values + start * w, (size_t)((end - start) * w));
    at += (size_t)((end - start) * w);
  }
  ca->values.data = v;
  ca->values.len = at;
  return TC_OK;
}

/* Child sources of list-like rows: row k of the parent covers child positions [start_k, end_k). */
static ts_status gather_child_ranges(const at_field *child, size_t n, const src *s, int large, int64_t fixed,
                                     Tablecar__V1__Array *out, budget *b, ts_error *err) {
  int64_t total = 0, w = at_type_fixed_width(child);
  int child_nulls = 0;
  for (size_t k = 0; k < n; k++) {
    int64_t start, end;
    child_range(&s[k], large, fixed, &start, &end);
    total += end - start;
    child_nulls |= s[k].a->children[0].null_count != 0;
  }
  if (w > 0 && !child_nulls) return copy_child_ranges(w, n, s, large, fixed, total, out, b, err);
  /* The general path keeps a 16-byte source per child element, so the element count is bounded by the
   * budget too: a quarter of its bytes (children of 4 bytes a value or more never get there first). */
  if ((uint64_t)total > (uint64_t)(b->max - b->used) / 4) return too_big(err, b);
  src *cs = malloc((size_t)(total ? total : 1) * sizeof *cs);
  if (!cs) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    int64_t start, end;
    child_range(&s[k], large, fixed, &start, &end);
    for (int64_t j = start; j < end; j++) cs[at++] = (src){&s[k].a->children[0], j};
  }
  ts_status st = add_children(out, 1, err);
  if (st == TC_OK) st = gather_array(child, (size_t)total, cs, b, &out->children[0], err);
  free(cs);
  return st;
}

static ts_status gather_struct(const at_field *f, size_t n, const src *s, Tablecar__V1__Array *out, budget *b,
                               ts_error *err) {
  if (add_children(out, f->n_children, err) != TC_OK) return err->code;
  src *cs = malloc((n ? n : 1) * sizeof *cs);
  if (!cs) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  ts_status st = TC_OK;
  for (size_t c = 0; st == TC_OK && c < f->n_children; c++) {
    for (size_t k = 0; k < n; k++) cs[k] = (src){&s[k].a->children[c], s[k].i};
    st = gather_array(&f->children[c], n, cs, b, &out->children[c], err);
  }
  free(cs);
  return st;
}

static ts_status gather_array(const at_field *f, size_t n, const src *s, budget *b, Tablecar__V1__Array **out,
                              ts_error *err) {
  Tablecar__V1__Array *a = *out = new_array(n, err);
  if (a && f->type == AT_NULL) {
    a->null_count = (int64_t)n; /* no buffers at all */
    return TC_OK;
  }
  if (!a || gather_validity(n, s, a, b, err) != TC_OK) return err->code;
  int64_t w = at_type_fixed_width(f);
  if (w >= 0) return gather_fixed(w, n, s, a, b, err);
  switch (f->type) {
  case AT_UTF8:
  case AT_BINARY:
  case AT_LARGE_UTF8:
  case AT_LARGE_BINARY: return gather_bytes(at_type_is_large(f->type), n, s, a, b, err);
  case AT_LIST:
  case AT_LARGE_LIST: {
    int64_t total;
    if (build_offsets(at_type_is_large(f->type), n, s, a, b, &total, err) != TC_OK) return err->code;
    return gather_child_ranges(&f->children[0], n, s, at_type_is_large(f->type), -1, a, b, err);
  }
  case AT_FIXED_SIZE_LIST: {
    int64_t row_bytes = contiguous_row_bytes(f, n, s);
    if (row_bytes > 0) return gather_fsl_contiguous(f, n, s, row_bytes, a, b, err);
    return gather_child_ranges(&f->children[0], n, s, 0, f->list_size, a, b, err);
  }
  case AT_STRUCT: return gather_struct(f, n, s, a, b, err);
  default: return ts_error_set(err, TC_EINTERNAL, "field '%s': type %d cannot be gathered", f->name, (int)f->type);
  }
}

/* The distinct batches that ROWS live in, pinned; sorted by batch index. */
typedef struct pinset {
  size_t n;
  int64_t *batch; /* sorted batch indices */
  ts_batch_pin *pin;
  int64_t *slot; /* per row: its index in batch/pin */
} pinset;

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

static size_t find_slot(const pinset *ps, int64_t batch) {
  size_t lo = 0, hi = ps->n - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ps->batch[mid] < batch)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void pinset_release(ts_table *t, pinset *ps) {
  for (size_t i = 0; ps->pin && i < ps->n; i++) ts_table_unpin(t, &ps->pin[i]);
  free(ps->batch);
  free(ps->pin);
  free(ps->slot);
}

static ts_status pinset_build(ts_table *t, const int64_t *rows, size_t n, pinset *ps, ts_error *err) {
  *ps = (pinset){0};
  ps->batch = malloc((n ? n : 1) * sizeof *ps->batch);
  ps->slot = malloc((n ? n : 1) * sizeof *ps->slot);
  if (!ps->batch || !ps->slot) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  for (size_t k = 0; k < n; k++) ps->slot[k] = ps->batch[k] = ts_table_batch_of(t, rows[k]);
  qsort(ps->batch, n, sizeof *ps->batch, cmp_i64);
  size_t u = 0;
  for (size_t k = 0; k < n; k++)
    if (u == 0 || ps->batch[u - 1] != ps->batch[k]) ps->batch[u++] = ps->batch[k];
  ps->pin = calloc(u ? u : 1, sizeof *ps->pin);
  if (!ps->pin) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  for (; ps->n < u; ps->n++)
    if (ts_table_pin(t, ps->batch[ps->n], &ps->pin[ps->n], err) != TC_OK) return err->code;
  for (size_t k = 0; k < n; k++) ps->slot[k] = (int64_t)find_slot(ps, ps->slot[k]);
  return TC_OK;
}

static ts_status gather_columns(ts_table *t, const int64_t *rows, size_t n, const size_t *cols, size_t nc,
                                const pinset *ps, Tablecar__V1__Batch *out, budget *b, ts_error *err) {
  const at_schema *schema = ts_table_schema(t);
  src *s = malloc((n ? n : 1) * sizeof *s);
  out->fields = calloc(nc ? nc : 1, sizeof *out->fields);
  out->columns = calloc(nc ? nc : 1, sizeof *out->columns);
  if (!s || !out->fields || !out->columns) {
    free(s);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  ts_status st = TC_OK;
  for (size_t c = 0; st == TC_OK && c < nc; c++) {
    const at_field *f = &schema->fields[cols[c]];
    for (size_t k = 0; k < n; k++) {
      const ts_batch_pin *p = &ps->pin[ps->slot[k]];
      s[k] = (src){&p->batch->columns[cols[c]], rows[k] - p->first_row};
    }
    out->n_fields++;
    if (!(out->fields[c] = ts_field_to_proto(f))) st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    out->n_columns++;
    if (st == TC_OK) st = gather_array(f, n, s, b, &out->columns[c], err);
  }
  free(s);
  return st;
}

/* ---- batches in a shared-memory slot ---- */

/* Buffer D, carved out of the slot, leaves the message (its bytes are not the message's to send or free);
 * with SPAN its place goes to a new Span there (none for an empty buffer). -1 when out of memory. */
static int to_span(const budget *b, ProtobufCBinaryData *d, Tablecar__V1__Span **span) {
  if (span && d->data && d->len > 0) {
    Tablecar__V1__Span *s = malloc(sizeof *s);
    if (!s) return -1;
    tablecar__v1__span__init(s);
    s->offset = (int64_t)(d->data - b->dest->base);
    s->size = (int64_t)d->len;
    *span = s;
  }
  d->data = NULL;
  d->len = 0;
  return 0;
}

/* Every buffer of A (and its children) becomes a span; with SPANS 0 they are only dropped from the
 * message (on an error path, so that freeing the message frees nothing of the slot). */
static int array_to_spans(const budget *b, Tablecar__V1__Array *a, int spans) {
  if (!a) return 0;
  if (to_span(b, &a->validity, spans ? &a->validity_at : NULL) ||
      to_span(b, &a->offsets, spans ? &a->offsets_at : NULL) || to_span(b, &a->values, spans ? &a->values_at : NULL))
    return -1;
  for (size_t i = 0; i < a->n_children; i++)
    if (array_to_spans(b, a->children[i], spans)) return -1;
  return 0;
}

static int batch_to_spans(const budget *b, Tablecar__V1__Batch *m, int spans) {
  int rc = to_span(b, &m->row_ids, spans ? &m->row_ids_at : NULL);
  for (size_t c = 0; !rc && c < m->n_columns; c++) rc = array_to_spans(b, m->columns[c], spans);
  m->shm = spans && !rc;
  return rc;
}

static ts_status gather(ts_table *t, const int64_t *rows, size_t n, const size_t *cols, size_t nc, budget *bp,
                        Tablecar__V1__Batch **out, ts_error *err) {
  budget b = *bp;
  size_t max_bytes = b.max;
  Tablecar__V1__Batch *m = malloc(sizeof *m);
  if (!m) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  tablecar__v1__batch__init(m);
  m->num_rows = (int64_t)n;
  ts_status st = TC_OK;
  if (!(m->table = strdup(ts_table_name(t))) || !(m->version = strdup(ts_table_version(t))))
    st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  uint8_t *ids = st == TC_OK ? take(&b, n * sizeof(int64_t), err) : NULL;
  if (ids) {
    if (n) /* ROWS may be NULL when there are none */
      memcpy(ids, rows, n * sizeof(int64_t));
    m->row_ids.data = ids;
    m->row_ids.len = n * sizeof(int64_t);
  } else if (st == TC_OK) {
    st = err->code;
  }
  pinset ps = {0};
  if (st == TC_OK) st = pinset_build(t, rows, n, &ps, err);
  if (st == TC_OK) st = gather_columns(t, rows, n, cols, nc, &ps, m, &b, err);
  pinset_release(t, &ps);
  if (b.dest && batch_to_spans(&b, m, st == TC_OK) != 0) {
    batch_to_spans(&b, m, 0);
    st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  if (st == TC_OK && protobuf_c_message_get_packed_size(&m->base) > max_bytes) st = too_big(err, &b);
  if (st != TC_OK) {
    ts_batch_msg_free(m);
    return st;
  }
  *out = m;
  return TC_OK;
}

ts_status ts_gather(ts_table *t, const int64_t *rows, size_t n, const size_t *cols, size_t nc, size_t max_bytes,
                    Tablecar__V1__Batch **out, ts_error *err) {
  budget b = {.used = 0, .max = max_bytes};
  return gather(t, rows, n, cols, nc, &b, out, err);
}

ts_status ts_gather_into(ts_table *t, const int64_t *rows, size_t n, const size_t *cols, size_t nc,
                         ts_gather_dest *dest, Tablecar__V1__Batch **out, ts_error *err) {
  dest->overflow = 0;
  budget b = {.used = 0, .max = dest->size, .dest = dest};
  return gather(t, rows, n, cols, nc, &b, out, err);
}

void ts_batch_msg_free(Tablecar__V1__Batch *b) {
  if (b) protobuf_c_message_free_unpacked(&b->base, NULL);
}
