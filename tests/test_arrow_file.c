/* test_arrow_file.c: the Arrow IPC reader against files written by independent implementations
 * (apache-arrow and nodejs-polars, run with node at test time), and against corrupt and truncated files.
 *
 * The fixture scripts write expected.json next to the files; each column's values are compared row by row,
 * nulls included. Every successful read is also walked byte by byte (see walk_array), so that under
 * ASan a buffer the reader got wrong shows up even in files whose values we do not know (mutated ones).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrow_file.h"
#include "arrow_writer.h"
#include "fb_builder.h"
#include "fixtures.h"
#include "flatbuf.h"
#include "json.h"

#ifndef TC_SOURCE_DIR
#error "TC_SOURCE_DIR must be defined (tests/CMakeLists.txt)"
#endif

/* ------------------------------------------------------------------------------------------------------ */
/* Files and fixtures */

typedef struct fixtures {
  char dir[512];
  int arrow_ok;   /* apache-arrow fixtures written */
  int polars_ok;  /* nodejs-polars fixtures written */
  char why[1024]; /* why not, for skip messages */
  jv arrow, polars;
} fixtures;

static char *path_in(const fixtures *fx, const char *name) {
  static _Thread_local char buf[8][1024];
  static _Thread_local int k;
  char *p = buf[k++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", fx->dir, name);
  return p;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  if (b) b[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static int load_json(const char *path, jv *out) {
  size_t n;
  char *text = (char *)slurp(path, &n);
  if (!text) return -1;
  const char *end = jv_parse(text, out);
  free(text);
  return end ? 0 : -1;
}

/* Runs a node fixture script into fx->dir; returns 0 when it wrote JSON_NAME. */
static int run_script(fixtures *fx, const char *script, const char *json_name, jv *json) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s/tests/peers' && node %s '%s' > '%s/%s.log' 2>&1", TC_SOURCE_DIR, script, fx->dir,
           fx->dir, script);
  if (system(cmd) != 0) {
    snprintf(fx->why, sizeof fx->why, "node %s failed: see %s/%s.log", script, fx->dir, script);
    return -1;
  }
  if (load_json(path_in(fx, json_name), json) != 0) {
    snprintf(fx->why, sizeof fx->why, "%s: unreadable %s", script, json_name);
    return -1;
  }
  return 0;
}

static int setup_fixtures(void **state) {
  fixtures *fx = calloc(1, sizeof *fx);
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(fx->dir, sizeof fx->dir, "%s/arrow_file.XXXXXX", tmp);
  if (!mkdtemp(fx->dir)) return -1;
  *state = fx;
  struct stat st;
  if (system("node --version > /dev/null 2>&1") != 0) {
    snprintf(fx->why, sizeof fx->why, "node is not installed");
  } else if (stat(TC_SOURCE_DIR "/tests/peers/node_modules/apache-arrow", &st) != 0) {
    snprintf(fx->why, sizeof fx->why, "tests/peers/node_modules is missing (run .ci/install-deps)");
  } else {
    fx->arrow_ok = run_script(fx, "write_arrow_fixtures.mjs", "expected.json", &fx->arrow) == 0;
    if (stat(TC_SOURCE_DIR "/tests/peers/node_modules/nodejs-polars", &st) == 0 &&
        stat(TC_SOURCE_DIR "/tests/peers/write_polars_fixtures.mjs", &st) == 0)
      fx->polars_ok = run_script(fx, "write_polars_fixtures.mjs", "polars_expected.json", &fx->polars) == 0;
  }
  if (fx->why[0]) fprintf(stderr, "test_arrow_file: %s\n", fx->why);
  return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

static int teardown_fixtures(void **state) {
  fixtures *fx = *state;
  if (!fx) return 0;
  if (!getenv("TC_KEEP_FIXTURES")) nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  jv_free(&fx->arrow);
  jv_free(&fx->polars);
  free(fx);
  return 0;
}

static fixtures *need_arrow(void **state) {
  fixtures *fx = *state;
  if (!fx->arrow_ok) {
    print_message("skipped: apache-arrow fixtures unavailable: %s\n", fx->why);
    skip();
  }
  return fx;
}

static fixtures *need_polars(void **state) {
  fixtures *fx = *state;
  if (!fx->polars_ok) {
    print_message("skipped: polars fixtures unavailable: %s\n", fx->why[0] ? fx->why : "no script");
    skip();
  }
  return fx;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Walking arrays: every byte the reader promises is touched (ASan checks it), invariants asserted. */

static int64_t bm_bytes(int64_t n) { return (n + 7) / 8; }
/* By the bitmap; without one, only an AT_NULL array (null_count == length) has nulls. */
static int is_null(const at_array *a, int64_t i) {
  return a->validity ? !(a->validity[i >> 3] >> (i & 7) & 1) : a->null_count != 0;
}

static int64_t ld_off(const at_array *a, int large, int64_t i) {
  if (large) {
    int64_t v;
    memcpy(&v, a->offsets + 8 * i, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, a->offsets + 4 * i, 4);
  return v;
}

static int is_large(at_type t) { return t == AT_LARGE_UTF8 || t == AT_LARGE_BINARY || t == AT_LARGE_LIST; }

static uint64_t touch(const uint8_t *p, int64_t n) {
  uint64_t h = 1469598103934665603u;
  for (int64_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
  return h;
}

/* Asserts the invariants at_array promises and hashes every byte it promises (ASan checks the reads). */
static uint64_t walk_array(const at_field *f, const at_array *a) {
  uint64_t h = touch((const uint8_t *)&a->length, 8);
  assert_true(a->length >= 0 && a->null_count >= 0 && a->null_count <= a->length);
  if (a->null_count == 0 || f->type == AT_NULL) {
    assert_null(a->validity);
    if (f->type == AT_NULL) assert_int_equal(a->null_count, a->length);
  } else {
    assert_non_null(a->validity);
    h ^= touch(a->validity, bm_bytes(a->length));
  }
  int w = at_type_fixed_width(f);
  switch (f->type) {
  case AT_BOOL: assert_true(a->values_len >= bm_bytes(a->length)); return h ^ touch(a->values, bm_bytes(a->length));
  case AT_UTF8:
  case AT_LARGE_UTF8:
  case AT_BINARY:
  case AT_LARGE_BINARY: {
    assert_non_null(a->offsets);
    int64_t prev = ld_off(a, is_large(f->type), 0);
    assert_true(prev >= 0);
    for (int64_t i = 1; i <= a->length; i++) {
      int64_t o = ld_off(a, is_large(f->type), i);
      assert_true(o >= prev);
      prev = o;
    }
    assert_true(prev <= a->values_len);
    return h ^ touch(a->values, prev) ^ touch(a->offsets, (a->length + 1) * (is_large(f->type) ? 8 : 4));
  }
  case AT_LIST:
  case AT_LARGE_LIST: {
    assert_int_equal(a->n_children, 1);
    int64_t prev = ld_off(a, is_large(f->type), 0);
    assert_true(prev >= 0);
    for (int64_t i = 1; i <= a->length; i++) {
      int64_t o = ld_off(a, is_large(f->type), i);
      assert_true(o >= prev);
      prev = o;
    }
    assert_true(prev <= a->children[0].length);
    return h ^ walk_array(&f->children[0], &a->children[0]);
  }
  case AT_FIXED_SIZE_LIST:
    assert_int_equal(a->n_children, 1);
    assert_int_equal(a->children[0].length, a->length * f->list_size);
    return h ^ walk_array(&f->children[0], &a->children[0]);
  case AT_STRUCT:
    assert_int_equal(a->n_children, f->n_children);
    for (size_t i = 0; i < a->n_children; i++) {
      assert_int_equal(a->children[i].length, a->length);
      h ^= walk_array(&f->children[i], &a->children[i]) * (i + 1);
    }
    return h;
  case AT_NULL: assert_null(a->values); return h;
  default:
    assert_true(w > 0);
    assert_true(a->values_len >= a->length * w);
    return h ^ touch(a->values, a->length * w);
  }
}

static uint64_t walk_batch(const at_schema *s, const at_batch *b) {
  uint64_t h = 0;
  assert_int_equal(b->n_columns, s->n_fields);
  for (size_t i = 0; i < b->n_columns; i++) {
    assert_int_equal(b->columns[i].length, b->length);
    h = h * 31 + walk_array(&s->fields[i], &b->columns[i]);
  }
  return h;
}

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
/* Corrupt files */

/* Opens PATH and reads every batch, walking what it gets. Returns 0 when all of it succeeded, -1 when
 * something failed; then the message must name the file. */
static int try_read(const char *path, int64_t *rows) {
  at_file *f;
  char err[512] = "";
  if (at_file_open(path, &f, err, sizeof err) != 0) {
    if (!strstr(err, path)) fail_msg("error does not name the file: %s", err);
    return -1;
  }
  int rc = 0;
  for (int b = 0; b < at_file_num_batches(f); b++) {
    at_batch *batch;
    err[0] = 0;
    if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0) {
      if (!strstr(err, path)) fail_msg("error does not name the file: %s", err);
      rc = -1;
      continue;
    }
    walk_batch(at_file_schema(f), batch);
    at_batch_free(batch);
  }
  if (rows) *rows = at_file_num_rows(f);
  at_file_close(f);
  return rc;
}

/* Expects PATH to fail (at open or when reading a batch) with a message holding every given substring. */
static void expect_fail(const char *path, ...) {
  at_file *f = NULL;
  char err[512] = "";
  int failed = at_file_open(path, &f, err, sizeof err) != 0;
  if (failed) assert_null(f);
  for (int b = 0; !failed && b < at_file_num_batches(f); b++) {
    at_batch *batch;
    if (at_file_read_batch(f, b, &batch, err, sizeof err) != 0)
      failed = 1;
    else
      at_batch_free(batch);
  }
  at_file_close(f);
  if (!failed) fail_msg("%s: expected an error", path);
  if (!strstr(err, path)) fail_msg("no file name in: %s", err);
  va_list ap;
  va_start(ap, path);
  for (const char *s; (s = va_arg(ap, const char *));)
    if (!strstr(err, s)) fail_msg("%s: error lacks \"%s\": %s", path, s, err);
  va_end(ap);
  print_message("  ok: %s\n", err);
}

static void test_truncated(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"small.file.arrow", "small.stream.arrow"};
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *data = slurp(path_in(fx, names[k]), &len);
    assert_non_null(data);
    const char *cut = path_in(fx, "truncated.arrow");
    int ok = 0;
    for (size_t n = 0; n < len; n++) {
      spit(cut, data, n);
      int64_t rows = -1;
      if (try_read(cut, &rows) == 0) {
        /* A stream may legally end after any message: fewer rows, never garbage. */
        if (k == 0) fail_msg("%s cut at %zu bytes opened", names[k], n);
        assert_true(rows >= 0 && rows <= 6);
        ok++;
      }
    }
    print_message("  %s: %zu truncations, %d of them at a message boundary\n", names[k], len, ok);
    free(data);
  }
}

static void test_byte_flips(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"small.file.arrow", "small.stream.arrow"};
  static const uint8_t masks[] = {0x01, 0x80, 0xFF, 0x10};
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *data = slurp(path_in(fx, names[k]), &len);
    assert_non_null(data);
    const char *bad = path_in(fx, "flipped.arrow");
    int opened = 0;
    for (size_t i = 0; i < len; i++) {
      for (size_t m = 0; m < sizeof masks; m++) {
        data[i] ^= masks[m];
        spit(bad, data, len);
        opened += try_read(bad, NULL) == 0;
        data[i] ^= masks[m];
      }
    }
    print_message("  %s: %zu flips, %d read without error\n", names[k], len * sizeof masks, opened);
    free(data);
  }
}

