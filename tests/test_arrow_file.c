/* test_arrow_file.c: the Arrow IPC reader against files written by independent implementations
 * (apache-arrow and nodejs-polars, run with node at test time) and by the project's own writer; corrupt and
 * truncated files are in test_arrow_corrupt.c, the shared fixtures in support/arrow_testutil.c.
 *
 * The fixture scripts write expected.json next to the files; each column's values are compared row by row,
 * nulls included. Every successful read is also walked byte by byte (see walk_array), so that under
 * ASan a buffer the reader got wrong shows up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow_file.h"
#include "arrow_testutil.h"
#include "arrow_writer.h"
#include "fb_builder.h"
#include "fixtures.h"
#include "flatbuf.h"
#include "json.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Comparing with expected.json */

static double half_to_double(uint16_t h) {
  int e = h >> 10 & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return h >> 15 ? -v : v;
}

/* The integer (or date, timestamp) at row I as a decimal string. */
static void int_string(const at_field *f, const at_array *a, int64_t i, char *out, size_t n) {
  const uint8_t *p = a->values + i * at_type_fixed_width(f);
  union {
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
  } v;
  memcpy(&v, p, (size_t)at_type_fixed_width(f));
  switch (f->type) {
  case AT_INT8: snprintf(out, n, "%d", v.i8); break;
  case AT_INT16: snprintf(out, n, "%d", v.i16); break;
  case AT_INT32:
  case AT_DATE32: snprintf(out, n, "%d", v.i32); break;
  case AT_UINT8: snprintf(out, n, "%u", v.u8); break;
  case AT_UINT16: snprintf(out, n, "%u", v.u16); break;
  case AT_UINT32: snprintf(out, n, "%u", v.u32); break;
  case AT_UINT64: snprintf(out, n, "%llu", (unsigned long long)v.u64); break;
  default: snprintf(out, n, "%lld", (long long)v.i64); break;
  }
}

