/* fixtures.c: see fixtures.h. */
#include "fixtures.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

typedef struct fx_block {
  struct fx_block *next;
  alignas(max_align_t) unsigned char data[];
} fx_block;

struct fx_arena {
  fx_block *head;
};

fx_arena *fx_arena_new(void) { return calloc(1, sizeof(fx_arena)); }

void *fx_alloc(fx_arena *a, size_t n) {
  if (!a || n > SIZE_MAX - sizeof(fx_block)) return NULL;
  fx_block *b = calloc(1, sizeof *b + n);
  if (!b) return NULL;
  b->next = a->head;
  a->head = b;
  return b->data;
}

void fx_arena_free(fx_arena *a) {
  if (!a) return;
  for (fx_block *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}

static char *fx_strdup(fx_arena *a, const char *s) {
  char *p = fx_alloc(a, strlen(s) + 1);
  return p ? strcpy(p, s) : NULL;
}

void fx_table_free(fx_table *t) {
  fx_arena_free(t->arena);
  memset(t, 0, sizeof *t);
}

int fx_table_write(const char *path, const aw_options *opt, const fx_table *t) {
  return aw_write(path, opt, &t->schema, t->n_batches, t->batch_rows, t->batches);
}

/* ---------------------------------------------------------------- building blocks */

static at_field *new_fields(fx_arena *a, size_t n) { return fx_alloc(a, n * sizeof(at_field)); }

/* A field with no children; NULL name on allocation failure is caught by check_schema. */
static at_field field(fx_arena *a, const char *name, at_type type, int nullable) {
  return (at_field){.name = fx_strdup(a, name), .type = type, .nullable = nullable};
}

/* A list-like field with one child. */
static at_field list_field(fx_arena *a, const char *name, at_type type, int32_t size, at_field item) {
  at_field f = field(a, name, type, 1);
  f.list_size = size;
  f.children = new_fields(a, 1);
  if (f.children) {
    f.children[0] = item;
    f.n_children = 1;
  }
  return f;
}

/* Whether every field (recursively) got its memory. */
static int fields_ok(const at_field *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!f[i].name ||
        ((f[i].type == AT_LIST || f[i].type == AT_LARGE_LIST || f[i].type == AT_FIXED_SIZE_LIST ||
          f[i].type == AT_STRUCT) &&
         !f[i].n_children) ||
        !fields_ok(f[i].children, f[i].n_children))
      return 0;
  }
  return 1;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Validity bitmap for rows [row0, row0 + n): null where (i + phase) % 4 == 0; none when phase < 0. */
static int set_nulls(fx_arena *a, at_array *arr, int64_t row0, int phase) {
  if (phase < 0) return 0;
  uint8_t *bits = fx_alloc(a, (size_t)(arr->length + 7) / 8 + 1);
  if (!bits) return -1;
  for (int64_t j = 0; j < arr->length; j++) {
    if ((row0 + j + phase) % 4 == 0)
      arr->null_count++;
    else
      bits[j / 8] |= (uint8_t)(1u << (j % 8));
  }
  arr->validity = bits;
  return 0;
}

static int is_null(int64_t i, int phase) { return phase >= 0 && (i + phase) % 4 == 0; }

/* ---------------------------------------------------------------- example table */

uint8_t fx_example_image_byte(int64_t i, int64_t k) { return (uint8_t)((i * 31 + k) % 256); }
int64_t fx_example_label(int64_t i) { return i % 10; }
float fx_example_score(int64_t i) { return (float)(i % 100) * 0.25f; }

const char *fx_example_caption(int64_t i, char buf[32]) {
  if (i % 7 == 3) return NULL;
  snprintf(buf, 32, "row %lld", (long long)i);
  return buf;
}