/* Positions (file offsets) of the structures of record batch BATCH of a stream-format file. */
typedef struct rb_pos {
  size_t nodes; /* first FieldNode {length, null_count} */
  size_t n_nodes;
  size_t bufs; /* first Buffer {offset, length} */
  size_t n_bufs;
  size_t body;
  size_t meta_len_at; /* the int32 metadata length */
  size_t body_len_at; /* Message.bodyLength, 0 if absent */
  size_t length_at;   /* RecordBatch.length, 0 if absent */
} rb_pos;

/* The same for message BATCH of header type TYPE (2: DictionaryBatch, whose data is a RecordBatch). */
static void find_message(const uint8_t *d, size_t len, int want, int batch, rb_pos *out) {
  size_t pos = 0;
  int seen = -1;
  while (pos + 8 <= len) {
    assert_int_equal(fb_load_u32(d + pos), 0xFFFFFFFFu);
    uint32_t mlen = fb_load_u32(d + pos + 4);
    assert_true(mlen > 0);
    const uint8_t *fb = d + pos + 8;
    fb_table t, h;
    int bad = 0;
    assert_int_equal(fb_root(fb, mlen, &t), 0);
    int type = fb_u8(&t, 1, 0, &bad);
    int64_t body_len = fb_i64(&t, 3, 0, &bad);
    fb_table_field(&t, 2, &h, &bad);
    assert_false(bad);
    if (type == want && want == 2) { /* DictionaryBatch.data */
      fb_table data;
      assert_true(fb_table_field(&h, 1, &data, &bad));
      h = data;
    }
    if (type == want && ++seen == batch) {
      fb_vec nodes, bufs;
      out->n_nodes = fb_vector(&h, 1, 16, &nodes, &bad);
      out->n_bufs = fb_vector(&h, 2, 16, &bufs, &bad);
      out->nodes = (size_t)(fb - d) + nodes.pos;
      out->bufs = (size_t)(fb - d) + bufs.pos;
      out->body = pos + 8 + mlen;
      out->meta_len_at = pos + 4;
      /* where bodyLength sits: its vtable slot */
      size_t slot = 4 + 2 * 3;
      out->body_len_at = slot + 2 <= t.vt_len && fb_load_u16(fb + t.vt + slot)
                             ? (size_t)(fb - d) + t.pos + fb_load_u16(fb + t.vt + slot)
                             : 0;
      out->length_at =
          6 <= h.vt_len && fb_load_u16(fb + h.vt + 4) ? (size_t)(fb - d) + h.pos + fb_load_u16(fb + h.vt + 4) : 0;
      return;
    }
    pos += 8 + mlen + (size_t)body_len;
  }
  fail_msg("no message %d of type %d", batch, want);
}

