/* row_hash.c: see row_hash.h. */
#include "row_hash.h"

#include "hash.h"

static int hashable(const at_field *f) {
  return at_type_fixed_width(f) >= 0 || f->type == AT_NULL || f->type == AT_UTF8 || f->type == AT_BINARY ||
         f->type == AT_LARGE_UTF8 || f->type == AT_LARGE_BINARY;
}

/* Hash of one value: a presence byte, then the value's bytes (bool: one byte 0 or 1). */
static uint64_t hash_value(const at_field *f, const at_array *a, int64_t i, uint64_t h) {
  uint8_t present = (uint8_t)at_array_valid(a, i);
  h = ts_fnv1a64(&present, 1, h);
  if (!present) return h;
  int64_t w = at_type_fixed_width(f);
  if (w == 0) {
    uint8_t bit = (uint8_t)at_bit(a->values, i);
    return ts_fnv1a64(&bit, 1, h);
  }
  if (w > 0) return ts_fnv1a64(a->values + i * w, (size_t)w, h);
  int large = at_type_is_large(f->type);
  int64_t start = at_array_offset(a, large, i), end = at_array_offset(a, large, i + 1);
  return ts_fnv1a64(a->values + start, (size_t)(end - start), h);
}

ts_status ts_row_hashes(ts_table *t, const size_t *cols, size_t nc, uint64_t *out, ts_error *err) {
  const at_schema *schema = ts_table_schema(t);
  for (size_t c = 0; c < nc; c++)
    if (!hashable(&schema->fields[cols[c]]))
      return ts_error_set(err, TC_EINVALID_ARGUMENT,
                          "column '%s' cannot be hashed for a split: use numbers, strings or binaries",
                          schema->fields[cols[c]].name);
  for (int64_t bi = 0; bi < ts_table_num_batches(t); bi++) {
    ts_batch_pin p;
    if (ts_table_pin(t, bi, &p, err) != TC_OK) return err->code;
    for (int64_t r = p.first_row; r < p.end_row; r++) {
      uint64_t h = TS_FNV64_OFFSET;
      for (size_t c = 0; c < nc; c++)
        h = hash_value(&schema->fields[cols[c]], &p.batch->columns[cols[c]], r - p.first_row, h);
      out[r] = ts_mix64(h);
    }
    ts_table_unpin(t, &p);
  }
  return TC_OK;
}