static void hex_string(const uint8_t *p, int64_t n, char *out) {
  for (int64_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
  out[2 * n] = 0;
}

static void check_value(const at_field *f, const at_array *a, int64_t i, const jv *e, const char *where);

static void check_list(const at_field *f, const at_array *a, int64_t start, int64_t n, const jv *e, const char *where) {
  if (e->kind != J_ARR || (int64_t)e->n != n)
    fail_msg("%s: expected a list of %zu, got %lld", where, e->n, (long long)n);
  char sub[512];
  for (int64_t k = 0; k < n; k++) {
    snprintf(sub, sizeof sub, "%s[%lld]", where, (long long)k);
    check_value(&f->children[0], &a->children[0], start + k, &e->v[k], sub);
  }
}

static void check_value(const at_field *f, const at_array *a, int64_t i, const jv *e, const char *where) {
  char buf[4096];
  if (e->kind == J_NULL || is_null(a, i)) {
    if (e->kind != J_NULL || !is_null(a, i))
      fail_msg("%s: expected %s, got %s", where, e->kind == J_NULL ? "null" : "a value",
               is_null(a, i) ? "null" : "a value");
    return;
  }
  switch (f->type) {
  case AT_BOOL:
    if (e->kind != J_BOOL || e->b != (a->values[i >> 3] >> (i & 7) & 1)) fail_msg("%s: bool differs", where);
    return;
  case AT_FLOAT16:
  case AT_FLOAT32:
  case AT_FLOAT64: {
    double d;
    if (f->type == AT_FLOAT16) {
      uint16_t h;
      memcpy(&h, a->values + 2 * i, 2);
      d = half_to_double(h);
    } else if (f->type == AT_FLOAT32) {
      float x;
      memcpy(&x, a->values + 4 * i, 4);
      d = x;
    } else {
      memcpy(&d, a->values + 8 * i, 8);
    }
    if (e->kind != J_NUM || e->num != d) fail_msg("%s: expected %g, got %g", where, e->num, d);
    return;
  }
  case AT_UTF8:
  case AT_LARGE_UTF8:
  case AT_BINARY:
  case AT_LARGE_BINARY:
  case AT_FIXED_SIZE_BINARY: {
    int64_t s, n;
    if (f->type == AT_FIXED_SIZE_BINARY) {
      s = i * f->byte_width;
      n = f->byte_width;
    } else {
      s = ld_off(a, is_large(f->type), i);
      n = ld_off(a, is_large(f->type), i + 1) - s;
    }
    const uint8_t *p = a->values + s;
    if (f->type == AT_UTF8 || f->type == AT_LARGE_UTF8) {
      if (e->kind != J_STR || (int64_t)e->len != n || memcmp(e->s, p, (size_t)n))
        fail_msg("%s: expected \"%s\", got \"%.*s\"", where, e->s ? e->s : "?", (int)n, (const char *)p);
    } else {
      assert_true(n < (int64_t)sizeof buf / 2);
      hex_string(p, n, buf);
      if (e->kind != J_STR || strcmp(e->s, buf)) fail_msg("%s: expected %s, got %s", where, e->s ? e->s : "?", buf);
    }
    return;
  }
  case AT_LIST:
  case AT_LARGE_LIST: {
    int64_t s = ld_off(a, is_large(f->type), i);
    check_list(f, a, s, ld_off(a, is_large(f->type), i + 1) - s, e, where);
    return;
  }
  case AT_FIXED_SIZE_LIST: check_list(f, a, i * f->list_size, f->list_size, e, where); return;
  case AT_STRUCT: {
    if (e->kind != J_OBJ) fail_msg("%s: expected an object", where);
    for (size_t c = 0; c < f->n_children; c++) {
      const jv *ce = jv_get(e, f->children[c].name);
      if (!ce) fail_msg("%s: no expected value for struct field %s", where, f->children[c].name);
      char sub[512];
      snprintf(sub, sizeof sub, "%s.%s", where, f->children[c].name);
      check_value(&f->children[c], &a->children[c], i, ce, sub);
    }
    return;
  }
  default:
    int_string(f, a, i, buf, sizeof buf);
    if (e->kind != J_STR || strcmp(e->s, buf)) fail_msg("%s: expected %s, got %s", where, e->s ? e->s : "?", buf);
    return;
  }
}

static int64_t popcount_nulls(const at_array *a) {
  int64_t n = 0;
  for (int64_t i = 0; i < a->length; i++) n += is_null(a, i);
  return n;
}

/* Opens the file of entry E of expected JSON and compares it with E: rows, batch sizes (unless null),
 * every value. Columns come from E or, when it has none, from the JSON's top level. */
static void check_file_as(const fixtures *fx, const jv *json, const jv *e, const char *name) {
  const char *path = path_in(fx, name);
  char err[512] = "";
  at_file *f;
  if (at_file_open(path, &f, err, sizeof err) != 0) fail_msg("%s", err);
  const at_schema *s = at_file_schema(f);
  const jv *cols = jv_get(e, "columns"), *batches = jv_get(e, "batches"), *comp = jv_get(e, "compression");
  if (!cols) cols = jv_get(json, "columns");
  if (batches->kind != J_ARR) batches = NULL;
  assert_int_equal(at_file_num_rows(f), (int64_t)jv_get(e, "rows")->num);
  if (batches) assert_int_equal(at_file_num_batches(f), (int)batches->n);
  assert_int_equal(s->n_fields, cols->n);
  int64_t row0 = 0;
  for (int b = 0; b < at_file_num_batches(f); b++) {
    at_batch *batch;
    if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0) fail_msg("%s", err);
    if (batches) assert_int_equal(batch->length, (int64_t)batches->v[b].num);
    assert_int_equal(at_file_batch_rows(f, b), batch->length);
    if (comp && strcmp(comp->s, "uncompressed") != 0) {
      assert_true(at_file_batch_is_owned(f, b));
      assert_true(batch->owned_bytes > 0);
    }
    walk_batch(s, batch);
    for (size_t c = 0; c < s->n_fields; c++) {
      const at_array *a = &batch->columns[c];
      const jv *values = jv_get(&cols->v[c], "values");
      assert_string_equal(s->fields[c].name, jv_get(&cols->v[c], "name")->s);
      assert_int_equal(popcount_nulls(a), a->null_count);
      for (int64_t r = 0; r < batch->length; r++) {
        char where[512];
        snprintf(where, sizeof where, "%s: column %s row %lld", name, s->fields[c].name, (long long)(row0 + r));
        assert_true(row0 + r < (int64_t)values->n);
        check_value(&s->fields[c], a, r, &values->v[row0 + r], where);
      }
    }
    row0 += batch->length;
    at_batch_free(batch);
  }
  at_file_close(f);
}