static void find_batch(const uint8_t *d, size_t len, int batch, rb_pos *out) { find_message(d, len, 3, batch, out); }

static void put64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static int64_t get64(const uint8_t *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void put32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }

/* Buffer K's {offset, length} of batch at RB. */
static uint8_t *buf_desc(uint8_t *d, const rb_pos *rb, size_t k) { return d + rb->bufs + 16 * k; }

/* Layout of small.*.arrow (write_arrow_fixtures.mjs), nodes and buffers in depth-first order: i32 (node 0,
 * buffers 0-1), s (1; 2-4), fsl (2; 5), fsl.item (3; 6-7), lst (4; 8-9), lst.item (5; 10-11), st (6; 12),
 * st.x (7; 13-14), st.name (8; 15-17), st.v (9; 18), st.v.item (10; 19-20), dict (11; 21-22: validity, indices). */
enum { N_I32 = 0, N_FSL_ITEM = 3, N_LST_ITEM = 5, N_ST_X = 7, N_ST_NAME = 8 };
enum { B_S_OFFSETS = 3, B_S_DATA = 4, B_FSL_ITEM_VALUES = 7, B_LST_OFFSETS = 9, B_DICT_INDICES = 22 };

typedef struct mutation {
  const char *what;
  void (*apply)(uint8_t *d, size_t *len, const rb_pos *rb);
  const char *expect; /* substring of the error, beyond the file name; NULL: any */
} mutation;