int fx_example_schema(fx_arena *a, fx_shape shape, at_schema *out) {
  at_field *f = new_fields(a, 4);
  if (!f || shape.c <= 0 || shape.h <= 0 || shape.w <= 0 || shape.c * shape.h * shape.w > INT32_MAX)
    return errno = EINVAL, -1;
  at_field px = field(a, "item", AT_UINT8, 0);
  at_field row = list_field(a, "item", AT_FIXED_SIZE_LIST, (int32_t)shape.w, px);
  at_field plane = list_field(a, "item", AT_FIXED_SIZE_LIST, (int32_t)shape.h, row);
  f[0] = list_field(a, "image", AT_FIXED_SIZE_LIST, (int32_t)shape.c, plane);
  f[0].nullable = 0;
  f[1] = field(a, "label", AT_INT64, 0);
  f[2] = field(a, "caption", AT_UTF8, 1);
  f[3] = field(a, "score", AT_FLOAT32, 0);
  *out = (at_schema){.n_fields = 4, .fields = f};
  return fields_ok(f, 4) ? 0 : (errno = ENOMEM, -1);
}

/* image: three nested fixed-size lists over one uint8 buffer. */
static int example_image(fx_arena *a, fx_shape s, int64_t row0, int64_t n, at_array *img) {
  int64_t per_row = s.c * s.h * s.w;
  at_array *lv = fx_alloc(a, 3 * sizeof(at_array));
  uint8_t *px = fx_alloc(a, (size_t)(n * per_row) + 1);
  if (!lv || !px) return -1;
  for (int64_t j = 0; j < n; j++)
    for (int64_t k = 0; k < per_row; k++) px[j * per_row + k] = fx_example_image_byte(row0 + j, k);
  lv[2] = (at_array){.length = n * per_row, .values = px, .values_len = n * per_row};
  lv[1] = (at_array){.length = n * s.c * s.h, .n_children = 1, .children = &lv[2]};
  lv[0] = (at_array){.length = n * s.c, .n_children = 1, .children = &lv[1]};
  *img = (at_array){.length = n, .n_children = 1, .children = &lv[0]};
  return 0;
}

static int example_caption(fx_arena *a, int64_t row0, int64_t n, at_array *cap) {
  int32_t *off = fx_alloc(a, (size_t)(n + 1) * 4);
  char *data = fx_alloc(a, (size_t)n * 32 + 1);
  uint8_t *bits = fx_alloc(a, (size_t)(n + 7) / 8 + 1);
  if (!off || !data || !bits) return -1;
  *cap = (at_array){.length = n, .offsets = (uint8_t *)off, .values = (uint8_t *)data, .validity = bits};
  char buf[32];
  for (int64_t j = 0; j < n; j++) {
    const char *s = fx_example_caption(row0 + j, buf);
    size_t len = s ? strlen(s) : 0;
    memcpy(data + off[j], s ? s : "", len);
    off[j + 1] = off[j] + (int32_t)len;
    if (s)
      bits[j / 8] |= (uint8_t)(1u << (j % 8));
    else
      cap->null_count++;
  }
  cap->values_len = off[n];
  return 0;
}

at_array *fx_example_batch(fx_arena *a, fx_shape shape, int64_t row0, int64_t n) {
  at_array *cols = fx_alloc(a, 4 * sizeof(at_array));
  int64_t *label = fx_alloc(a, (size_t)n * 8 + 1);
  float *score = fx_alloc(a, (size_t)n * 4 + 1);
  if (!cols || !label || !score || example_image(a, shape, row0, n, &cols[0]) || example_caption(a, row0, n, &cols[2]))
    return errno = ENOMEM, NULL;
  for (int64_t j = 0; j < n; j++) {
    label[j] = fx_example_label(row0 + j);
    score[j] = fx_example_score(row0 + j);
  }
  cols[1] = (at_array){.length = n, .values = (uint8_t *)label, .values_len = n * 8};
  cols[3] = (at_array){.length = n, .values = (uint8_t *)score, .values_len = n * 4};
  return cols;
}

/* Splits ROWS into batches of BATCH_ROWS (at least one batch, possibly empty). */
static int split_batches(fx_table *t, int64_t rows, int64_t batch_rows) {
  if (rows < 0 || batch_rows <= 0) return errno = EINVAL, -1;
  t->n_batches = rows ? (size_t)((rows + batch_rows - 1) / batch_rows) : 1;
  t->batch_rows = fx_alloc(t->arena, t->n_batches * sizeof(int64_t));
  t->batches = fx_alloc(t->arena, t->n_batches * sizeof(at_array *));
  if (!t->batch_rows || !t->batches) return errno = ENOMEM, -1;
  for (size_t b = 0; b < t->n_batches; b++) {
    int64_t left = rows - (int64_t)b * batch_rows;
    t->batch_rows[b] = left < batch_rows ? left : batch_rows;
  }
  return 0;
}