static void check_file(const fixtures *fx, const jv *json, const jv *e) {
  check_file_as(fx, json, e, jv_get(e, "name")->s);
}

static const jv *find_entry(const jv *json, const char *name) {
  const jv *files = jv_get(json, "files");
  for (size_t i = 0; i < files->n; i++)
    if (!strcmp(jv_get(&files->v[i], "name")->s, name)) return &files->v[i];
  fail_msg("no fixture %s", name);
  return NULL;
}

/* The legacy stream format (before Arrow 0.15): no continuation marker, a 4-byte end-of-stream. Dropping
 * the markers also leaves every body 4 bytes off 8-byte alignment, so the reader must copy its buffers. */
static void test_arrow_legacy_stream(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"small.stream.arrow", "all.stream.arrow"};
  for (int k = 0; k < 2; k++) {
    size_t len, pos = 0, o = 0;
    uint8_t *in = slurp(path_in(fx, names[k]), &len), *out = malloc(len);
    while (pos + 8 <= len && fb_load_u32(in + pos + 4) != 0) {
      uint32_t mlen = fb_load_u32(in + pos + 4);
      fb_table t;
      int bad = 0;
      assert_int_equal(fb_root(in + pos + 8, mlen, &t), 0);
      size_t body = (size_t)fb_i64(&t, 3, 0, &bad);
      memcpy(out + o, in + pos + 4, 4 + mlen + body);
      o += 4 + mlen + body;
      pos += 8 + mlen + body;
    }
    memset(out + o, 0, 4);
    spit(path_in(fx, "legacy.arrow"), out, o + 4);
    check_file_as(fx, &fx->arrow, find_entry(&fx->arrow, names[k]), "legacy.arrow");
    at_file *f;
    char err[512];
    if (at_file_open(path_in(fx, "legacy.arrow"), &f, err, sizeof err) != 0) fail_msg("%s", err);
    assert_true(at_file_batch_is_owned(f, 0));
    at_file_close(f);
    /* Plain EOF instead of the end-of-stream marker is fine too. */
    spit(path_in(fx, "legacy.arrow"), out, o);
    check_file_as(fx, &fx->arrow, find_entry(&fx->arrow, names[k]), "legacy.arrow");
    free(in);
    free(out);
  }
}