static void m_fsl_child_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_FSL_ITEM, get64(d + rb->nodes + 16 * N_FSL_ITEM) + 1);
}
static void m_struct_child_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_ST_X, get64(d + rb->nodes + 16 * N_ST_X) - 1);
}
static void m_offsets_backward(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_S_OFFSETS);
  put32(d + rb->body + get64(b) + 4, 1000); /* offsets[1] above offsets[2] */
}
static void m_offsets_past_data(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_S_OFFSETS);
  put32(d + rb->body + get64(b) + 12, 1 << 30);
}
static void m_list_offsets_past_child(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_LST_OFFSETS);
  put32(d + rb->body + get64(b) + 12, 1000);
}
static void m_negative_first_offset(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_LST_OFFSETS);
  put32(d + rb->body + get64(b), -4);
}
static void m_buffer_past_body(uint8_t *d, size_t *len, const rb_pos *rb) { put64(buf_desc(d, rb, B_S_DATA), 1 << 20); }
static void m_buffer_huge_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(buf_desc(d, rb, B_S_DATA) + 8, INT64_MAX);
}
static void m_buffer_short(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(buf_desc(d, rb, B_FSL_ITEM_VALUES) + 8, 2);
}
static void m_node_huge(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_LST_ITEM, INT64_MAX / 2);
}
static void m_node_negative(uint8_t *d, size_t *len, const rb_pos *rb) { put64(d + rb->nodes + 16 * N_LST_ITEM, -1); }
static void m_nulls_gt_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_LST_ITEM + 8, 1000);
}
static void m_top_len(uint8_t *d, size_t *len, const rb_pos *rb) { put64(d + rb->nodes + 16 * N_I32, 2); }
static void m_dict_index(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_DICT_INDICES);
  put32(d + rb->body + get64(b), 77);
}
static void m_meta_len_huge(uint8_t *d, size_t *len, const rb_pos *rb) { put32(d + rb->meta_len_at, 0x7FFFFFF0); }
static void m_body_len_huge(uint8_t *d, size_t *len, const rb_pos *rb) {
  assert_true(rb->body_len_at != 0);
  put64(d + rb->body_len_at, INT64_MAX);
}
static void m_node_count(uint8_t *d, size_t *len, const rb_pos *rb) {
  put32(d + rb->nodes - 4, (int32_t)rb->n_nodes - 1);
}
static void m_buffer_count(uint8_t *d, size_t *len, const rb_pos *rb) {
  put32(d + rb->bufs - 4, (int32_t)rb->n_bufs + 1);
}
static void m_bad_magic(uint8_t *d, size_t *len, const rb_pos *rb) { memcpy(d, "ARROW2", 6); }
static void m_no_continuation_garbage(uint8_t *d, size_t *len, const rb_pos *rb) { memset(d, 0x7F, 8); }

