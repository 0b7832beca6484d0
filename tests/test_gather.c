/* Unit tests for server/table.c and server/gather.c: rows of tables written by our writer, gathered in any
 * order, compared cell by cell with what was written; limits; row hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "gather.h"
#include "row_hash.h"
#include "schema.h"
#include "table.h"

typedef struct fx {
  char dir[256];
  ts_cache *cache;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  const char *base = getenv("TC_TEST_TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/gatherXXXXXX", base && *base ? "/tmp" : "/tmp");
  if (!mkdtemp(f->dir)) return -1;
  f->cache = ts_cache_new(1 << 20);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  ts_cache_free(f->cache);
  free(f);
  return 0;
}

static ts_table *open_written(fx *f, const char *file, const fx_table *t, aw_options opt) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", f->dir, file);
  assert_int_equal(fx_table_write(path, &opt, t), 0);
  char *files[] = {(char *)file};
  ts_table *tab;
  ts_error err = {0};
  if (ts_table_open("t", f->dir, files, 1, f->cache, &tab, &err) != TC_OK) fail_msg("open: %s", err.msg);
  return tab;
}

static int src_valid(const at_array *a, int64_t i) {
  return a->null_count == 0 || !a->validity || ((a->validity[i >> 3] >> (i & 7)) & 1);
}

static int out_valid(const Tablecar__V1__Array *a, int64_t i) {
  return a->validity.len == 0 || ((a->validity.data[i >> 3] >> (i & 7)) & 1);
}

static int64_t off(const uint8_t *o, int large, int64_t i) {
  return large ? ((const int64_t *)(const void *)o)[i] : ((const int32_t *)(const void *)o)[i];
}

/* Row R of source array S equals row K of the gathered array O (recursively). */
static void check_cell(const at_field *f, const at_array *s, int64_t r, const Tablecar__V1__Array *o, int64_t k) {
  assert_int_equal(src_valid(s, r), out_valid(o, k));
  if (!src_valid(s, r) && f->type != AT_STRUCT) return;
  int64_t w = at_type_fixed_width(f);
  int large = f->type == AT_LARGE_UTF8 || f->type == AT_LARGE_BINARY || f->type == AT_LARGE_LIST;
  if (w > 0) {
    assert_memory_equal(o->values.data + k * w, s->values + r * w, (size_t)w);
  } else if (f->type == AT_BOOL) {
    assert_int_equal((o->values.data[k >> 3] >> (k & 7)) & 1, (s->values[r >> 3] >> (r & 7)) & 1);
  } else if (f->type == AT_UTF8 || f->type == AT_BINARY || f->type == AT_LARGE_UTF8 || f->type == AT_LARGE_BINARY) {
    int64_t n = off(s->offsets, large, r + 1) - off(s->offsets, large, r);
    assert_int_equal(off(o->offsets.data, large, k + 1) - off(o->offsets.data, large, k), n);
    assert_memory_equal(o->values.data + off(o->offsets.data, large, k), s->values + off(s->offsets, large, r),
                        (size_t)n);
  } else if (f->type == AT_FIXED_SIZE_LIST) {
    for (int64_t j = 0; j < f->list_size; j++)
      check_cell(&f->children[0], &s->children[0], r * f->list_size + j, o->children[0], k * f->list_size + j);
  } else if (f->type == AT_LIST || f->type == AT_LARGE_LIST) {
    int64_t a = off(s->offsets, large, r), n = off(s->offsets, large, r + 1) - a;
    int64_t b = off(o->offsets.data, large, k);
    assert_int_equal(off(o->offsets.data, large, k + 1) - b, n);
    for (int64_t j = 0; j < n; j++) check_cell(&f->children[0], &s->children[0], a + j, o->children[0], b + j);
  } else if (f->type == AT_STRUCT) {
    for (size_t c = 0; c < f->n_children; c++) check_cell(&f->children[c], &s->children[c], r, o->children[c], k);
  } else {
    fail_msg("field %s: unexpected type %d", f->name, f->type);
  }
}

/* Global row ROW of fixture T: its batch's arrays and its index there. */
static const at_array *fx_row(const fx_table *t, int64_t row, int64_t *local) {
  for (size_t b = 0; b < t->n_batches; b++) {
    if (row < t->batch_rows[b]) {
      *local = row;
      return t->batches[b];
    }
    row -= t->batch_rows[b];
  }
  fail_msg("row out of range");
  return NULL;
}