static const at_field *field_named(const at_schema *s, const char *name) {
  for (size_t i = 0; i < s->n_fields; i++)
    if (!strcmp(s->fields[i].name, name)) return &s->fields[i];
  fail_msg("no field %s", name);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Tests on apache-arrow's files */

static void test_arrow_values(void **state) {
  fixtures *fx = need_arrow(state);
  const jv *files = jv_get(&fx->arrow, "files");
  assert_true(files->n >= 8);
  for (size_t i = 0; i < files->n; i++) check_file(fx, &fx->arrow, &files->v[i]);
}

/* LZ4_FRAME and ZSTD buffers, utf8_view strings and view dictionaries, large lists, from polars. */
static void test_polars_values(void **state) {
  fixtures *fx = need_polars(state);
  const jv *files = jv_get(&fx->polars, "files");
  assert_int_equal(files->n, 6);
  for (size_t i = 0; i < files->n; i++) check_file(fx, &fx->polars, &files->v[i]);
  /* The schemas agree whatever the format and compression: views are served as large_utf8. */
  at_file *a, *b;
  char err[512];
  if (at_file_open(path_in(fx, "polars.zstd.file.arrow"), &a, err, sizeof err) != 0) fail_msg("%s", err);
  if (at_file_open(path_in(fx, "polars.lz4.stream.arrow"), &b, err, sizeof err) != 0) fail_msg("%s", err);
  assert_true(at_schema_equal(at_file_schema(a), at_file_schema(b)));
  assert_int_equal(field_named(at_file_schema(a), "s")->type, AT_LARGE_UTF8);
  assert_int_equal(field_named(at_file_schema(a), "cat")->type, AT_LARGE_UTF8);
  assert_true(field_named(at_file_schema(a), "cat")->dictionary_encoded);
  assert_int_equal(field_named(at_file_schema(a), "lst")->type, AT_LARGE_LIST);
  at_file_close(a);
  at_file_close(b);
}

static void test_arrow_schema(void **state) {
  fixtures *fx = need_arrow(state);
  static const struct {
    const char *name;
    at_type type;
  } types[] = {{"b", AT_BOOL},
               {"i8", AT_INT8},
               {"i16", AT_INT16},
               {"i32", AT_INT32},
               {"i64", AT_INT64},
               {"u8", AT_UINT8},
               {"u16", AT_UINT16},
               {"u32", AT_UINT32},
               {"u64", AT_UINT64},
               {"f16", AT_FLOAT16},
               {"f32", AT_FLOAT32},
               {"f64", AT_FLOAT64},
               {"s", AT_UTF8},
               {"ls", AT_LARGE_UTF8},
               {"bin", AT_BINARY},
               {"lbin", AT_LARGE_BINARY},
               {"fsb", AT_FIXED_SIZE_BINARY},
               {"d32", AT_DATE32},
               {"d64", AT_DATE64},
               {"ts_s", AT_TIMESTAMP},
               {"fsl", AT_FIXED_SIZE_LIST},
               {"img", AT_FIXED_SIZE_LIST},
               {"lst", AT_LIST},
               {"st", AT_STRUCT},
               {"dict", AT_UTF8},
               {"dict8", AT_INT64},
               {"dict_fsl", AT_FIXED_SIZE_LIST}};
  const char *names[] = {"all.file.arrow", "all.stream.arrow"};
  at_file *fs[2];
  char err[512];
  for (int k = 0; k < 2; k++) {
    if (at_file_open(path_in(fx, names[k]), &fs[k], err, sizeof err) != 0) fail_msg("%s", err);
    const at_schema *s = at_file_schema(fs[k]);
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
      assert_int_equal(field_named(s, types[i].name)->type, types[i].type);
    assert_int_equal(field_named(s, "fsb")->byte_width, 3);
    assert_int_equal(at_type_fixed_width(field_named(s, "fsb")), 3);
    assert_int_equal(at_type_fixed_width(field_named(s, "b")), 0);
    assert_int_equal(at_type_fixed_width(field_named(s, "s")), -1);
    const at_field *img = field_named(s, "img");
    assert_int_equal(img->list_size, 2);
    assert_int_equal(img->n_children, 1);
    assert_int_equal(img->children[0].type, AT_FIXED_SIZE_LIST);
    assert_int_equal(img->children[0].list_size, 3);
    assert_int_equal(img->children[0].children[0].type, AT_UINT8);
    assert_string_equal(img->children[0].children[0].name, "px");
    assert_null(field_named(s, "ts_s")->timezone);
    assert_int_equal(field_named(s, "ts_s")->time_unit, 0);
    assert_string_equal(field_named(s, "ts_ms")->timezone, "UTC");
    assert_int_equal(field_named(s, "ts_ms")->time_unit, 1);
    assert_string_equal(field_named(s, "ts_us")->timezone, "Europe/Paris");
    assert_int_equal(field_named(s, "ts_us")->time_unit, 2);
    assert_int_equal(field_named(s, "ts_ns")->time_unit, 3);
    assert_true(field_named(s, "dict")->dictionary_encoded);
    assert_false(field_named(s, "s")->dictionary_encoded);
    const at_field *st = field_named(s, "st");
    assert_int_equal(st->n_children, 3);
    assert_string_equal(st->children[1].name, "name");
    /* Metadata keeps its bytes, NULs included. */
    assert_int_equal(s->n_meta, 2);
    int found = 0;
    for (size_t i = 0; i < s->n_meta; i++) {
      if (s->meta[i].key_len == 7 && !memcmp(s->meta[i].key, "nul\0key", 7)) {
        assert_int_equal(s->meta[i].value_len, 3);
        assert_memory_equal(s->meta[i].value, "v\0w", 3);
        found = 1;
      }
    }
    assert_true(found);
  }
  assert_true(at_schema_equal(at_file_schema(fs[0]), at_file_schema(fs[1])));
  at_file *small;
  if (at_file_open(path_in(fx, "small.file.arrow"), &small, err, sizeof err) != 0) fail_msg("%s", err);
  assert_false(at_schema_equal(at_file_schema(fs[0]), at_file_schema(small)));
  at_file_close(small);
  at_file_close(fs[0]);
  at_file_close(fs[1]);
}

/* Uncompressed batches without dictionaries are views into the mapping; the others are owned. */
static void test_arrow_ownership(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"plain.file.arrow", "plain.stream.arrow", "all.file.arrow", "all.stream.arrow"};
  for (int k = 0; k < 4; k++) {
    at_file *f;
    char err[512];
    if (at_file_open(path_in(fx, names[k]), &f, err, sizeof err) != 0) fail_msg("%s", err);
    int plain = k < 2;
    for (int b = 0; b < at_file_num_batches(f); b++) {
      at_batch *batch;
      if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0) fail_msg("%s", err);
      assert_int_equal(at_file_batch_is_owned(f, b), !plain);
      if (plain)
        assert_int_equal(batch->owned_bytes, 0);
      else if (batch->length)
        assert_true(batch->owned_bytes > 0);
      at_batch_free(batch);
    }
    assert_int_equal(at_file_read_batch(f, at_file_num_batches(f), &(at_batch *){NULL}, err, sizeof err), -1);
    assert_int_equal(at_file_read_batch(f, -1, &(at_batch *){NULL}, err, sizeof err), -1);
    at_file_close(f);
  }
}