static void test_crafted_corruption(void **state) {
  fixtures *fx = need_arrow(state);
  static const mutation muts[] = {
      {"fixed-size list child length", m_fsl_child_len, "'fsl'"},
      {"struct child length", m_struct_child_len, "'st.x'"},
      {"offsets going backward", m_offsets_backward, "backward"},
      {"offsets past the data", m_offsets_past_data, "'s'"},
      {"list offsets past the child", m_list_offsets_past_child, "'lst'"},
      {"negative first offset", m_negative_first_offset, "negative offset"},
      {"buffer past the body", m_buffer_past_body, "outside"},
      {"buffer of huge length", m_buffer_huge_len, "outside"},
      {"buffer too short", m_buffer_short, "'fsl.item'"},
      {"huge node length", m_node_huge, NULL},
      {"negative node length", m_node_negative, "'lst.item'"},
      {"null count above length", m_nulls_gt_len, "'lst.item'"},
      {"column length differs from batch", m_top_len, "'i32'"},
      {"dictionary index out of range", m_dict_index, "out of range"},
      {"huge metadata length", m_meta_len_huge, "truncated"},
      {"huge body length", m_body_len_huge, "body"},
      {"one field node fewer", m_node_count, "field nodes"},
      {"one buffer more", m_buffer_count, "buffers"},
      {"bad magic", m_bad_magic, NULL},
      {"garbage prefix", m_no_continuation_garbage, NULL},
  };
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.stream.arrow"), &len);
  assert_non_null(orig);
  uint8_t *d = malloc(len);
  const char *out = path_in(fx, "crafted.arrow");
  for (size_t i = 0; i < sizeof muts / sizeof *muts; i++) {
    for (int batch = 0; batch < 2; batch++) {
      rb_pos rb;
      memcpy(d, orig, len);
      find_batch(d, len, batch, &rb);
      assert_int_equal(rb.n_bufs, 23);
      size_t n = len;
      muts[i].apply(d, &n, &rb);
      spit(out, d, n);
      print_message("  %s (batch %d):", muts[i].what, batch);
      expect_fail(out, muts[i].expect, (char *)NULL);
    }
  }
  free(d);
  free(orig);
}

/* A FieldNode length of INT64_MAX where the reader computes length + 1 offsets: a utf8 child of a struct
 * (when the batch is read) and a dictionary's utf8 values (at open), without nulls so that no bitmap is
 * checked first. A clean error, no overflow (the ASan + UBSan build of this test died here). */
static void test_huge_offsets_length(void **state) {
  fixtures *fx = need_arrow(state);
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.stream.arrow"), &len);
  assert_non_null(orig);
  uint8_t *d = malloc(len);
  const char *out = path_in(fx, "huge-offsets.arrow");
  for (int batch = 0; batch < 2; batch++) {
    rb_pos rb;
    memcpy(d, orig, len);
    find_batch(d, len, batch, &rb);
    put64(d + rb.nodes + 16 * N_ST_NAME, INT64_MAX);
    put64(d + rb.nodes + 16 * N_ST_NAME + 8, 0); /* no nulls: no bitmap to check first */
    spit(out, d, len);
    print_message("  struct child st.name (batch %d):", batch);
    expect_fail(out, "'st.name'", "length overflows", (char *)NULL);
  }
  rb_pos rb;
  memcpy(d, orig, len);
  find_message(d, len, 2, 0, &rb);
  assert_int_equal(rb.n_nodes, 1);
  assert_true(rb.length_at != 0);
  put64(d + rb.length_at, INT64_MAX);
  put64(d + rb.nodes, INT64_MAX);
  put64(d + rb.nodes + 8, 0);
  spit(out, d, len);
  print_message("  dictionary values:");
  expect_fail(out, "'dict'", "length overflows", (char *)NULL);
  free(d);
  free(orig);
}

/* Field names, metadata keys and values and timezones are served in proto3 `string` fields, which must
 * be UTF-8 (other languages' decoders refuse the whole message): a file with any of them not UTF-8 is
 * refused at open, naming the file and what is wrong. Each case is also written valid, which opens. */
enum { U_NAME, U_CHILD_NAME, U_FIELD_KEY, U_FIELD_VALUE, U_SCHEMA_KEY, U_SCHEMA_VALUE, U_TIMEZONE, U_COUNT };