int fx_example(fx_table *t, fx_shape shape, int64_t rows, int64_t batch_rows) {
  memset(t, 0, sizeof *t);
  if (!(t->arena = fx_arena_new())) return errno = ENOMEM, -1;
  if (fx_example_schema(t->arena, shape, &t->schema) || split_batches(t, rows, batch_rows)) goto fail;
  for (size_t b = 0, row0 = 0; b < t->n_batches; row0 += (size_t)t->batch_rows[b++])
    if (!(t->batches[b] = fx_example_batch(t->arena, shape, (int64_t)row0, t->batch_rows[b]))) goto fail;
  return 0;
fail:;
  int saved = errno;
  fx_table_free(t);
  return errno = saved, -1;
}

/* ---------------------------------------------------------------- all-types table */

static uint64_t mix(int64_t i) { return (uint64_t)i * 0x9E3779B97F4A7C15ull; }

/* IEEE half bits of an exactly representable normal (or zero) value. */
static uint16_t to_half(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  if (v == 0) return (uint16_t)((b >> 16) & 0x8000);
  return (uint16_t)(((b >> 16) & 0x8000) | ((((b >> 23) & 0xFF) - 127 + 15) << 10) | ((b >> 13) & 0x3FF));
}

/* Fixed-width cell rules: writes row i's value (WIDTH bytes) to OUT. */
static void v_id(int64_t i, uint8_t *o) { put_le(o, (uint64_t)i, 8); }
static void v_bool(int64_t i, uint8_t *o) { o[0] = i % 3 == 0; }          /* packed by the caller */
static void v_int8(int64_t i, uint8_t *o) { put_le(o, mix(i) >> 56, 1); } /* top 8 bits of mix(i) */
static void v_int16(int64_t i, uint8_t *o) { put_le(o, mix(i) >> 48, 2); }
static void v_int32(int64_t i, uint8_t *o) { put_le(o, mix(i) >> 32, 4); }
static void v_int64(int64_t i, uint8_t *o) { put_le(o, mix(i), 8); }
static void v_f16(int64_t i, uint8_t *o) { put_le(o, to_half((float)(i % 16) * 0.5f - 2.0f), 2); }
static void v_f32(int64_t i, uint8_t *o) {
  float f = (float)i * 0.75f - 3.5f;
  memcpy(o, &f, 4);
}
static void v_f64(int64_t i, uint8_t *o) {
  double d = i == 5 ? 1e300 : (double)i * 1.125 - 7.0;
  memcpy(o, &d, 8);
}
static void v_fsb3(int64_t i, uint8_t *o) {
  for (int k = 0; k < 3; k++) o[k] = (uint8_t)(i * 3 + k + 250);
}
static void v_date32(int64_t i, uint8_t *o) { put_le(o, (uint64_t)(i * 1000 - 20000), 4); }
static void v_date64(int64_t i, uint8_t *o) { put_le(o, (uint64_t)((i * 1000 - 20000) * 86400000), 8); }
static void v_ts_s(int64_t i, uint8_t *o) { put_le(o, (uint64_t)(1700000000 + i * 3600), 8); }
static void v_ts_ms(int64_t i, uint8_t *o) { put_le(o, (uint64_t)(1700000000000 + i * 1001), 8); }
static void v_ts_us(int64_t i, uint8_t *o) { put_le(o, (uint64_t)(1700000000000000 - i * 1000001), 8); }
static void v_ts_ns(int64_t i, uint8_t *o) { put_le(o, (uint64_t)(1700000000000000000 + i * 1000000007), 8); }