static void expect_error_entries(const fixtures *fx, const jv *json) {
  const jv *errs = jv_get(json, "errors");
  if (!errs) return;
  for (size_t i = 0; i < errs->n; i++) {
    const char *name = jv_get(&errs->v[i], "name")->s;
    const jv *contains = jv_get(&errs->v[i], "contains");
    at_file *f = (at_file *)1;
    char err[512] = "";
    assert_int_equal(at_file_open(path_in(fx, name), &f, err, sizeof err), -1);
    assert_null(f);
    for (size_t k = 0; k < contains->n; k++)
      if (!strstr(err, contains->v[k].s)) fail_msg("error for %s lacks \"%s\": %s", name, contains->v[k].s, err);
  }
}

static void test_arrow_unsupported(void **state) {
  fixtures *fx = need_arrow(state);
  expect_error_entries(fx, &fx->arrow);
}

typedef struct thread_arg {
  const at_file *f;
  uint64_t expect;
  int bad;
} thread_arg;

static uint64_t hash_all(const at_file *f, int *bad) {
  uint64_t h = 0;
  for (int b = 0; b < at_file_num_batches(f); b++) {
    at_batch *batch;
    char err[256];
    if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0) {
      *bad = 1;
      continue;
    }
    /* No cmocka asserts off the main thread: hash the bytes only. */
    for (size_t c = 0; c < batch->n_columns; c++) {
      const at_array *a = &batch->columns[c];
      int w = at_type_fixed_width(&at_file_schema(f)->fields[c]);
      if (w > 0) h = h * 31 + touch(a->values, a->length * w);
      if (a->validity) h = h * 31 + touch(a->validity, bm_bytes(a->length));
      if (a->offsets) h = h * 31 + touch(a->offsets, a->length * 4);
    }
    at_batch_free(batch);
  }
  return h;
}

static void *reader_thread(void *p) {
  thread_arg *t = p;
  for (int rep = 0; rep < 20; rep++)
    if (hash_all(t->f, &t->bad) != t->expect) t->bad = 1;
  return NULL;
}

static void test_arrow_threads(void **state) {
  fixtures *fx = need_arrow(state);
  at_file *f;
  char err[512];
  if (at_file_open(path_in(fx, "all.stream.arrow"), &f, err, sizeof err) != 0) fail_msg("%s", err);
  int bad = 0;
  thread_arg args[4];
  pthread_t th[4];
  uint64_t h = hash_all(f, &bad);
  assert_false(bad);
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg){f, h, 0};
    assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_false(args[i].bad);
  }
  at_file_close(f);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Round trips through the project's own writer (tests/support/arrow_writer.c): every type it writes, both
 * formats, no compression, LZ4_FRAME and ZSTD, with and without raw (-1) buffers among compressed ones. */

static int bit_at(const uint8_t *bits, int64_t i) { return bits[i >> 3] >> (i & 7) & 1; }