static void check_batch(const fx_table *t, const int64_t *rows, size_t n, const size_t *cols, size_t nc,
                        const Tablecar__V1__Batch *b) {
  assert_int_equal(b->num_rows, (int64_t)n);
  assert_int_equal(b->row_ids.len, n * 8);
  assert_memory_equal(b->row_ids.data, rows, n * 8);
  assert_int_equal(b->n_columns, nc);
  for (size_t c = 0; c < nc; c++) {
    const at_field *f = &t->schema.fields[cols[c]];
    assert_string_equal(b->fields[c]->name, f->name);
    assert_int_equal(b->columns[c]->length, (int64_t)n);
    for (size_t k = 0; k < n; k++) {
      int64_t local = 0;
      const at_array *cols_of_row = fx_row(t, rows[k], &local);
      check_cell(f, &cols_of_row[cols[c]], local, b->columns[c], (int64_t)k);
    }
  }
}

static void gather_all_types(fx *f, aw_options opt) {
  fx_table t;
  assert_int_equal(fx_all_types(&t), 0);
  ts_table *tab = open_written(f, opt.codec ? "c.arrow" : "u.arrow", &t, opt);
  assert_int_equal(ts_table_num_rows(tab), FX_ALL_TYPES_ROWS);
  int64_t rows[] = {11, 0, 5, 5, 3, 9, 4, 10, 1, 2, 6, 7, 8, 0};
  size_t *cols, nc;
  ts_error err = {0};
  assert_int_equal(ts_select_columns(ts_table_schema(tab), NULL, 0, &cols, &nc, &err), TC_OK);
  assert_int_equal(nc, t.schema.n_fields);
  Tablecar__V1__Batch *b;
  if (ts_gather(tab, rows, 14, cols, nc, 1 << 20, &b, &err) != TC_OK) fail_msg("gather: %s", err.msg);
  check_batch(&t, rows, 14, cols, nc, b);
  ts_batch_msg_free(b);
  free(cols);
  ts_table_unref(tab);
  fx_table_free(&t);
}

static void test_all_types_uncompressed(void **state) { gather_all_types(*state, (aw_options){.format = AW_FILE}); }

static void test_all_types_lz4_stream(void **state) {
  gather_all_types(*state, (aw_options){.format = AW_STREAM, .codec = AW_LZ4});
}

static void test_all_types_zstd(void **state) {
  gather_all_types(*state, (aw_options){.format = AW_FILE, .codec = AW_ZSTD});
}

static void test_example_rows_and_selection(void **state) {
  fx *f = *state;
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, 1000, 128), 0);
  ts_table *tab = open_written(f, "ex.arrow", &t, (aw_options){.format = AW_FILE, .codec = AW_ZSTD});
  char *names[] = {"caption", "image"};
  size_t *cols, nc;
  ts_error err = {0};
  assert_int_equal(ts_select_columns(ts_table_schema(tab), names, 2, &cols, &nc, &err), TC_OK);
  int64_t rows[64];
  for (int i = 0; i < 64; i++) rows[i] = (i * 389) % 1000;
  Tablecar__V1__Batch *b;
  assert_int_equal(ts_gather(tab, rows, 64, cols, nc, 1 << 20, &b, &err), TC_OK);
  for (int k = 0; k < 64; k++) { /* recomputed from the fixture's rules */
    char buf[32];
    const char *cap = fx_example_caption(rows[k], buf);
    const Tablecar__V1__Array *c = b->columns[0];
    assert_int_equal(out_valid(c, k), cap != NULL);
    if (cap) {
      int32_t s = ((int32_t *)(void *)c->offsets.data)[k], e = ((int32_t *)(void *)c->offsets.data)[k + 1];
      assert_int_equal(e - s, strlen(cap));
      assert_memory_equal(c->values.data + s, cap, strlen(cap));
    }
    const Tablecar__V1__Array *leaf = b->columns[1]->children[0]->children[0]->children[0];
    for (int64_t j = 0; j < 192; j++)
      assert_int_equal(leaf->values.data[k * 192 + j], fx_example_image_byte(rows[k], j));
  }
  assert_int_equal(b->fields[1]->n_shape, 3);
  assert_int_equal(b->fields[1]->shape[0], 3);
  assert_int_equal(b->fields[1]->element_type, TABLECAR__V1__TYPE_ID__TYPE_UINT8);
  ts_batch_msg_free(b);
  /* The cache holds the decompressed batches within its budget once unpinned. */
  ts_cache_stats st;
  ts_cache_get_stats(f->cache, &st);
  assert_true(st.bytes <= st.max_bytes);
  assert_true(st.misses > 0);
  free(cols);
  ts_table_unref(tab);
  fx_table_free(&t);
}

