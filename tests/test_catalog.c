/* Unit tests for server/catalog.c: how files and directories become named tables, broken files, changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "call_deadline.h"
#include "catalog.h"
#include "hf.h"
#include "fixtures.h"

typedef struct fx {
  char dir[256];
  ts_cache *cache;
  ts_catalog *cat;
} fx;

static void write_example(const char *dir, const char *rel, int64_t rows) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, rows, 50), 0);
  /* Write aside and rename, as every Arrow writer does. */
  char tmp[520];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  aw_options opt = {.format = AW_FILE};
  assert_int_equal(fx_table_write(tmp, &opt, &t), 0);
  assert_int_equal(rename(tmp, path), 0);
  fx_table_free(&t);
}

static void mkdirs(const char *dir, const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/catalogXXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  f->cache = ts_cache_new(1 << 20);
  f->cat = ts_catalog_new(f->dir, f->cache);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  ts_catalog_free(f->cat);
  ts_cache_free(f->cache);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  int rc = system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static ts_status get(fx *f, const char *name, int64_t *rows, ts_error *err) {
  ts_table *t;
  ts_status st = ts_catalog_get(f->cat, name, &t, err);
  if (st == TC_OK) {
    *rows = ts_table_num_rows(t);
    ts_table_unref(t);
  }
  return st;
}

static void test_layout_to_names(void **state) {
  fx *f = *state;
  write_example(f->dir, "a.arrow", 10);
  write_example(f->dir, "b.feather", 11);
  write_example(f->dir, "c.ipc", 12);
  mkdirs(f->dir, "frags");
  write_example(f->dir, "frags/part-0.arrow", 5);
  write_example(f->dir, "frags/part-1.arrow", 6);
  mkdirs(f->dir, "squad");
  mkdirs(f->dir, "squad/train");
  mkdirs(f->dir, "squad/test");
  write_example(f->dir, "squad/train/data-00000-of-00001.arrow", 7);
  write_example(f->dir, "squad/test/data-00000-of-00001.arrow", 3);
  write_example(f->dir, ".hidden.arrow", 1);
  FILE *j = fopen("/dev/null", "r");
  fclose(j);
  ts_catalog_refresh(f->cat);
  ts_table **v;
  size_t n;
  ts_error err = {0};
  assert_int_equal(ts_catalog_list(f->cat, &v, &n, &err), TC_OK);
  const char *want[] = {"a", "b", "c", "frags", "squad/test", "squad/train"};
  const int64_t rows[] = {10, 11, 12, 11, 3, 7};
  assert_int_equal(n, 6);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(ts_table_name(v[i]), want[i]);
    assert_int_equal(ts_table_num_rows(v[i]), rows[i]);
  }
  assert_string_equal(ts_table_file(v[3], 0), "frags/part-0.arrow");
  assert_string_equal(ts_table_file(v[3], 1), "frags/part-1.arrow");
  ts_catalog_list_free(v, n);
  int64_t r;
  assert_int_equal(get(f, ".hidden", &r, &err), TC_EINVALID_ARGUMENT);
  assert_int_equal(get(f, "squad", &r, &err), TC_ENOT_FOUND);
  assert_int_equal(get(f, "../catalog", &r, &err), TC_EINVALID_ARGUMENT);
  assert_int_equal(get(f, "squad/../a", &r, &err), TC_EINVALID_ARGUMENT);
}

static void test_broken_file_others_serve(void **state) {
  fx *f = *state;
  write_example(f->dir, "good.arrow", 20);
  char path[512];
  snprintf(path, sizeof path, "%s/bad.arrow", f->dir);
  FILE *j = fopen(path, "w");
  fputs("ARROW1\0\0garbage garbage garbage", j);
  fclose(j);
  write_example(f->dir, "trunc.arrow", 100);
  snprintf(path, sizeof path, "%s/trunc.arrow", f->dir);
  struct stat st;
  stat(path, &st);
  assert_int_equal(truncate(path, st.st_size / 2), 0);
  ts_catalog_refresh(f->cat);
  int64_t r;
  ts_error err = {0};
  assert_int_equal(get(f, "good", &r, &err), TC_OK);
  assert_int_equal(r, 20);
  assert_int_equal(get(f, "bad", &r, &err), TC_EDATA_LOSS);
  assert_non_null(strstr(err.msg, "bad.arrow"));
  assert_int_equal(get(f, "trunc", &r, &err), TC_EDATA_LOSS);
  assert_non_null(strstr(err.msg, "trunc.arrow"));
  ts_table **v;
  size_t n;
  assert_int_equal(ts_catalog_list(f->cat, &v, &n, &err), TC_OK);
  assert_int_equal(n, 1); /* only the good one is listed */
  ts_catalog_list_free(v, n);
}

