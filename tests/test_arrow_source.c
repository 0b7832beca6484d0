/* Unit tests for the Arrow reader's byte-source seam (arrow_file.h's at_source, server/arrow/ipc.c): a file
 * whose bytes are copied into a sparse file only when the reader asks for them. Opening asks for the footer
 * and metadata only, reading a batch for exactly its body, the values are those of the same file mapped
 * whole, and a source's failure comes back as its status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow_testutil.h"
#include "fixtures.h"

/* A source over ORIG: needs copy the asked bytes into the sparse file, or fail with TC_EUNAVAILABLE once
 * `fail` is set; every range asked for is recorded. */
typedef struct fake {
  const uint8_t *orig;
  size_t size;
  int fd; /* the sparse copy */
  int fail, releases;
  size_t n_asked;
  at_range asked[4096];
  int64_t bytes;
  size_t n_done; /* leases ended (at_source.done), the last one's range */
  at_range last_done;
} fake;

static int fake_need(void *arg, const at_range *r, size_t n, char *err, size_t errlen) {
  fake *f = arg;
  if (f->fail) {
    snprintf(err, errlen, "s3://bkt/key: the store is unreachable");
    return TC_EUNAVAILABLE;
  }
  for (size_t i = 0; i < n; i++) {
    assert_true(r[i].off >= 0 && r[i].len >= 0 && (size_t)(r[i].off + r[i].len) <= f->size);
    assert_int_equal(pwrite(f->fd, f->orig + r[i].off, (size_t)r[i].len, r[i].off), r[i].len);
    if (f->n_asked < sizeof f->asked / sizeof *f->asked) f->asked[f->n_asked++] = r[i];
    f->bytes += r[i].len;
  }
  return 0;
}

static void fake_release(void *arg) { ((fake *)arg)->releases++; }

static void fake_done(void *arg, const at_range *r, size_t n) {
  fake *f = arg;
  assert_int_equal(n, 1);
  f->n_done++;
  f->last_done = r[0];
}

static char dir[64];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/tc-srcXXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Writes the example table (ROWS rows in batches of 200) as OPT says; its bytes in *orig, a sparse copy of
 * the same size at *copy_path, opened as F's file. */
static void prepare(const char *name, aw_options opt, int64_t rows, fake *f, char *path, char *copy) {
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, rows, 200), 0);
  snprintf(path, 256, "%s/%s", dir, name);
  snprintf(copy, 256, "%s/%s.sparse", dir, name);
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  fx_arena_free(t.arena);
  memset(f, 0, sizeof *f);
  f->orig = slurp(path, &f->size);
  assert_non_null(f->orig);
  f->fd = open(copy, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(f->fd >= 0);
  assert_int_equal(ftruncate(f->fd, (off_t)f->size), 0);
}

static void finish(fake *f) {
  close(f->fd);
  free((void *)f->orig);
}

/* Every batch read through the source equals the one of the file mapped whole; reading batch I asks for
 * exactly its body (when STRICT), and nothing the second time. */
static void compare_batches(at_file *whole, at_file *src, fake *f, int strict) {
  assert_int_equal(at_file_num_batches(src), at_file_num_batches(whole));
  assert_int_equal(at_file_num_rows(src), at_file_num_rows(whole));
  assert_true(at_schema_equal(at_file_schema(src), at_file_schema(whole)));
  char err[256];
  for (int i = at_file_num_batches(src) - 1; i >= 0; i--) {
    size_t before = f->n_asked;
    at_batch *a, *b;
    assert_int_equal(at_file_read_batch(whole, i, &a, err, sizeof err), 0);
    if (at_file_read_batch(src, i, &b, err, sizeof err) != 0) fail_msg("batch %d: %s", i, err);
    assert_int_equal(walk_batch(at_file_schema(src), b), walk_batch(at_file_schema(whole), a));
    at_range body;
    assert_int_equal(at_file_batch_range(src, i, &body), 0);
    assert_int_equal(f->n_asked, before + 1);
    if (strict) {
      assert_int_equal(f->asked[before].off, body.off);
      assert_int_equal(f->asked[before].len, body.len);
    }
    at_batch_free(a);
    at_batch_free(b);
  }
}

static void check_format(const char *name, aw_options opt, int strict) {
  fake f;
  char path[256], copy[256], err[256];
  prepare(name, opt, 4000, &f, path, copy);
  at_file *whole, *src;
  if (at_file_open(path, &whole, err, sizeof err) != 0) fail_msg("%s", err);
  assert_null(at_file_source(whole));
  at_source s = {.need = fake_need, .release = fake_release, .arg = &f};
  if (at_file_open_source(copy, &s, &src, err, sizeof err) != 0) fail_msg("%s", err);
  assert_non_null(at_file_source(src));
  if (strict) { /* file format: the last 64 KiB (the footer), the blocks' metadata; no batch body */
    int64_t most = 65536 + 2048 * at_file_num_batches(src);
    if (f.bytes > most || (f.size > 4 * (size_t)most && f.bytes > (int64_t)f.size / 4))
      fail_msg("open asked for %lld of %zu bytes", (long long)f.bytes, f.size);
  }
  compare_batches(whole, src, &f, strict);
  at_file_close(src);
  at_file_close(whole);
  assert_int_equal(f.releases, 1);
  finish(&f);
}