static void test_bad_selection_and_limits(void **state) {
  fx *f = *state;
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, 300, 100), 0);
  ts_table *tab = open_written(f, "lim.arrow", &t, (aw_options){.format = AW_FILE});
  size_t *cols, nc;
  ts_error err = {0};
  char *unknown[] = {"nope"};
  assert_int_equal(ts_select_columns(ts_table_schema(tab), unknown, 1, &cols, &nc, &err), TC_EINVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "nope"));
  char *twice[] = {"label", "label"};
  assert_int_equal(ts_select_columns(ts_table_schema(tab), twice, 2, &cols, &nc, &err), TC_EINVALID_ARGUMENT);
  assert_int_equal(ts_select_columns(ts_table_schema(tab), NULL, 0, &cols, &nc, &err), TC_OK);
  int64_t rows[300];
  for (int i = 0; i < 300; i++) rows[i] = 299 - i;
  Tablecar__V1__Batch *b = NULL;
  /* 300 rows x ~200 bytes do not fit 16 KiB. */
  assert_int_equal(ts_gather(tab, rows, 300, cols, nc, 16 << 10, &b, &err), TC_ERESOURCE_EXHAUSTED);
  assert_null(b);
  assert_non_null(strstr(err.msg, "max-message-bytes"));
  assert_int_equal(ts_gather(tab, rows, 300, cols, nc, 1 << 20, &b, &err), TC_OK);
  check_batch(&t, rows, 300, cols, nc, b);
  ts_batch_msg_free(b);
  free(cols);
  ts_table_unref(tab);
  fx_table_free(&t);
}

static void test_row_hashes(void **state) {
  fx *f = *state;
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, 200, 64), 0);
  ts_table *tab = open_written(f, "h.arrow", &t, (aw_options){.format = AW_STREAM});
  size_t label = 1, image = 0, caption = 2;
  uint64_t h[200];
  ts_error err = {0};
  assert_int_equal(ts_row_hashes(tab, &label, 1, h, &err), TC_OK);
  for (int i = 10; i < 200; i++) /* label = i % 10: equal labels, equal hashes */
    assert_true(h[i] == h[i % 10]);
  assert_true(h[1] != h[2]);
  assert_int_equal(ts_row_hashes(tab, &caption, 1, h, &err), TC_OK);
  assert_true(h[3] == h[10]); /* both null */
  assert_true(h[0] != h[1]);
  assert_int_equal(ts_row_hashes(tab, &image, 1, h, &err), TC_EINVALID_ARGUMENT);
  ts_table_unref(tab);
  fx_table_free(&t);
}

static void test_multi_fragment_table(void **state) {
  fx *f = *state;
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, 100, 30), 0);
  char path[512];
  snprintf(path, sizeof path, "%s/a.arrow", f->dir);
  aw_options opt = {.format = AW_FILE};
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  snprintf(path, sizeof path, "%s/b.arrow", f->dir);
  opt.codec = AW_LZ4;
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  char *files[] = {"a.arrow", "b.arrow"};
  ts_table *tab;
  ts_error err = {0};
  assert_int_equal(ts_table_open("two", f->dir, files, 2, f->cache, &tab, &err), TC_OK);
  assert_int_equal(ts_table_num_rows(tab), 200);
  assert_int_equal(ts_table_num_batches(tab), 8);
  int64_t rows[] = {199, 100, 99, 0, 150};
  size_t label = 1;
  Tablecar__V1__Batch *b;
  assert_int_equal(ts_gather(tab, rows, 5, &label, 1, 1 << 20, &b, &err), TC_OK);
  for (int k = 0; k < 5; k++)
    assert_int_equal(((int64_t *)(void *)b->columns[0]->values.data)[k], fx_example_label(rows[k] % 100));
  ts_batch_msg_free(b);
  char before[33], after[33];
  strcpy(before, ts_table_version(tab));
  ts_table_unref(tab);
  /* Changing a fragment changes the version. */
  usleep(10000);
  snprintf(path, sizeof path, "%s/b.arrow", f->dir);
  opt.codec = AW_NONE;
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  assert_int_equal(ts_table_files_version(f->dir, files, 2, after), 0);
  assert_string_not_equal(before, after);
  fx_table_free(&t);
}

static void test_schema_mismatch_and_corrupt(void **state) {
  fx *f = *state;
  fx_table ex, all;
  assert_int_equal(fx_example(&ex, FX_EXAMPLE_SHAPE, 10, 10), 0);
  assert_int_equal(fx_all_types(&all), 0);
  char path[512];
  aw_options opt = {.format = AW_FILE};
  snprintf(path, sizeof path, "%s/x1.arrow", f->dir);
  assert_int_equal(fx_table_write(path, &opt, &ex), 0);
  snprintf(path, sizeof path, "%s/x2.arrow", f->dir);
  assert_int_equal(fx_table_write(path, &opt, &all), 0);
  char *files[] = {"x1.arrow", "x2.arrow"};
  ts_table *tab;
  ts_error err = {0};
  assert_int_equal(ts_table_open("mixed", f->dir, files, 2, f->cache, &tab, &err), TC_EFAILED_PRECONDITION);
  assert_non_null(strstr(err.msg, "x2.arrow"));
  snprintf(path, sizeof path, "%s/junk.arrow", f->dir);
  FILE *j = fopen(path, "w");
  fputs("this is not an arrow file at all, not even close", j);
  fclose(j);
  char *junk[] = {"junk.arrow"};
  assert_int_equal(ts_table_open("junk", f->dir, junk, 1, f->cache, &tab, &err), TC_EDATA_LOSS);
  assert_non_null(strstr(err.msg, "junk.arrow"));
  fx_table_free(&ex);
  fx_table_free(&all);
}