/* Variable-size cell rules: writes row i's bytes to OUT (at most 64) and returns their number. */
static size_t s_utf8(int64_t i, char *o) {
  if (i % 6 == 5) return 0;
  if (i % 6 == 2) /* JSON escapes and a non-ASCII character */
    return (size_t)snprintf(o, 64, "q\"b\\n\n\t\x01 \xc3\xa9%lld", (long long)i);
  return (size_t)snprintf(o, 64, "s%lld", (long long)i);
}
static size_t s_large_utf8(int64_t i, char *o) {
  return (size_t)snprintf(o, 64, "%.*s%lld", (int)(i % 4), "LLL", (long long)i);
}
static size_t s_binary(int64_t i, char *o) {
  for (int64_t k = 0; k < i % 5; k++) o[k] = (char)(uint8_t)(i * 7 + k * 100);
  return (size_t)(i % 5);
}
static size_t s_large_binary(int64_t i, char *o) {
  for (int64_t k = 0; k < i % 3; k++) o[k] = (char)(uint8_t)(255 - i - k);
  return (size_t)(i % 3);
}

typedef struct fixed_col {
  const char *name;
  at_type type;
  int time_unit;
  const char *tz;
  void (*value)(int64_t i, uint8_t *out);
} fixed_col;

static int fill_fixed(fx_arena *a, const fixed_col *c, const at_field *f, int64_t row0, int64_t n, at_array *arr) {
  int width = f->type == AT_FIXED_SIZE_BINARY ? f->byte_width : f->type == AT_BOOL ? 1 : 0;
  static const int w[] = {[AT_INT8] = 1,    [AT_INT16] = 2,  [AT_INT32] = 4,  [AT_INT64] = 8,    [AT_UINT8] = 1,
                          [AT_UINT16] = 2,  [AT_UINT32] = 4, [AT_UINT64] = 8, [AT_FLOAT16] = 2,  [AT_FLOAT32] = 4,
                          [AT_FLOAT64] = 8, [AT_DATE32] = 4, [AT_DATE64] = 8, [AT_TIMESTAMP] = 8};
  if (!width) width = w[f->type];
  uint8_t *vals = fx_alloc(a, (size_t)(n * width) + 1), cell[8];
  if (!vals) return -1;
  for (int64_t j = 0; j < n; j++) {
    if (f->type != AT_BOOL) {
      c->value(row0 + j, vals + j * width);
      continue;
    }
    c->value(row0 + j, cell);
    vals[j / 8] |= (uint8_t)(cell[0] << (j % 8));
  }
  arr->values = vals;
  arr->values_len = f->type == AT_BOOL ? (n + 7) / 8 : n * width;
  return 0;
}

static int fill_var(fx_arena *a, size_t (*value)(int64_t, char *), int wide, int64_t row0, int64_t n, at_array *arr) {
  uint8_t *off = fx_alloc(a, (size_t)(n + 1) * 8);
  char *data = fx_alloc(a, (size_t)n * 64 + 1);
  if (!off || !data) return -1;
  int64_t pos = 0;
  for (int64_t j = 0; j <= n; j++) {
    put_le(off + j * (wide ? 8 : 4), (uint64_t)pos, wide ? 8 : 4);
    if (j < n) pos += (int64_t)value(row0 + j, data + pos);
  }
  *arr = (at_array){.length = n, .offsets = off, .values = (uint8_t *)data, .values_len = pos};
  return 0;
}

static const fixed_col fixed_cols[] = {
    {"id", AT_INT64, 0, NULL, v_id}, /* i, never null */
    {"bool", AT_BOOL, 0, NULL, v_bool},
    {"int8", AT_INT8, 0, NULL, v_int8},
    {"int16", AT_INT16, 0, NULL, v_int16},
    {"int32", AT_INT32, 0, NULL, v_int32},
    {"int64", AT_INT64, 0, NULL, v_int64},
    {"uint8", AT_UINT8, 0, NULL, v_int8},
    {"uint16", AT_UINT16, 0, NULL, v_int16},
    {"uint32", AT_UINT32, 0, NULL, v_int32},
    {"uint64", AT_UINT64, 0, NULL, v_int64},
    {"float16", AT_FLOAT16, 0, NULL, v_f16},
    {"float32", AT_FLOAT32, 0, NULL, v_f32},
    {"float64", AT_FLOAT64, 0, NULL, v_f64},
    {"fixed_size_binary", AT_FIXED_SIZE_BINARY, 0, NULL, v_fsb3},
    {"date32", AT_DATE32, 0, NULL, v_date32},
    {"date64", AT_DATE64, 0, NULL, v_date64},
    {"ts_s", AT_TIMESTAMP, 0, NULL, v_ts_s},
    {"ts_ms_utc", AT_TIMESTAMP, 1, "UTC", v_ts_ms},
    {"ts_us_paris", AT_TIMESTAMP, 2, "Europe/Paris", v_ts_us},
    {"ts_ns", AT_TIMESTAMP, 3, NULL, v_ts_ns},
};
#define N_FIXED (sizeof fixed_cols / sizeof fixed_cols[0])