static void write_utf8_case(const char *path, int which, int bad) {
  const char *s = bad ? "caf\xc3(" : "caf\xc3\xa9";
  fx_table t = {0};
  fx_arena *a = t.arena = fx_arena_new();
  at_field *f = fx_alloc(a, 2 * sizeof *f), *item = fx_alloc(a, sizeof *item);
  at_kv *kv = fx_alloc(a, 2 * sizeof *kv);
  kv[0] = (at_kv){.key = "k", .value = "v", .key_len = 1, .value_len = 1};
  kv[1] = kv[0];
  if (which == U_FIELD_KEY || which == U_SCHEMA_KEY)
    kv[which == U_SCHEMA_KEY].key = (char *)s, kv[which == U_SCHEMA_KEY].key_len = strlen(s);
  if (which == U_FIELD_VALUE || which == U_SCHEMA_VALUE)
    kv[which == U_SCHEMA_VALUE].value = (char *)s, kv[which == U_SCHEMA_VALUE].value_len = strlen(s);
  *item = (at_field){.name = which == U_CHILD_NAME ? (char *)s : "x", .type = AT_INT32};
  f[0] = (at_field){.name = which == U_NAME ? (char *)s : "a",
                    .type = AT_STRUCT,
                    .n_children = 1,
                    .children = item,
                    .n_meta = 1,
                    .meta = &kv[0]};
  f[1] = (at_field){
      .name = "t", .type = AT_TIMESTAMP, .time_unit = 1, .timezone = which == U_TIMEZONE ? (char *)s : "UTC"};
  t.schema = (at_schema){.n_fields = 2, .fields = f, .n_meta = 1, .meta = &kv[1]};
  static const int64_t vals[2] = {1, 2};
  at_array *arr = fx_alloc(a, 3 * sizeof *arr);
  arr[2] = (at_array){.length = 2, .values = (const uint8_t *)vals, .values_len = 8};
  arr[0] = (at_array){.length = 2, .n_children = 1, .children = &arr[2]};
  arr[1] = (at_array){.length = 2, .values = (const uint8_t *)vals, .values_len = 16};
  int64_t *br = fx_alloc(a, sizeof *br);
  const at_array **bs = fx_alloc(a, sizeof *bs);
  *br = 2;
  *bs = arr;
  t.n_batches = 1, t.batch_rows = br, t.batches = bs;
  aw_options opt = {.format = which % 2 ? AW_STREAM : AW_FILE};
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  fx_table_free(&t);
}

static void test_non_utf8_strings(void **state) {
  static const char *const expect[U_COUNT] = {"field name", "field name", "metadata", "metadata",
                                              "metadata",   "metadata",   "timezone"};
  char path[] = "/tmp/tc_utf8XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  for (int which = 0; which < U_COUNT; which++) {
    write_utf8_case(path, which, 0);
    assert_int_equal(try_read(path, NULL), 0);
    write_utf8_case(path, which, 1);
    print_message("  case %d:", which);
    expect_fail(path, "not valid UTF-8", expect[which], (char *)NULL);
  }
  unlink(path);
}

/* Schemas no writer we run would produce, built with the project's flatbuffer builder: a stream holding
 * one Schema message with one field "f" (children "c", int32), then the end-of-stream marker. */
typedef struct fspec {
  int type_type;
  int has_param;
  int32_t param; /* the type table's field 0 (bitWidth, precision, unit, byteWidth, listSize) */
  int n_children;
  int depth; /* wrap in this many fixed_size_list<.., 1> levels */
  int16_t endianness;
  int dict_bits; /* nonzero: dictionary-encoded with an index of this width */
} fspec;

static fbb_ref int_field(fbb_builder *b, const char *name) {
  fbb_table_start(b);
  fbb_add_i32(b, 0, 32);
  fbb_add_u8(b, 1, 1);
  fbb_ref type = fbb_table_end(b);
  fbb_ref nm = fbb_string(b, name, strlen(name));
  fbb_table_start(b);
  fbb_add_ref(b, 0, nm);
  fbb_add_u8(b, 1, 1);
  fbb_add_u8(b, 2, 2);
  fbb_add_ref(b, 3, type);
  return fbb_table_end(b);
}

static fbb_ref spec_field(fbb_builder *b, const fspec *s, int depth) {
  fbb_ref kids[8];
  int n = depth > 0 ? 1 : s->n_children;
  for (int i = 0; i < n; i++) kids[i] = depth > 0 ? spec_field(b, s, depth - 1) : int_field(b, "c");
  fbb_ref vec = n ? fbb_ref_vector(b, kids, (size_t)n) : 0, de = 0;
  if (s->dict_bits && depth == 0) {
    fbb_table_start(b);
    fbb_add_i32(b, 0, s->dict_bits);
    fbb_add_u8(b, 1, 1);
    fbb_ref it = fbb_table_end(b);
    fbb_table_start(b);
    fbb_add_i64(b, 0, 5);
    fbb_add_ref(b, 1, it);
    de = fbb_table_end(b);
  }
  fbb_table_start(b);
  if (depth > 0 || s->has_param) fbb_add_i32(b, 0, depth > 0 ? 1 : s->param);
  fbb_ref type = fbb_table_end(b);
  fbb_ref nm = fbb_string(b, "f", 1);
  fbb_table_start(b);
  fbb_add_ref(b, 0, nm);
  fbb_add_u8(b, 1, 1);
  fbb_add_u8(b, 2, (uint8_t)(depth > 0 ? 16 : s->type_type));
  fbb_add_ref(b, 3, type);
  fbb_add_ref(b, 4, de);
  fbb_add_ref(b, 5, vec);
  return fbb_table_end(b);
}