static void test_changes_are_seen(void **state) {
  fx *f = *state;
  write_example(f->dir, "t.arrow", 10);
  ts_catalog_refresh(f->cat);
  ts_table *old;
  ts_error err = {0};
  assert_int_equal(ts_catalog_get(f->cat, "t", &old, &err), TC_OK);
  usleep(10000);
  write_example(f->dir, "t.arrow", 30);
  write_example(f->dir, "new.arrow", 5);
  ts_catalog_refresh(f->cat);
  ts_table *now;
  assert_int_equal(ts_catalog_get(f->cat, "t", &now, &err), TC_OK);
  assert_int_equal(ts_table_num_rows(now), 30);
  assert_string_not_equal(ts_table_version(now), ts_table_version(old));
  /* A call holding the old table still reads it: it never sees a mix of versions. */
  assert_int_equal(ts_table_num_rows(old), 10);
  ts_table_unref(old);
  ts_table_unref(now);
  int64_t r;
  assert_int_equal(get(f, "new", &r, &err), TC_OK);
  char path[512];
  snprintf(path, sizeof path, "%s/new.arrow", f->dir);
  unlink(path);
  ts_catalog_refresh(f->cat);
  assert_int_equal(get(f, "new", &r, &err), TC_ENOT_FOUND);
}

static void test_unchanged_refresh_keeps_table(void **state) {
  fx *f = *state;
  write_example(f->dir, "same.arrow", 10);
  ts_catalog_refresh(f->cat);
  ts_table *a, *b;
  ts_error err = {0};
  assert_int_equal(ts_catalog_get(f->cat, "same", &a, &err), TC_OK);
  ts_catalog_refresh(f->cat);
  assert_int_equal(ts_catalog_get(f->cat, "same", &b, &err), TC_OK);
  assert_ptr_equal(a, b); /* not reopened */
  ts_table_unref(a);
  ts_table_unref(b);
}