typedef struct var_col {
  const char *name;
  at_type type;
  size_t (*value)(int64_t i, char *out);
} var_col;

static const var_col var_cols[] = {
    {"utf8", AT_UTF8, s_utf8},
    {"large_utf8", AT_LARGE_UTF8, s_large_utf8},
    {"binary", AT_BINARY, s_binary},
    {"large_binary", AT_LARGE_BINARY, s_large_binary},
};
#define N_VAR (sizeof var_cols / sizeof var_cols[0])

/* Nested columns, after the fixed and variable ones:
 *   list<int32>         i % 4 items, item k = i * 10 + k, null item where k == 1 and i % 3 == 0
 *   large_list<utf8>    i % 3 items, item k = "<i>.<k>"
 *   fixed_size_list<float32, 2>                 [i + 0.5, -i]
 *   fixed_size_list<fixed_size_list<uint8,3>,2> bytes (i * 6 + k) % 256
 *   struct{a: int32 = i * 3, b: utf8 "b<i>", null where i % 3 == 1}
 * A null list row has no items. */
enum { N_NESTED = 5 };
#define N_ALL (N_FIXED + N_VAR + N_NESTED)

static int all_types_schema(fx_arena *a, at_schema *s) {
  at_field *f = new_fields(a, N_ALL);
  at_kv *meta = fx_alloc(a, 2 * sizeof(at_kv)), *fmeta = fx_alloc(a, sizeof(at_kv));
  if (!f || !meta || !fmeta) return -1;
  for (size_t c = 0; c < N_FIXED; c++) {
    f[c] = field(a, fixed_cols[c].name, fixed_cols[c].type, c != 0);
    f[c].time_unit = fixed_cols[c].time_unit;
    f[c].timezone = fixed_cols[c].tz ? fx_strdup(a, fixed_cols[c].tz) : NULL;
    f[c].byte_width = fixed_cols[c].type == AT_FIXED_SIZE_BINARY ? 3 : 0;
  }
  for (size_t c = 0; c < N_VAR; c++) f[N_FIXED + c] = field(a, var_cols[c].name, var_cols[c].type, 1);
  at_field *n = &f[N_FIXED + N_VAR];
  n[0] = list_field(a, "list", AT_LIST, 0, field(a, "item", AT_INT32, 1));
  n[1] = list_field(a, "large_list", AT_LARGE_LIST, 0, field(a, "item", AT_UTF8, 0));
  n[2] = list_field(a, "fixed_size_list", AT_FIXED_SIZE_LIST, 2, field(a, "item", AT_FLOAT32, 0));
  n[3] = list_field(a, "nested_fixed_size_list", AT_FIXED_SIZE_LIST, 2,
                    list_field(a, "item", AT_FIXED_SIZE_LIST, 3, field(a, "item", AT_UINT8, 0)));
  n[4] = field(a, "struct", AT_STRUCT, 1);
  if ((n[4].children = new_fields(a, 2))) {
    n[4].n_children = 2;
    n[4].children[0] = field(a, "a", AT_INT32, 0);
    n[4].children[1] = field(a, "b", AT_UTF8, 1);
  }
  meta[0] = (at_kv){.key = "origin", .value = "tablecar tc-mkfixture", .key_len = 6, .value_len = 21};
  meta[1] = (at_kv){.key = "rows", .value = "12", .key_len = 4, .value_len = 2};
  fmeta[0] = (at_kv){.key = "unit", .value = "furlongs", .key_len = 4, .value_len = 8};
  f[11].meta = fmeta; /* float32 */
  f[11].n_meta = 1;
  *s = (at_schema){.n_fields = N_ALL, .fields = f, .n_meta = 2, .meta = meta};
  return fields_ok(f, N_ALL) ? 0 : -1;
}

