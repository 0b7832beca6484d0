/* Unit tests for tests/support/arrow_writer.c: files of every type, format and codec, read back by readers
 * nobody here wrote (apache-arrow for uncompressed files, nodejs-polars for every codec) through
 * tests/peers/read_ipc.mjs, whose canonical JSON lines this file renders from the arrays it wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrow_writer.h"
#include "fixtures.h"

#ifndef TC_SOURCE_DIR
#error "TC_SOURCE_DIR must name the source tree"
#endif
#define PEERS TC_SOURCE_DIR "/tests/peers"

/* ---------------------------------------------------------------- text buffer */

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_add(sbuf *s, const char *p, size_t n) {
  if (s->cap - s->len < n + 1) {
    s->cap = (s->len + n + 1) * 2;
    s->p = realloc(s->p, s->cap);
    assert_non_null(s->p);
  }
  memcpy(s->p + s->len, p, n);
  s->len += n;
  s->p[s->len] = '\0';
}

static void sb_puts(sbuf *s, const char *p) { sb_add(s, p, strlen(p)); }

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *s, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  sb_add(s, tmp, (size_t)n);
}

/* ---------------------------------------------------------------- canonical JSON (see read_ipc.mjs) */

/* As JSON.stringify escapes a string: quote, backslash and control characters; other bytes as they are. */
static void json_str(sbuf *s, const char *p, size_t n) {
  static const char *esc[32] = {['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"};
  sb_puts(s, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\')
      sb_printf(s, "\\%c", c);
    else if (c < 32 && esc[c])
      sb_puts(s, esc[c]);
    else if (c < 32)
      sb_printf(s, "\\u%04x", c);
    else
      sb_add(s, (const char *)&c, 1);
  }
  sb_puts(s, "\"");
}

/* As JavaScript's Number.prototype.toString: the shortest digits that round-trip, placed by its rules. */
static void json_num(sbuf *s, double v) {
  if (v == 0) {
    sb_puts(s, "0"); /* JSON.stringify(-0) is "0" */
    return;
  }
  char e[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  char digits[24] = "";
  const char *m = e + (e[0] == '-');
  size_t k = 0;
  for (; *m && *m != 'e'; m++)
    if (*m != '.') digits[k++] = *m;
  while (k > 1 && digits[k - 1] == '0') digits[--k] = '\0';
  int n = atoi(m + 1) + 1; /* the decimal point goes after n digits */
  if (v < 0) sb_puts(s, "-");
  if ((int)k <= n && n <= 21) {
    sb_puts(s, digits);
    for (int i = (int)k; i < n; i++) sb_puts(s, "0");
  } else if (0 < n && n <= 21) {
    sb_printf(s, "%.*s.%s", n, digits, digits + n);
  } else if (-6 < n && n <= 0) {
    sb_puts(s, "0.");
    for (int i = n; i < 0; i++) sb_puts(s, "0");
    sb_puts(s, digits);
  } else {
    sb_printf(s, "%c%s%s", digits[0], k > 1 ? "." : "", digits + 1);
    sb_printf(s, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
  }
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static int64_t sext(uint64_t v, int bytes) {
  int shift = 64 - 8 * bytes;
  return (int64_t)(v << shift) >> shift;
}

static double half_to_double(uint16_t h) {
  int exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0 ? ldexp(mant, -24) : ldexp(1024 + mant, exp - 25);
  return h & 0x8000 ? -v : v;
}

static void type_name(sbuf *s, const at_field *f) {
  static const char *names[] = {[AT_BOOL] = "bool",       [AT_INT8] = "int8",
                                [AT_INT16] = "int16",     [AT_INT32] = "int32",
                                [AT_INT64] = "int64",     [AT_UINT8] = "uint8",
                                [AT_UINT16] = "uint16",   [AT_UINT32] = "uint32",
                                [AT_UINT64] = "uint64",   [AT_FLOAT16] = "float16",
                                [AT_FLOAT32] = "float32", [AT_FLOAT64] = "float64",
                                [AT_UTF8] = "utf8",       [AT_LARGE_UTF8] = "large_utf8",
                                [AT_BINARY] = "binary",   [AT_LARGE_BINARY] = "large_binary",
                                [AT_DATE32] = "date32",   [AT_DATE64] = "date64"};
  static const char *units[] = {"s", "ms", "us", "ns"};
  switch (f->type) {
  case AT_FIXED_SIZE_BINARY: sb_printf(s, "fixed_size_binary[%d]", f->byte_width); return;
  case AT_TIMESTAMP:
    sb_printf(s, "timestamp[%s", units[f->time_unit]);
    if (f->timezone) sb_printf(s, ",%s", f->timezone);
    sb_puts(s, "]");
    return;
  case AT_LIST:
  case AT_LARGE_LIST:
  case AT_FIXED_SIZE_LIST:
    if (f->type == AT_FIXED_SIZE_LIST)
      sb_printf(s, "fixed_size_list[%d]<", f->list_size);
    else
      sb_puts(s, f->type == AT_LIST ? "list<" : "large_list<");
    type_name(s, &f->children[0]);
    sb_puts(s, ">");
    return;
  case AT_STRUCT:
    sb_puts(s, "struct<");
    for (size_t i = 0; i < f->n_children; i++) {
      sb_printf(s, "%s%s:", i ? "," : "", f->children[i].name);
      type_name(s, &f->children[i]);
    }
    sb_puts(s, ">");
    return;
  default: sb_puts(s, names[f->type]);
  }
}

typedef struct render_opts {
  int polars; /* polars reads timestamp[s] as timestamp[ms] */
} render_opts;

static void render_cell(sbuf *s, const at_field *f, const at_array *a, int64_t j, const render_opts *o);

/* Integers, dates and timestamps: decimal strings. */
static void render_int(sbuf *s, const at_field *f, const at_array *a, int64_t j, const render_opts *o) {
  static const int8_t width[] = {
      [AT_INT8] = 1,   [AT_INT16] = 2,  [AT_INT32] = 4,  [AT_INT64] = 8,  [AT_UINT8] = 1,    [AT_UINT16] = 2,
      [AT_UINT32] = 4, [AT_UINT64] = 8, [AT_DATE32] = 4, [AT_DATE64] = 8, [AT_TIMESTAMP] = 8};
  int w = width[f->type];
  uint64_t raw = le(a->values + j * w, w);
  if (f->type >= AT_UINT8 && f->type <= AT_UINT64) {
    sb_printf(s, "\"%" PRIu64 "\"", raw);
    return;
  }
  int64_t v = sext(raw, w);
  if (f->type == AT_DATE32) v *= 86400000;
  if (f->type == AT_TIMESTAMP && f->time_unit == 0 && o->polars) v *= 1000;
  sb_printf(s, "\"%" PRId64 "\"", v);
}

static void render_bytes(sbuf *s, const at_field *f, const uint8_t *p, size_t n) {
  if (f->type == AT_UTF8 || f->type == AT_LARGE_UTF8) {
    json_str(s, (const char *)p, n);
    return;
  }
  sb_puts(s, "\"");
  for (size_t i = 0; i < n; i++) sb_printf(s, "%02x", p[i]);
  sb_puts(s, "\"");
}

static void render_items(sbuf *s, const at_field *f, const at_array *child, int64_t from, int64_t to,
                         const render_opts *o) {
  sb_puts(s, "[");
  for (int64_t k = from; k < to; k++) {
    if (k > from) sb_puts(s, ",");
    render_cell(s, &f->children[0], child, k, o);
  }
  sb_puts(s, "]");
}

static void render_nested(sbuf *s, const at_field *f, const at_array *a, int64_t j, const render_opts *o) {
  int wide = f->type == AT_LARGE_LIST;
  if (f->type == AT_FIXED_SIZE_LIST) {
    render_items(s, f, &a->children[0], j * f->list_size, (j + 1) * f->list_size, o);
  } else if (f->type != AT_STRUCT) {
    int64_t from = sext(le(a->offsets + j * (wide ? 8 : 4), wide ? 8 : 4), wide ? 8 : 4);
    int64_t to = sext(le(a->offsets + (j + 1) * (wide ? 8 : 4), wide ? 8 : 4), wide ? 8 : 4);
    render_items(s, f, &a->children[0], from, to, o);
  } else {
    sb_puts(s, "{");
    for (size_t c = 0; c < f->n_children; c++) {
      sb_printf(s, "%s\"%s\":", c ? "," : "", f->children[c].name);
      render_cell(s, &f->children[c], &a->children[c], j, o);
    }
    sb_puts(s, "}");
  }
}

static void render_cell(sbuf *s, const at_field *f, const at_array *a, int64_t j, const render_opts *o) {
  if (a->validity && !(a->validity[j / 8] >> (j % 8) & 1)) {
    sb_puts(s, "null");
    return;
  }
  int wide = f->type == AT_LARGE_UTF8 || f->type == AT_LARGE_BINARY;
  float f32;
  double f64;
  switch (f->type) {
  case AT_BOOL: sb_puts(s, a->values[j / 8] >> (j % 8) & 1 ? "true" : "false"); return;
  case AT_FLOAT16: json_num(s, half_to_double((uint16_t)le(a->values + 2 * j, 2))); return;
  case AT_FLOAT32:
    memcpy(&f32, a->values + 4 * j, 4);
    json_num(s, f32);
    return;
  case AT_FLOAT64:
    memcpy(&f64, a->values + 8 * j, 8);
    json_num(s, f64);
    return;
  case AT_UTF8:
  case AT_LARGE_UTF8:
  case AT_BINARY:
  case AT_LARGE_BINARY: {
    int64_t from = sext(le(a->offsets + j * (wide ? 8 : 4), wide ? 8 : 4), wide ? 8 : 4);
    int64_t to = sext(le(a->offsets + (j + 1) * (wide ? 8 : 4), wide ? 8 : 4), wide ? 8 : 4);
    render_bytes(s, f, a->values + from, (size_t)(to - from));
    return;
  }
  case AT_FIXED_SIZE_BINARY: render_bytes(s, f, a->values + j * f->byte_width, (size_t)f->byte_width); return;
  case AT_LIST:
  case AT_LARGE_LIST:
  case AT_FIXED_SIZE_LIST:
  case AT_STRUCT: render_nested(s, f, a, j, o); return;
  default: render_int(s, f, a, j, o);
  }
}

static void render_meta(sbuf *s, const at_kv *meta, size_t n) {
  sb_puts(s, "{");
  for (size_t i = 0; i < n; i++) {
    sb_puts(s, i ? "," : "");
    json_str(s, meta[i].key, meta[i].key_len);
    sb_puts(s, ":");
    json_str(s, meta[i].value, meta[i].value_len);
  }
  sb_puts(s, "}");
}

/* What read_ipc.mjs prints for table T (in polars mode: names and values only). */
static char *render_table(const fx_table *t, const render_opts *o) {
  sbuf s = {0};
  int64_t rows = 0;
  for (size_t b = 0; b < t->n_batches; b++) rows += t->batch_rows[b];
  sb_printf(&s, "{\"rows\":%" PRId64, rows);
  if (!o->polars) {
    sb_puts(&s, ",\"metadata\":");
    render_meta(&s, t->schema.meta, t->schema.n_meta);
  }
  sb_puts(&s, "}\n");
  for (size_t c = 0; c < t->schema.n_fields; c++) {
    const at_field *f = &t->schema.fields[c];
    sb_printf(&s, "{\"name\":\"%s\",", f->name);
    if (!o->polars) {
      sb_puts(&s, "\"type\":\"");
      type_name(&s, f);
      sb_printf(&s, "\",\"nullable\":%s,\"metadata\":", f->nullable ? "true" : "false");
      render_meta(&s, f->meta, f->n_meta);
      sb_puts(&s, ",");
    }
    sb_puts(&s, "\"values\":[");
    for (size_t b = 0, first = 1; b < t->n_batches; b++)
      for (int64_t j = 0; j < t->batch_rows[b]; j++, first = 0) {
        sb_puts(&s, first ? "" : ",");
        render_cell(&s, f, &t->batches[b][c], j, o);
      }
    sb_puts(&s, "]}\n");
  }
  return s.p;
}

/* ---------------------------------------------------------------- running the peers */

static int peers_available(void) {
  return access(PEERS "/node_modules/apache-arrow/package.json", R_OK) == 0 &&
         access(PEERS "/node_modules/nodejs-polars/package.json", R_OK) == 0 &&
         system("node --version >/dev/null 2>&1") == 0;
}

static char *run_reader(const char *reader, const char *path) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "node '%s/read_ipc.mjs' --reader %s '%s'", PEERS, reader, path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  sbuf s = {0};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) sb_add(&s, buf, n);
  int status = pclose(p);
  if (status != 0) fail_msg("%s failed (status %d) on %s", reader, status, path);
  return s.p ? s.p : strdup("");
}

/* Compares line by line, so a failure names the column. */
static void compare(const char *what, const char *expected, const char *actual) {
  int line = 1;
  for (const char *e = expected, *a = actual;; line++) {
    const char *ee = strchr(e, '\n'), *ae = strchr(a, '\n');
    size_t el = ee ? (size_t)(ee - e) : strlen(e), al = ae ? (size_t)(ae - a) : strlen(a);
    if (el != al || memcmp(e, a, el)) {
      print_error("%s: line %d differs\nexpected: %.*s\nactual:   %.*s\n", what, line, (int)el, e, (int)al, a);
      fail();
    }
    if (!ee || !ae) {
      if (ee || ae) fail_msg("%s: line counts differ", what);
      return;
    }
    e = ee + 1;
    a = ae + 1;
  }
}

/* ---------------------------------------------------------------- fixtures */

typedef struct state {
  char dir[4096];
  fx_table all, example;
} state;

static int setup(void **st) {
  state *s = calloc(1, sizeof *s);
  const char *base = getenv("TC_TEST_TMPDIR");
  base = base && *base ? base : "/tmp";
  mkdir(base, 0777);
  snprintf(s->dir, sizeof s->dir, "%s/arrow_writer.XXXXXX", base);
  if (!mkdtemp(s->dir) || fx_all_types(&s->all) || fx_example(&s->example, FX_EXAMPLE_SHAPE, 50, 16)) return -1;
  *st = s;
  return 0;
}

static int teardown(void **st) {
  state *s = *st;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
  if (system(cmd) != 0) return -1;
  fx_table_free(&s->all);
  fx_table_free(&s->example);
  free(s);
  return 0;
}

static const char *codec_name(enum aw_codec c) { return c == AW_LZ4 ? "lz4" : c == AW_ZSTD ? "zstd" : "none"; }

/* Writes T with OPT and checks what READER reads. */
static void check(state *s, const fx_table *t, const char *name, aw_options opt, const char *reader) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s-%s-%s-%" PRId64 ".arrow", s->dir, name, opt.format ? "stream" : "file",
           codec_name(opt.codec), opt.min_compress_bytes);
  assert_int_equal(fx_table_write(path, &opt, t), 0);
  render_opts ro = {.polars = !strcmp(reader, "polars")};
  char *expected = render_table(t, &ro), *actual = run_reader(reader, path);
  char what[4400];
  snprintf(what, sizeof what, "%s read by %s", path, reader);
  compare(what, expected, actual);
  free(expected);
  free(actual);
}

static void skip_without_peers(void) {
  if (!peers_available()) {
    print_message("skipped: node or " PEERS "/node_modules is missing (run npm ci in tests/peers)\n");
    skip();
  }
}

/* ---------------------------------------------------------------- tests */

static void test_all_types_apache_arrow(void **st) {
  skip_without_peers();
  for (int f = 0; f < 2; f++)
    check(*st, &((state *)*st)->all, "all", (aw_options){.format = (enum aw_format)f}, "arrow");
}

static void test_all_types_polars_every_codec(void **st) {
  skip_without_peers();
  for (int f = 0; f < 2; f++)
    for (int c = 0; c < 3; c++)
      check(*st, &((state *)*st)->all, "all", (aw_options){.format = (enum aw_format)f, .codec = (enum aw_codec)c},
            "polars");
}

/* Buffers under min_compress_bytes are stored raw behind a -1 length, mixed with compressed ones. */
static void test_min_compress_bytes_polars(void **st) {
  skip_without_peers();
  for (int c = 1; c < 3; c++)
    check(*st, &((state *)*st)->all, "all", (aw_options){.codec = (enum aw_codec)c, .min_compress_bytes = 16},
          "polars");
  check(*st, &((state *)*st)->example, "example",
        (aw_options){.format = AW_STREAM, .codec = AW_ZSTD, .min_compress_bytes = 1 << 30}, "polars");
}

static void test_example_table(void **st) {
  skip_without_peers();
  state *s = *st;
  check(s, &s->example, "example", (aw_options){0}, "arrow");
  check(s, &s->example, "example", (aw_options){.codec = AW_LZ4}, "polars");
}

/* The value rules fixtures.h documents are what the table holds. */
static void test_example_rules(void **st) {
  const fx_table *t = &((state *)*st)->example;
  assert_int_equal(t->n_batches, 4); /* 50 rows by 16 */
  int64_t i = 0;
  for (size_t b = 0; b < t->n_batches; b++)
    for (int64_t j = 0; j < t->batch_rows[b]; j++, i++) {
      const at_array *c = t->batches[b];
      int64_t label;
      float score;
      memcpy(&label, c[1].values + 8 * j, 8);
      memcpy(&score, c[3].values + 4 * j, 4);
      assert_int_equal(label, i % 10);
      assert_true(score == (float)(i % 100) * 0.25f);
      const at_array *px = &c[0].children[0].children[0].children[0];
      assert_int_equal(px->values[j * 192 + 100], (i * 31 + 100) % 256);
      int valid = c[2].validity[j / 8] >> (j % 8) & 1;
      assert_int_equal(valid, i % 7 != 3);
      char buf[32];
      int32_t from, to;
      memcpy(&from, c[2].offsets + 4 * j, 4);
      memcpy(&to, c[2].offsets + 4 * j + 4, 4);
      if (valid) assert_memory_equal(c[2].values + from, fx_example_caption(i, buf), (size_t)(to - from));
    }
}

/* aw_open / aw_write_batch / aw_close write what aw_write writes, byte for byte. */
static void test_incremental_matches(void **st) {
  state *s = *st;
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/whole.arrow", s->dir);
  snprintf(b, sizeof b, "%s/incremental.arrow", s->dir);
  aw_options opt = {.codec = AW_ZSTD};
  assert_int_equal(fx_table_write(a, &opt, &s->all), 0);
  aw_writer *w = aw_open(b, &opt, &s->all.schema);
  assert_non_null(w);
  for (size_t i = 0; i < s->all.n_batches; i++)
    assert_int_equal(aw_write_batch(w, s->all.batch_rows[i], s->all.batches[i]), 0);
  assert_int_equal(aw_close(w), 0);
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  assert_int_equal(system(cmd), 0);
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Framing: the magic at both ends of a file; the end-of-stream marker of a stream. */
static void test_framing(void **st) {
  state *s = *st;
  char path[4200];
  uint8_t head[8], tail[10];
  for (int f = 0; f < 2; f++) {
    snprintf(path, sizeof path, "%s/framing.arrow", s->dir);
    assert_int_equal(fx_table_write(path, &(aw_options){.format = (enum aw_format)f}, &s->example), 0);
    long size = file_size(path);
    assert_true(size > 64 && size % 2 == 0);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(head, 1, 8, fp), 8);
    assert_int_equal(fseek(fp, size - 10, SEEK_SET), 0);
    assert_int_equal(fread(tail, 1, 10, fp), 10);
    fclose(fp);
    if (f == AW_FILE) {
      assert_memory_equal(head, "ARROW1\0\0", 8);
      assert_memory_equal(tail + 4, "ARROW1", 6);
      uint32_t footer = (uint32_t)le(tail, 4);
      assert_true(footer > 0 && footer % 8 == 0 && footer < (uint32_t)size);
    } else {
      assert_memory_equal(head, "\xff\xff\xff\xff", 4);
      assert_memory_equal(tail + 2, "\xff\xff\xff\xff\0\0\0\0", 8);
    }
  }
}

/* Arrays that do not match their schema are refused with EINVAL, and no file is left behind. */
static void test_rejects_bad_arrays(void **st) {
  state *s = *st;
  char path[4200];
  snprintf(path, sizeof path, "%s/bad.arrow", s->dir);
  at_field f = {.name = "x", .type = AT_INT32, .nullable = 1};
  at_schema schema = {.n_fields = 1, .fields = &f};
  int32_t v[4] = {1, 2, 3, 4};
  const at_array cases[] = {
      {.length = 4, .null_count = 1, .values = (uint8_t *)v, .values_len = 16}, /* nulls without bitmap */
      {.length = 4, .values = (uint8_t *)v, .values_len = 12},                  /* values too short */
      {.length = 3, .values = (uint8_t *)v, .values_len = 16},                  /* not the batch length */
      {.length = 4, .values = (uint8_t *)v, .values_len = 16, .n_children = 1}, /* children on an int */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const at_array *batch[] = {&cases[i]};
    int64_t rows = 4;
    errno = 0;
    assert_int_equal(aw_write(path, &(aw_options){0}, &schema, 1, &rows, batch), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(access(path, F_OK), -1);
  }
  at_field list = {.name = "l", .type = AT_LIST}; /* a list without its item field */
  errno = 0;
  assert_int_equal(aw_write(path, &(aw_options){0}, &(at_schema){.n_fields = 1, .fields = &list}, 0, NULL, NULL), -1);
  assert_int_equal(errno, EINVAL);
  assert_int_equal(aw_write(path, &(aw_options){.codec = 7}, &schema, 0, NULL, NULL), -1);
  assert_int_equal(access(path, F_OK), -1);
}

static void test_json_num_matches_javascript(void **st) {
  (void)st;
  static const struct {
    double v;
    const char *js;
  } cases[] = {{10, "10"},
               {-11, "-11"},
               {0.25, "0.25"},
               {1e300, "1e+300"},
               {123456789012345680000.0, "123456789012345680000"},
               {1e21, "1e+21"},
               {1e-7, "1e-7"},
               {0.000001, "0.000001"},
               {-0.0, "0"},
               {1.5e-10, "1.5e-10"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sbuf s = {0};
    json_num(&s, cases[i].v);
    assert_string_equal(s.p, cases[i].js);
    free(s.p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_num_matches_javascript),
      cmocka_unit_test(test_example_rules),
      cmocka_unit_test(test_framing),
      cmocka_unit_test(test_incremental_matches),
      cmocka_unit_test(test_rejects_bad_arrays),
      cmocka_unit_test(test_all_types_apache_arrow),
      cmocka_unit_test(test_example_table),
      cmocka_unit_test(test_all_types_polars_every_codec),
      cmocka_unit_test(test_min_compress_bytes_polars),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