/* Row I of A equals row J of B (both arrays of field F). */
static int rows_equal(const at_field *f, const at_array *a, int64_t i, const at_array *b, int64_t j) {
  if (is_null(a, i) != is_null(b, j)) return 0;
  if (is_null(a, i)) return 1;
  int w = at_type_fixed_width(f);
  switch (f->type) {
  case AT_BOOL: return bit_at(a->values, i) == bit_at(b->values, j);
  case AT_UTF8:
  case AT_LARGE_UTF8:
  case AT_BINARY:
  case AT_LARGE_BINARY: {
    int l = is_large(f->type);
    int64_t as = ld_off(a, l, i), an = ld_off(a, l, i + 1) - as, bs = ld_off(b, l, j), bn = ld_off(b, l, j + 1) - bs;
    return an == bn && !memcmp(a->values + as, b->values + bs, (size_t)an);
  }
  case AT_LIST:
  case AT_LARGE_LIST: {
    int l = is_large(f->type);
    int64_t as = ld_off(a, l, i), an = ld_off(a, l, i + 1) - as, bs = ld_off(b, l, j), bn = ld_off(b, l, j + 1) - bs;
    if (an != bn) return 0;
    for (int64_t k = 0; k < an; k++)
      if (!rows_equal(&f->children[0], &a->children[0], as + k, &b->children[0], bs + k)) return 0;
    return 1;
  }
  case AT_FIXED_SIZE_LIST:
    for (int64_t k = 0; k < f->list_size; k++)
      if (!rows_equal(&f->children[0], &a->children[0], i * f->list_size + k, &b->children[0], j * f->list_size + k))
        return 0;
    return 1;
  case AT_STRUCT:
    for (size_t c = 0; c < f->n_children; c++)
      if (!rows_equal(&f->children[c], &a->children[c], i, &b->children[c], j)) return 0;
    return 1;
  default: return !memcmp(a->values + i * w, b->values + j * w, (size_t)w);
  }
}

/* Writes T with OPT to PATH, reads it back and compares every row. */
static void roundtrip(const char *path, const fx_table *t, aw_options opt, const char *what) {
  if (fx_table_write(path, &opt, t) != 0) fail_msg("%s: the writer failed: %s", what, strerror(errno));
  at_file *f;
  char err[512];
  if (at_file_open(path, &f, err, sizeof err) != 0) fail_msg("%s: %s", what, err);
  const at_schema *s = at_file_schema(f);
  assert_true(at_schema_equal(s, &t->schema));
  assert_int_equal(at_file_num_batches(f), (int)t->n_batches);
  for (int b = 0; b < at_file_num_batches(f); b++) {
    at_batch *batch;
    if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0) fail_msg("%s: %s", what, err);
    assert_int_equal(batch->length, t->batch_rows[b]);
    assert_int_equal(at_file_batch_is_owned(f, b), opt.codec != AW_NONE);
    if (opt.codec == AW_NONE) assert_int_equal(batch->owned_bytes, 0);
    walk_batch(s, batch);
    for (size_t c = 0; c < s->n_fields; c++)
      for (int64_t r = 0; r < batch->length; r++)
        if (!rows_equal(&s->fields[c], &batch->columns[c], r, &t->batches[b][c], r))
          fail_msg("%s: batch %d column %s row %lld differs", what, b, s->fields[c].name, (long long)r);
    at_batch_free(batch);
  }
  at_file_close(f);
}

static void test_writer_roundtrip(void **state) {
  fixtures *fx = *state;
  fx_table all, example;
  assert_int_equal(fx_all_types(&all), 0);
  assert_int_equal(fx_example(&example, FX_EXAMPLE_SHAPE, 50, 16), 0);
  int64_t min_compress[] = {0, 16};
  for (int fmt = 0; fmt < 2; fmt++)
    for (int codec = 0; codec < 3; codec++)
      for (int m = 0; m < (codec ? 2 : 1); m++) {
        char what[128];
        aw_options opt = {(enum aw_format)fmt, (enum aw_codec)codec, min_compress[m]};
        snprintf(what, sizeof what, "writer %s/%s/min %lld", format_names[fmt], codec_names[codec],
                 (long long)min_compress[m]);
        roundtrip(path_in(fx, "writer.arrow"), &all, opt, what);
        roundtrip(path_in(fx, "writer.arrow"), &example, opt, what);
      }
  fx_table_free(&all);
  fx_table_free(&example);
}

/* ------------------------------------------------------------------------------------------------------ */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arrow_values),    cmocka_unit_test(test_arrow_schema),
      cmocka_unit_test(test_arrow_ownership), cmocka_unit_test(test_arrow_unsupported),
      cmocka_unit_test(test_arrow_threads),   cmocka_unit_test(test_arrow_legacy_stream),
      cmocka_unit_test(test_polars_values),   cmocka_unit_test(test_writer_roundtrip),
  };
  return cmocka_run_group_tests(tests, setup_fixtures, teardown_fixtures);
}