static void write_schema_stream(const char *path, const fspec *s) {
  fbb_builder b;
  fbb_init(&b);
  fbb_ref field = spec_field(&b, s, s->depth);
  fbb_ref fields = fbb_ref_vector(&b, &field, 1);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, s->endianness);
  fbb_add_ref(&b, 1, fields);
  fbb_ref schema = fbb_table_end(&b);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, 4);
  fbb_add_u8(&b, 1, 1);
  fbb_add_ref(&b, 2, schema);
  fbb_add_i64(&b, 3, 0);
  fbb_ref msg = fbb_table_end(&b);
  size_t n;
  const uint8_t *fb = fbb_finish(&b, msg, &n);
  assert_non_null(fb);
  uint8_t *out = malloc(n + 16);
  put32(out, -1);
  put32(out + 4, (int32_t)n);
  memcpy(out + 8, fb, n);
  put32(out + 8 + n, -1);
  put32(out + 12 + n, 0);
  spit(path, out, n + 16);
  free(out);
  fbb_release(&b);
}

static void test_crafted_schemas(void **state) {
  fixtures *fx = *state;
  static const struct {
    fspec s;
    const char *expect;
  } cases[] = {
      {{.type_type = 2, .has_param = 1, .param = 32}, NULL}, /* valid: checks the builder */
      {{.type_type = 2, .has_param = 1, .param = 32, .endianness = 1}, "big-endian"},
      {{.type_type = 99}, "unknown type id 99"},
      {{.type_type = 2, .has_param = 1, .param = 12}, "Int bit width 12"},
      {{.type_type = 3, .has_param = 1, .param = 5}, "FloatingPoint"},
      {{.type_type = 10, .has_param = 1, .param = 7}, "Timestamp"},
      {{.type_type = 8, .has_param = 1, .param = 2}, "Date"},
      {{.type_type = 15, .has_param = 1, .param = 0}, "FixedSizeBinary width 0"},
      {{.type_type = 16, .has_param = 1, .param = -1, .n_children = 1}, "FixedSizeList size"},
      {{.type_type = 12, .n_children = 2}, "exactly one child"},
      {{.type_type = 16, .has_param = 1, .param = 2, .n_children = 0}, "exactly one child"},
      {{.type_type = 2, .has_param = 1, .param = 32, .depth = 70}, "nested too deeply"},
      {{.type_type = 5, .dict_bits = 12}, "dictionary index type"},
      {{.type_type = 25, .n_children = 1}, "unsupported type ListView"},
      {{.type_type = 22, .n_children = 2}, "unsupported type RunEndEncoded"},
      {{.type_type = 11, .has_param = 1, .param = 0}, "unsupported type Interval"},
  };
  const char *path = path_in(fx, "schema.arrow");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_schema_stream(path, &cases[i].s);
    if (!cases[i].expect) {
      at_file *f;
      char err[512];
      if (at_file_open(path, &f, err, sizeof err) != 0) fail_msg("%s", err);
      assert_int_equal(at_file_schema(f)->fields[0].type, AT_UINT32); /* is_signed left at its default */
      assert_int_equal(at_file_num_batches(f), 0);
      at_file_close(f);
      continue;
    }
    print_message("  case %zu:", i);
    expect_fail(path, cases[i].expect, (char *)NULL);
  }
}