/* Offsets for a list column: row i has count(i) items, none when the row is null. Returns the total. */
static int64_t list_offsets(fx_arena *a, int64_t row0, int64_t n, int phase, int mod, int wide, at_array *arr) {
  uint8_t *off = fx_alloc(a, (size_t)(n + 1) * 8);
  if (!off) return -1;
  int64_t pos = 0;
  for (int64_t j = 0; j <= n; j++) {
    put_le(off + j * (wide ? 8 : 4), (uint64_t)pos, wide ? 8 : 4);
    if (j < n && !is_null(row0 + j, phase)) pos += (row0 + j) % mod;
  }
  arr->offsets = off;
  return pos;
}

static int list_int32(fx_arena *a, int64_t row0, int64_t n, int phase, at_array *arr) {
  int64_t total = list_offsets(a, row0, n, phase, 4, 0, arr);
  at_array *item = fx_alloc(a, sizeof *item);
  int32_t *v = fx_alloc(a, (size_t)total * 4 + 1);
  uint8_t *bits = fx_alloc(a, (size_t)total / 8 + 1);
  if (total < 0 || !item || !v || !bits) return -1;
  *item = (at_array){.length = total, .values = (uint8_t *)v, .values_len = total * 4, .validity = bits};
  int64_t pos = 0;
  for (int64_t j = 0; j < n; j++) {
    int64_t i = row0 + j, cnt = is_null(i, phase) ? 0 : i % 4;
    for (int64_t k = 0; k < cnt; k++, pos++) {
      v[pos] = (int32_t)(i * 10 + k);
      if (k == 1 && i % 3 == 0)
        item->null_count++;
      else
        bits[pos / 8] |= (uint8_t)(1u << (pos % 8));
    }
  }
  arr->n_children = 1;
  arr->children = item;
  return 0;
}

static size_t s_item(int64_t i, char *o) {
  return (size_t)snprintf(o, 64, "%lld.%lld", (long long)(i >> 8), (long long)(i & 0xFF));
}

static int large_list_utf8(fx_arena *a, int64_t row0, int64_t n, int phase, at_array *arr) {
  int64_t total = list_offsets(a, row0, n, phase, 3, 1, arr);
  int64_t *keys = fx_alloc(a, (size_t)total * 8 + 1);
  at_array *item = fx_alloc(a, sizeof *item);
  if (total < 0 || !keys || !item) return -1;
  /* Items are built by fill_var from a key (i << 8 | k) per item, so the rule stays a pure function. */
  int64_t pos = 0;
  for (int64_t j = 0; j < n; j++)
    for (int64_t k = 0, i = row0 + j; !is_null(i, phase) && k < i % 3; k++) keys[pos++] = i << 8 | k;
  uint8_t *off = fx_alloc(a, (size_t)(total + 1) * 4);
  char *data = fx_alloc(a, (size_t)total * 64 + 1);
  if (!off || !data) return -1;
  int64_t bytes = 0;
  for (int64_t p = 0; p <= total; p++) {
    put_le(off + p * 4, (uint64_t)bytes, 4);
    if (p < total) bytes += (int64_t)s_item(keys[p], data + bytes);
  }
  *item = (at_array){.length = total, .offsets = off, .values = (uint8_t *)data, .values_len = bytes};
  arr->n_children = 1;
  arr->children = item;
  return 0;
}

static int fsl_float(fx_arena *a, int64_t row0, int64_t n, at_array *arr) {
  at_array *item = fx_alloc(a, sizeof *item);
  float *v = fx_alloc(a, (size_t)n * 8 + 1);
  if (!item || !v) return -1;
  for (int64_t j = 0; j < n; j++) {
    v[2 * j] = (float)(row0 + j) + 0.5f;
    v[2 * j + 1] = -(float)(row0 + j);
  }
  *item = (at_array){.length = 2 * n, .values = (uint8_t *)v, .values_len = 8 * n};
  arr->n_children = 1;
  arr->children = item;
  return 0;
}

