/* arrow/take.c: dictionary-encoded arrays, decoded with a generic take of dictionary rows (recursive over nested
 * value types). */
#include "internal.h"

#include <stdlib.h>

/* ------------------------------------------------------------------------------------------------------ */
/* Dictionaries: a generic take of dictionary rows, recursive over nested value types. */

static int take(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst);

static int take_validity(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int64_t nulls = 0;
  for (int64_t i = 0; i < n; i++) nulls += ix[i] < 0 || (src->validity && !bit(src->validity, ix[i]));
  dst->length = n;
  dst->null_count = nulls;
  if (!nulls) return 0;
  uint8_t *bits = ar_buffer(r->ar, bitmap_bytes(n));
  if (!bits) return ar_ffail(&r->c, d->path, "out of memory");
  memset(bits, 0, (size_t)bitmap_bytes(n));
  for (int64_t i = 0; i < n; i++)
    if (ix[i] >= 0 && (!src->validity || bit(src->validity, ix[i]))) set_bit(bits, i);
  dst->validity = bits;
  return 0;
}

static int take_fixed(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int w = d->phys == P_BOOL ? 0 : d->width;
  int64_t bytes = bitmap_bytes(n);
  if (w && !mul_ok(n, w, &bytes)) return ar_ffail(&r->c, d->path, "decoded column too large");
  uint8_t *v = ar_buffer(r->ar, bytes);
  if (!v) return ar_ffail(&r->c, d->path, "decoded column too large or out of memory");
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

static int take_binary(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  int w = offsets_width(d);
  int64_t total = 0;
  for (int64_t i = 0; i < n; i++)
    if (ix[i] >= 0 &&
        !add_ok(total, load_offset(src->offsets, w, ix[i] + 1) - load_offset(src->offsets, w, ix[i]), &total))
      return ar_ffail(&r->c, d->path, "decoded column too large");
  if (total > MAX_BUFFER || (w == 4 && total > INT32_MAX)) return ar_ffail(&r->c, d->path, "decoded column too large");
  uint8_t *offs = ar_buffer(r->ar, (n + 1) * w), *vals = ar_buffer(r->ar, total);
  if (!offs || !vals) return ar_ffail(&r->c, d->path, "out of memory");
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
static int take_child(rd *r, const fdesc *d, const at_array *src, int64_t *cix, int64_t child_n, at_array *dst) {
  int rc = -1;
  dst->children = ar_calloc(r->ar, 1, sizeof(at_array));
  if (!dst->children)
    ar_ffail(&r->c, d->path, "out of memory");
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
    if (ix[i] >= 0 &&
        !add_ok(total, load_offset(src->offsets, w, ix[i] + 1) - load_offset(src->offsets, w, ix[i]), &total))
      return ar_ffail(&r->c, d->path, "decoded column too large");
  if (total > MAX_BUFFER / 8 || (w == 4 && total > INT32_MAX))
    return ar_ffail(&r->c, d->path, "decoded column too large");
  uint8_t *offs = ar_buffer(r->ar, (n + 1) * w);
  int64_t *cix = malloc((size_t)(total ? total : 1) * sizeof *cix);
  if (!offs || !cix) {
    free(cix);
    return ar_ffail(&r->c, d->path, "out of memory");
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
  if (!mul_ok(n, ls, &total) || total > MAX_BUFFER / 8) return ar_ffail(&r->c, d->path, "decoded column too large");
  int64_t *cix = malloc((size_t)(total ? total : 1) * sizeof *cix);
  if (!cix) return ar_ffail(&r->c, d->path, "out of memory");
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < ls; j++) cix[i * ls + j] = ix[i] < 0 ? -1 : ix[i] * ls + j;
  return take_child(r, d, src, cix, total, dst);
}

static int take_struct(rd *r, const fdesc *d, const at_array *src, const int64_t *ix, int64_t n, at_array *dst) {
  if (d->n_children == 0) return 0;
  dst->children = ar_calloc(r->ar, d->n_children, sizeof(at_array));
  if (!dst->children) return ar_ffail(&r->c, d->path, "out of memory");
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
  return ar_ffail(&r->c, d->path, "internal error: unknown layout");
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

int ar_rd_dict(rd *r, const fdesc *d, at_array *a) {
  const at_array *dict = r->dicts ? r->dicts[d->dict_slot] : NULL;
  if (!dict) return ar_ffail(&r->c, d->path, "no dictionary with id %lld", (long long)d->dict_id);
  at_array idx = *a;
  if (ar_rd_fixed(r, d, &idx, d->idx_width) != 0) return -1;
  int64_t *ix = malloc((size_t)(a->length ? a->length : 1) * sizeof *ix);
  if (!ix) return ar_ffail(&r->c, d->path, "out of memory");
  for (int64_t i = 0; i < a->length; i++) {
    ix[i] = ar_valid(&idx, i) ? load_index(idx.values, d->idx_width, d->idx_signed, i) : -1;
    if (ar_valid(&idx, i) && (ix[i] < 0 || ix[i] >= dict->length)) {
      free(ix);
      return ar_ffail(&r->c, d->path, "dictionary index out of range at row %lld", (long long)i);
    }
  }
  memset(a, 0, sizeof *a);
  int rc = take(r, d, dict, ix, idx.length, a);
  free(ix);
  return rc;
}