static void write_text(const char *dir, const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void expect_table(fx *f, const char *name, int64_t rows, const char *first_file) {
  ts_table *t;
  ts_error err = {0};
  if (ts_catalog_get(f->cat, name, &t, &err) != TC_OK) fail_msg("table %s: %s", name, err.msg);
  assert_int_equal(ts_table_num_rows(t), rows);
  assert_string_equal(ts_table_file(t, 0), first_file);
  ts_table_unref(t);
}

static void test_hugging_face_layouts(void **state) {
  fx *f = *state;
  /* A DatasetDict saved with save_to_disk; state.json's order wins over file-name order. */
  mkdirs(f->dir, "squad");
  mkdirs(f->dir, "squad/train");
  mkdirs(f->dir, "squad/test");
  write_text(f->dir, "squad/dataset_dict.json", "{\"splits\": [\"train\", \"test\"]}");
  write_example(f->dir, "squad/train/data-00000-of-00002.arrow", 7);
  write_example(f->dir, "squad/train/data-00001-of-00002.arrow", 4);
  write_text(f->dir, "squad/train/state.json",
             "{\n  \"_data_files\": [\n    {\n      \"filename\": \"data-00001-of-00002.arrow\"\n    },\n"
             "    {\n      \"filename\": \"data-00000-of-00002.arrow\"\n    }\n  ],\n"
             "  \"_fingerprint\": \"abc\",\n  \"_split\": \"train\"\n}");
  write_text(f->dir, "squad/train/dataset_info.json", "{\"builder_name\": \"squad\"}");
  write_example(f->dir, "squad/test/data-00000-of-00001.arrow", 3);
  write_text(f->dir, "squad/test/state.json", "{\"_data_files\": [{\"filename\": \"data-00000-of-00001.arrow\"}]}");
  /* The datasets cache: one folder, one table per split. */
  mkdirs(f->dir, "cache");
  mkdirs(f->dir, "cache/plain_text");
  write_text(f->dir, "cache/plain_text/dataset_info.json", "{\"builder_name\": \"my-set\", \"splits\": {}}");
  write_example(f->dir, "cache/plain_text/my-set-train-00000-of-00002.arrow", 5);
  write_example(f->dir, "cache/plain_text/my-set-train-00001-of-00002.arrow", 6);
  write_example(f->dir, "cache/plain_text/my-set-validation.arrow", 2);
  ts_catalog_refresh(f->cat);
  expect_table(f, "squad/train", 11, "squad/train/data-00001-of-00002.arrow");
  expect_table(f, "squad/test", 3, "squad/test/data-00000-of-00001.arrow");
  expect_table(f, "cache/plain_text/train", 11, "cache/plain_text/my-set-train-00000-of-00002.arrow");
  expect_table(f, "cache/plain_text/validation", 2, "cache/plain_text/my-set-validation.arrow");
  ts_table **v;
  size_t n;
  ts_error err = {0};
  assert_int_equal(ts_catalog_list(f->cat, &v, &n, &err), TC_OK);
  assert_int_equal(n, 4); /* the JSON files are not tables */
  ts_catalog_list_free(v, n);
}

static void test_state_json_cannot_escape(void **state) {
  fx *f = *state;
  write_example(f->dir, "secret.arrow", 9);
  mkdirs(f->dir, "ds");
  write_example(f->dir, "ds/data-00000-of-00001.arrow", 4);
  write_text(f->dir, "ds/state.json", "{\"_data_files\": [{\"filename\": \"../secret.arrow\"}]}");
  ts_catalog_refresh(f->cat);
  expect_table(f, "ds", 4, "ds/data-00000-of-00001.arrow"); /* the folder's own files, not ../ */
}

/* A \u escape cut short by the end of the text is malformed: the scanner used to step over the terminator
 * (here onto bytes placed after it, which it returned as part of the name; in a file, past the data read). */
static void test_json_escape_at_end(void **state) {
  static const char text[] = "{\"filename\": \"a\\u1\0"
                             "23z\"}";
  char *copy = malloc(sizeof text);
  memcpy(copy, text, sizeof text);
  char **v = NULL;
  int n = ts_json_strings(copy, "filename", &v);
  assert_int_equal(n, 0);
  free(v);
  assert_int_equal(ts_json_strings("{\"filename\": \"caf\\u00e9.arrow\"}", "filename", &v), 1);
  assert_string_equal(v[0], "caf\xc3\xa9.arrow");
  free(v[0]);
  free(v);
  free(copy);
}

/* A sync step (a remote data dir's listing) that waits until the test lets it go. */
typedef struct gate {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int entered, open;
} gate;

static ts_status slow_sync(void *arg, ts_error *err) {
  gate *g = arg;
  (void)err;
  pthread_mutex_lock(&g->lock);
  g->entered = 1;
  pthread_cond_broadcast(&g->cond);
  while (!g->open) pthread_cond_wait(&g->cond, &g->lock);
  pthread_mutex_unlock(&g->lock);
  return TC_OK;
}

static void *refresher(void *arg) {
  (void)ts_catalog_refresh(arg);
  return NULL;
}

/* A thread serving a call waits for a rescan under way only until the call's deadline; one serving none
 * (a rescan timer) waits for it to end. */
static void test_refresh_wait_ends_at_the_call_deadline(void **state) {
  fx *f = *state;
  gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  ts_catalog_set_sync(f->cat, slow_sync, &g);
  pthread_t bg;
  assert_int_equal(pthread_create(&bg, NULL, refresher, f->cat), 0);
  pthread_mutex_lock(&g.lock);
  while (!g.entered) pthread_cond_wait(&g.cond, &g.lock);
  pthread_mutex_unlock(&g.lock);
  ts_call_deadline_set(ts_mono_ms() + 50); /* the rescan is held until we open the gate: it cannot end */
  assert_int_equal(ts_catalog_refresh(f->cat), -1);
  ts_call_deadline_set(ts_mono_ms() - 1); /* passed already: not even a wait */
  assert_int_equal(ts_catalog_refresh(f->cat), -1);
  ts_call_deadline_set(0);
  pthread_mutex_lock(&g.lock);
  g.open = 1;
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
  assert_int_equal(ts_catalog_refresh(f->cat), 0); /* no call: waits for the one under way */
  pthread_join(bg, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_layout_to_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_broken_file_others_serve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_changes_are_seen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unchanged_refresh_keeps_table, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hugging_face_layouts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_json_cannot_escape, setup, teardown),
      cmocka_unit_test(test_json_escape_at_end),
      cmocka_unit_test_setup_teardown(test_refresh_wait_ends_at_the_call_deadline, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