static int fsl_nested(fx_arena *a, int64_t row0, int64_t n, at_array *arr) {
  at_array *lv = fx_alloc(a, 2 * sizeof *lv);
  uint8_t *v = fx_alloc(a, (size_t)n * 6 + 1);
  if (!lv || !v) return -1;
  for (int64_t j = 0; j < n * 6; j++) v[j] = (uint8_t)((row0 * 6 + j) % 256);
  lv[1] = (at_array){.length = 6 * n, .values = v, .values_len = 6 * n};
  lv[0] = (at_array){.length = 2 * n, .n_children = 1, .children = &lv[1]};
  arr->n_children = 1;
  arr->children = &lv[0];
  return 0;
}

static size_t s_struct_b(int64_t i, char *o) { return (size_t)snprintf(o, 64, "b%lld", (long long)i); }

static int struct_col(fx_arena *a, int64_t row0, int64_t n, at_array *arr) {
  at_array *ch = fx_alloc(a, 2 * sizeof *ch);
  int32_t *av = fx_alloc(a, (size_t)n * 4 + 1);
  if (!ch || !av || fill_var(a, s_struct_b, 0, row0, n, &ch[1])) return -1;
  for (int64_t j = 0; j < n; j++) av[j] = (int32_t)((row0 + j) * 3);
  ch[0] = (at_array){.length = n, .values = (uint8_t *)av, .values_len = 4 * n};
  uint8_t *bits = fx_alloc(a, (size_t)(n + 7) / 8 + 1);
  if (!bits) return -1;
  for (int64_t j = 0; j < n; j++) {
    if ((row0 + j) % 3 == 1)
      ch[1].null_count++;
    else
      bits[j / 8] |= (uint8_t)(1u << (j % 8));
  }
  ch[1].validity = bits;
  arr->n_children = 2;
  arr->children = ch;
  return 0;
}

static int nested_col(fx_arena *a, size_t which, int64_t row0, int64_t n, int phase, at_array *arr) {
  switch (which) {
  case 0: return list_int32(a, row0, n, phase, arr);
  case 1: return large_list_utf8(a, row0, n, phase, arr);
  case 2: return fsl_float(a, row0, n, arr);
  case 3: return fsl_nested(a, row0, n, arr);
  default: return struct_col(a, row0, n, arr);
  }
}

static at_array *all_types_batch(fx_arena *a, const at_schema *s, int64_t row0, int64_t n) {
  at_array *cols = fx_alloc(a, N_ALL * sizeof *cols);
  if (!cols) return NULL;
  for (size_t c = 0; c < N_ALL; c++) {
    int phase = c == 0 ? -1 : (int)c, rc;
    cols[c].length = n;
    if (c < N_FIXED)
      rc = fill_fixed(a, &fixed_cols[c], &s->fields[c], row0, n, &cols[c]);
    else if (c < N_FIXED + N_VAR)
      rc = fill_var(a, var_cols[c - N_FIXED].value,
                    var_cols[c - N_FIXED].type == AT_LARGE_UTF8 || var_cols[c - N_FIXED].type == AT_LARGE_BINARY, row0,
                    n, &cols[c]);
    else
      rc = nested_col(a, c - N_FIXED - N_VAR, row0, n, phase, &cols[c]);
    if (rc || set_nulls(a, &cols[c], row0, phase)) return NULL;
  }
  return cols;
}

int fx_all_types(fx_table *t) {
  static const int64_t sizes[] = {4, 0, 5, 3}; /* sums to FX_ALL_TYPES_ROWS; an empty batch on purpose */
  memset(t, 0, sizeof *t);
  if (!(t->arena = fx_arena_new()) || all_types_schema(t->arena, &t->schema)) goto fail;
  t->n_batches = sizeof sizes / sizeof sizes[0];
  t->batch_rows = fx_alloc(t->arena, sizeof sizes);
  t->batches = fx_alloc(t->arena, t->n_batches * sizeof(at_array *));
  if (!t->batch_rows || !t->batches) goto fail;
  memcpy(t->batch_rows, sizes, sizeof sizes);
  for (size_t b = 0, row0 = 0; b < t->n_batches; row0 += (size_t)sizes[b++])
    if (!(t->batches[b] = all_types_batch(t->arena, &t->schema, (int64_t)row0, sizes[b]))) goto fail;
  return 0;
fail:
  fx_table_free(t);
  return errno = ENOMEM, -1;
}