static void test_file_format_corruption(void **state) {
  fixtures *fx = need_arrow(state);
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.file.arrow"), &len);
  uint8_t *d = malloc(len + 64);
  const char *out = path_in(fx, "crafted.arrow");
  /* Footer length pointing before the file, past it, zero. */
  int32_t bad_lens[] = {0, -1, (int32_t)len, (int32_t)len - 17, 0x7FFFFFFF};
  for (size_t i = 0; i < sizeof bad_lens / sizeof *bad_lens; i++) {
    memcpy(d, orig, len);
    put32(d + len - 10, bad_lens[i]);
    spit(out, d, len);
    expect_fail(out, (char *)NULL);
  }
  /* Trailing magic gone. */
  memcpy(d, orig, len);
  d[len - 1] = 'X';
  spit(out, d, len);
  expect_fail(out, "footer", (char *)NULL);
  /* Not an Arrow file at all, too short, empty, missing, a directory. */
  spit(out, "hello world, this is text\n", 26);
  expect_fail(out, (char *)NULL);
  spit(out, "ARROW1", 6);
  expect_fail(out, (char *)NULL);
  spit(out, "", 0);
  expect_fail(out, (char *)NULL);
  expect_fail(path_in(fx, "does-not-exist.arrow"), (char *)NULL);
  expect_fail(fx->dir, (char *)NULL);
  /* An empty stream: only the end-of-stream marker. */
  spit(out, "\xff\xff\xff\xff\0\0\0\0", 8);
  expect_fail(out, "schema", (char *)NULL);
  free(d);
  free(orig);
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

static const char *const format_names[] = {"file", "stream"};
static const char *const codec_names[] = {"none", "lz4", "zstd"};

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

/* Truncations and byte flips of small compressed files (the apache-arrow ones cover uncompressed files). */
static void test_writer_compressed_corruption(void **state) {
  fixtures *fx = *state;
  fx_table all;
  assert_int_equal(fx_all_types(&all), 0);
  static const uint8_t masks[] = {0x01, 0xFF};
  const char *src = path_in(fx, "compressed.arrow"), *bad = path_in(fx, "compressed_bad.arrow");
  for (int fmt = 0; fmt < 2; fmt++)
    for (int codec = 1; codec < 3; codec++) {
      aw_options opt = {(enum aw_format)fmt, (enum aw_codec)codec, 16};
      assert_int_equal(fx_table_write(src, &opt, &all), 0);
      size_t len;
      uint8_t *data = slurp(src, &len);
      assert_non_null(data);
      /* Every third cut and one flip per byte (masks taking turns) keep this under a minute with ASan. */
      int opened = 0;
      for (size_t n = 0; n < len; n += 3) {
        spit(bad, data, n);
        if (try_read(bad, NULL) == 0 && fmt == AW_FILE) fail_msg("file cut at %zu bytes opened", n);
      }
      for (size_t i = 0; i < len; i++) {
        data[i] ^= masks[i % sizeof masks];
        spit(bad, data, len);
        opened += try_read(bad, NULL) == 0;
        data[i] ^= masks[i % sizeof masks];
      }
      print_message("  %s/%s: %zu bytes, %zu flips, %d read without error\n", format_names[fmt], codec_names[codec],
                    len, len, opened);
      free(data);
    }
  fx_table_free(&all);
}

/* The first buffer of batch RB that holds compressed data (a length prefix other than -1). */
static uint8_t *first_compressed(uint8_t *d, const rb_pos *rb, int64_t *prefix_at, int64_t *len) {
  for (size_t k = 0; k < rb->n_bufs; k++) {
    uint8_t *b = buf_desc(d, rb, k);
    if (get64(b + 8) >= 16 && get64(d + rb->body + get64(b)) > 0) {
      *prefix_at = (int64_t)rb->body + get64(b);
      *len = get64(b + 8);
      return b;
    }
  }
  fail_msg("no compressed buffer");
  return NULL;
}

static void test_writer_crafted_compression(void **state) {
  fixtures *fx = *state;
  fx_table all;
  assert_int_equal(fx_all_types(&all), 0);
  const char *src = path_in(fx, "compressed.arrow"), *bad = path_in(fx, "compressed_bad.arrow");
  for (int codec = 1; codec < 3; codec++) {
    aw_options opt = {AW_STREAM, (enum aw_codec)codec, 0};
    assert_int_equal(fx_table_write(src, &opt, &all), 0);
    size_t len;
    uint8_t *orig = slurp(src, &len), *d = malloc(len);
    rb_pos rb;
    int64_t at = 0, blen = 0;
    for (int k = 0; k < 5; k++) {
      memcpy(d, orig, len);
      find_batch(d, len, 0, &rb);
      uint8_t *b = first_compressed(d, &rb, &at, &blen);
      const char *expect = "uncompressed length";
      switch (k) {
      case 0: put64(d + at, 0); break;                /* says empty, the node needs bytes */
      case 1: put64(d + at, -7); break;               /* negative, not -1 */
      case 2: put64(d + at, (int64_t)1 << 50); break; /* absurd */
      case 3:
        put64(b + 8, 9);
        expect = "decompress";
        break; /* payload cut to one byte */
      case 4:
        memset(d + at + 8, 0x5A, (size_t)blen - 8);
        expect = "decompress";
        break; /* garbage payload */
      }
      spit(bad, d, len);
      print_message("  %s case %d:", codec_names[codec], k);
      expect_fail(bad, expect, (char *)NULL);
    }
    /* A prefix larger than the data needs is harmless: only what the node needs is decompressed. */
    free(orig);
    free(d);
  }
  fx_table_free(&all);
}

/* ------------------------------------------------------------------------------------------------------ */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arrow_values),
      cmocka_unit_test(test_arrow_schema),
      cmocka_unit_test(test_arrow_ownership),
      cmocka_unit_test(test_arrow_unsupported),
      cmocka_unit_test(test_arrow_threads),
      cmocka_unit_test(test_arrow_legacy_stream),
      cmocka_unit_test(test_polars_values),
      cmocka_unit_test(test_crafted_corruption),
      cmocka_unit_test(test_huge_offsets_length),
      cmocka_unit_test(test_non_utf8_strings),
      cmocka_unit_test(test_file_format_corruption),
      cmocka_unit_test(test_crafted_schemas),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_byte_flips),
      cmocka_unit_test(test_writer_roundtrip),
      cmocka_unit_test(test_writer_crafted_compression),
      cmocka_unit_test(test_writer_compressed_corruption),
  };
  return cmocka_run_group_tests(tests, setup_fixtures, teardown_fixtures);
}