static void test_file_format(void **state) { check_format("f.arrow", (aw_options){.format = AW_FILE}, 1); }
static void test_file_zstd(void **state) {
  check_format("z.arrow", (aw_options){.format = AW_FILE, .codec = AW_ZSTD}, 1);
}
static void test_stream_format(void **state) { check_format("s.arrow", (aw_options){.format = AW_STREAM}, 0); }

/* A source that fails: at open, the open fails with its status; later, the read of a batch does. The
 * source is released once either way. */
static void test_source_fails(void **state) {
  fake f;
  char path[256], copy[256], err[256];
  prepare("x.arrow", (aw_options){.format = AW_FILE}, 1000, &f, path, copy);
  at_source s = {.need = fake_need, .release = fake_release, .arg = &f};
  at_file *src;
  f.fail = 1;
  assert_int_equal(at_file_open_source(copy, &s, &src, err, sizeof err), TC_EUNAVAILABLE);
  assert_null(src);
  assert_non_null(strstr(err, "unreachable"));
  assert_int_equal(f.releases, 1);
  f.fail = 0;
  if (at_file_open_source(copy, &s, &src, err, sizeof err) != 0) fail_msg("%s", err);
  f.fail = 1;
  at_batch *b = NULL;
  assert_int_equal(at_file_read_batch(src, 0, &b, err, sizeof err), TC_EUNAVAILABLE);
  assert_null(b);
  f.fail = 0;
  assert_int_equal(at_file_read_batch(src, 0, &b, err, sizeof err), 0);
  at_batch_free(b);
  at_file_close(src);
  assert_int_equal(f.releases, 2);
  finish(&f);
}

/* The lease of a batch body: a view keeps it until at_batch_free, a decoded batch ends it before it is
 * returned and keeps no pointer into the body, whose bytes the source may then drop (here: zeroed). */
static void check_leases(const char *name, aw_options opt, int owned) {
  fake f;
  char path[256], copy[256], err[256];
  prepare(name, opt, 2000, &f, path, copy);
  at_file *whole, *src;
  if (at_file_open(path, &whole, err, sizeof err) != 0) fail_msg("%s", err);
  at_source s = {.need = fake_need, .release = fake_release, .done = fake_done, .arg = &f};
  if (at_file_open_source(copy, &s, &src, err, sizeof err) != 0) fail_msg("%s", err);
  assert_int_equal(f.n_done, 0); /* what opening read is held while the file is open */
  for (int i = 0; i < at_file_num_batches(src); i++) {
    at_batch *a, *b;
    at_range body;
    assert_int_equal(at_file_batch_range(src, i, &body), 0);
    assert_int_equal(at_file_batch_is_owned(src, i), owned);
    assert_int_equal(at_file_read_batch(whole, i, &a, err, sizeof err), 0);
    if (at_file_read_batch(src, i, &b, err, sizeof err) != 0) fail_msg("batch %d: %s", i, err);
    assert_int_equal(f.n_done, (size_t)i + (size_t)owned);
    if (owned) { /* dropped: nothing of it may be read any more */
      assert_int_equal(f.last_done.off, body.off);
      assert_int_equal(f.last_done.len, body.len);
      uint8_t *zeros = calloc(1, (size_t)body.len + 1);
      assert_int_equal(pwrite(f.fd, zeros, (size_t)body.len, body.off), body.len);
      free(zeros);
    }
    assert_int_equal(walk_batch(at_file_schema(src), b), walk_batch(at_file_schema(whole), a));
    at_batch_free(b);
    at_batch_free(a);
    assert_int_equal(f.n_done, (size_t)i + 1);
    assert_int_equal(f.last_done.off, body.off);
    assert_int_equal(f.last_done.len, body.len);
  }
  f.fail = 1; /* a failed need is not leased: no done */
  at_batch *b = NULL;
  size_t before = f.n_done;
  assert_int_equal(at_file_read_batch(src, 0, &b, err, sizeof err), TC_EUNAVAILABLE);
  assert_int_equal(f.n_done, before);
  at_file_close(src);
  at_file_close(whole);
  finish(&f);
}

static void test_leases_view(void **state) { check_leases("lv.arrow", (aw_options){.format = AW_FILE}, 0); }
/* ZSTD with every buffer stored uncompressed (length prefix -1): decoded batches whose buffers would point
 * into the body unless copied. */
static void test_leases_owned(void **state) {
  check_leases("lo.arrow", (aw_options){.format = AW_FILE, .codec = AW_ZSTD, .min_compress_bytes = 1 << 30}, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_format),  cmocka_unit_test(test_file_zstd),   cmocka_unit_test(test_stream_format),
      cmocka_unit_test(test_source_fails), cmocka_unit_test(test_leases_view), cmocka_unit_test(test_leases_owned),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