/* A fixed-size list of size 0 whose child has no values (a consistent layout, and what writers produce for
 * e.g. an empty embedding) gathers as empty lists. It has no offsets: the release server died with SIGSEGV
 * at the first take(), reading them. With a null child of fixed width and one of variable width (the
 * per-element path), in every format. */
static fx_table fsl0_table(int64_t rows) {
  fx_table t = {0};
  fx_arena *a = t.arena = fx_arena_new();
  at_field *items = fx_alloc(a, 2 * sizeof *items), *cols = fx_alloc(a, 3 * sizeof *cols);
  items[0] = (at_field){.name = "item", .type = AT_INT32, .nullable = 1};
  items[1] = (at_field){.name = "item", .type = AT_UTF8, .nullable = 1};
  cols[0] = (at_field){.name = "id", .type = AT_INT64};
  cols[1] = (at_field){.name = "e", .type = AT_FIXED_SIZE_LIST, .nullable = 1, .n_children = 1, .children = &items[0]};
  cols[2] = (at_field){.name = "s", .type = AT_FIXED_SIZE_LIST, .nullable = 1, .n_children = 1, .children = &items[1]};
  t.schema = (at_schema){.n_fields = 3, .fields = cols};
  int64_t *ids = fx_alloc(a, (size_t)rows * 8);
  for (int64_t i = 0; i < rows; i++) ids[i] = i;
  uint8_t *valid = fx_alloc(a, 8), *zero_offsets = fx_alloc(a, 8);
  valid[0] = 0xFD; /* row 1 is null */
  at_array *arrs = fx_alloc(a, 3 * sizeof *arrs), *kids = fx_alloc(a, 2 * sizeof *kids);
  kids[0] = (at_array){.length = 0};
  kids[1] = (at_array){.length = 0, .offsets = zero_offsets};
  arrs[0] = (at_array){.length = rows, .values = (const uint8_t *)ids, .values_len = rows * 8};
  arrs[1] = (at_array){.length = rows, .n_children = 1, .children = &kids[0]};
  arrs[2] = (at_array){.length = rows, .null_count = 1, .validity = valid, .n_children = 1, .children = &kids[1]};
  int64_t *br = fx_alloc(a, sizeof *br);
  const at_array **bs = fx_alloc(a, sizeof *bs);
  *br = rows;
  *bs = arrs;
  t.n_batches = 1, t.batch_rows = br, t.batches = bs;
  return t;
}

static void test_fixed_size_list_of_size_zero(void **state) {
  fx *f = *state;
  fx_table t = fsl0_table(6);
  for (int format = AW_FILE; format <= AW_STREAM; format++) {
    for (int codec = AW_NONE; codec <= AW_ZSTD; codec++) {
      char name[32];
      snprintf(name, sizeof name, "fsl0-%d-%d.arrow", format, codec);
      ts_table *tab = open_written(f, name, &t, (aw_options){.format = format, .codec = codec});
      int64_t rows[] = {5, 0, 1, 3, 3};
      size_t *cols, nc;
      ts_error err = {0};
      assert_int_equal(ts_select_columns(ts_table_schema(tab), NULL, 0, &cols, &nc, &err), TC_OK);
      Tablecar__V1__Batch *b;
      if (ts_gather(tab, rows, 5, cols, nc, 1 << 20, &b, &err) != TC_OK) fail_msg("%s: gather: %s", name, err.msg);
      check_batch(&t, rows, 5, cols, nc, b);
      for (size_t c = 1; c < 3; c++) {
        assert_int_equal(b->columns[c]->n_children, 1);
        assert_int_equal(b->columns[c]->children[0]->length, 0);
      }
      assert_int_equal(b->columns[2]->null_count, 1);
      ts_batch_msg_free(b);
      free(cols);
      ts_table_unref(tab);
    }
  }
  fx_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_all_types_uncompressed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_types_lz4_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_types_zstd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_example_rows_and_selection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_selection_and_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_row_hashes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_multi_fragment_table, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_mismatch_and_corrupt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixed_size_list_of_size_zero, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
