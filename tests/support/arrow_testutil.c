/* arrow_testutil.c: fixtures, array walks and corrupt-file reads shared by the Arrow reader tests (see
 * arrow_testutil.h). Moved from test_arrow_file.c unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arrow_testutil.h"

#ifndef TC_SOURCE_DIR
#error "TC_SOURCE_DIR must be defined (tests/CMakeLists.txt)"
#endif

const char *const format_names[2] = {"file", "stream"};
const char *const codec_names[3] = {"none", "lz4", "zstd"};

/* ------------------------------------------------------------------------------------------------------ */
/* Files and fixtures */

char *path_in(const fixtures *fx, const char *name) {
  static _Thread_local char buf[8][1024];
  static _Thread_local int k;
  char *p = buf[k++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", fx->dir, name);
  return p;
}

uint8_t *slurp(const char *path, size_t *len) {
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

void spit(const char *path, const void *data, size_t len) {
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

int setup_fixtures(void **state) {
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

int teardown_fixtures(void **state) {
  fixtures *fx = *state;
  if (!fx) return 0;
  if (!getenv("TC_KEEP_FIXTURES")) nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  jv_free(&fx->arrow);
  jv_free(&fx->polars);
  free(fx);
  return 0;
}

fixtures *need_arrow(void **state) {
  fixtures *fx = *state;
  if (!fx->arrow_ok) {
    print_message("skipped: apache-arrow fixtures unavailable: %s\n", fx->why);
    skip();
  }
  return fx;
}

fixtures *need_polars(void **state) {
  fixtures *fx = *state;
  if (!fx->polars_ok) {
    print_message("skipped: polars fixtures unavailable: %s\n", fx->why[0] ? fx->why : "no script");
    skip();
  }
  return fx;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Walking arrays: every byte the reader promises is touched (ASan checks it), invariants asserted. */

int64_t bm_bytes(int64_t n) { return (n + 7) / 8; }
/* By the bitmap; without one, only an AT_NULL array (null_count == length) has nulls. */
int is_null(const at_array *a, int64_t i) {
  return a->validity ? !(a->validity[i >> 3] >> (i & 7) & 1) : a->null_count != 0;
}

int64_t ld_off(const at_array *a, int large, int64_t i) {
  if (large) {
    int64_t v;
    memcpy(&v, a->offsets + 8 * i, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, a->offsets + 4 * i, 4);
  return v;
}

int is_large(at_type t) { return t == AT_LARGE_UTF8 || t == AT_LARGE_BINARY || t == AT_LARGE_LIST; }

uint64_t touch(const uint8_t *p, int64_t n) {
  uint64_t h = 1469598103934665603u;
  for (int64_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
  return h;
}

/* Asserts the invariants at_array promises and hashes every byte it promises (ASan checks the reads). */
uint64_t walk_array(const at_field *f, const at_array *a) {
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

uint64_t walk_batch(const at_schema *s, const at_batch *b) {
  uint64_t h = 0;
  assert_int_equal(b->n_columns, s->n_fields);
  for (size_t i = 0; i < b->n_columns; i++) {
    assert_int_equal(b->columns[i].length, b->length);
    h = h * 31 + walk_array(&s->fields[i], &b->columns[i]);
  }
  return h;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Reading corrupt files */

/* Opens PATH and reads every batch, walking what it gets. Returns 0 when all of it succeeded, -1 when
 * something failed; then the message must name the file. */
int try_read(const char *path, int64_t *rows) {
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
void expect_fail(const char *path, ...) {
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
