/* Unit tests for server/remote_blob.c's budget: the open blobs' fetched chunks are trimmed least recently
 * used first, never one a read leases; the log, reloaded by a fresh ts_rblobs over the same dir, no longer
 * lists what was dropped, and dropped bytes are fetched again when read again.
 *
 * The store is a link seam: this file defines ts_s3_get_parts (so s3.c is not linked), copying the asked
 * bytes from the original file (the part's key is its path) and counting the GETs. The real store is
 * exercised end to end by tests/e2e/remote.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrow_testutil.h"
#include "fixtures.h"
#include "remote_blob.h"

static pthread_mutex_t gets_lock = PTHREAD_MUTEX_INITIALIZER; /* parts are fetched by several threads */
static int gets;
static int64_t got_bytes;

ts_status ts_s3_get_parts(ts_s3 *s, ts_s3_part *parts, size_t n, int max_inflight, int64_t timeout_ms) {
  (void)s, (void)max_inflight, (void)timeout_ms;
  for (size_t i = 0; i < n; i++) {
    int fd = open(parts[i].key, O_RDONLY);
    assert_true(fd >= 0);
    uint8_t *buf = malloc((size_t)parts[i].len);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)parts[i].len, parts[i].start), parts[i].len);
    assert_int_equal(pwrite(parts[i].fd, buf, (size_t)parts[i].len, parts[i].start), parts[i].len);
    free(buf);
    close(fd);
    parts[i].status = TC_OK;
    pthread_mutex_lock(&gets_lock);
    gets++;
    got_bytes += parts[i].len;
    pthread_mutex_unlock(&gets_lock);
  }
  return TC_OK;
}

static char dir[PATH_MAX], blobs[PATH_MAX + 8], orig[PATH_MAX + 16], blob[PATH_MAX + 64];
static const char *name = "0123456789abcdef0123456789abcdef";

static int setup(void **state) {
  char tmpl[] = "/tmp/tc-rblobXXXXXX";
  if (!mkdtemp(tmpl) || !realpath(tmpl, dir)) return -1;
  snprintf(blobs, sizeof blobs, "%s/blobs", dir);
  snprintf(orig, sizeof orig, "%s/orig.arrow", dir);
  snprintf(blob, sizeof blob, "%s/%s", blobs, name);
  fx_table t;
  aw_options opt = {.format = AW_FILE};
  if (mkdir(blobs, 0700) != 0 || fx_example(&t, FX_EXAMPLE_SHAPE, 4000, 200) != 0 ||
      fx_table_write(orig, &opt, &t) != 0)
    return -1;
  fx_arena_free(t.arena);
  struct stat st;
  if (stat(orig, &st) != 0) return -1;
  return ts_rblob_create(blobs, name, orig, "etag-1", st.st_size);
}

static int teardown(void **state) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Reads batch I of F (a view: it leases its body until freed) and checks it against WHOLE; the GETs it
 * took. Keeps the batch in *KEEP when KEEP is given. */
static int n_gets(void) {
  pthread_mutex_lock(&gets_lock);
  int n = gets;
  pthread_mutex_unlock(&gets_lock);
  return n;
}

static int read_batch(at_file *f, at_file *whole, int i, at_batch **keep) {
  char err[256];
  int before = n_gets();
  at_batch *a, *b;
  if (at_file_read_batch(f, i, &b, err, sizeof err) != 0) fail_msg("batch %d: %s", i, err);
  assert_int_equal(at_file_read_batch(whole, i, &a, err, sizeof err), 0);
  assert_int_equal(walk_batch(at_file_schema(f), b), walk_batch(at_file_schema(whole), a));
  at_batch_free(a);
  if (keep)
    *keep = b;
  else
    at_batch_free(b);
  return n_gets() - before;
}

/* A fresh set of open blobs over the cache dir, and the test file opened over its blob into *F. */
static ts_rblobs *open_blob(at_file **f) {
  char err[256];
  ts_rblobs *bs = ts_rblobs_new(NULL, "bkt", blobs, 60000);
  assert_non_null(bs);
  if (ts_rblobs_open(bs, blob, f, err, sizeof err) != 0) fail_msg("%s", err);
  return bs;
}

static void test_trim(void **state) {
  char err[256];
  at_file *whole, *f;
  assert_int_equal(at_file_open(orig, &whole, err, sizeof err), 0);
  ts_rblobs *bs = open_blob(&f);
  int n = at_file_num_batches(f);
  assert_true(n >= 10);
  struct stat st;
  assert_int_equal(stat(orig, &st), 0);
  /* The last batch whose body opening did not fetch (it reads the last 64 KiB): read last, the MRU. */
  int last = n - 1;
  for (at_range r; at_file_batch_range(f, last, &r) == 0 && r.off + r.len > st.st_size - 65536;) last--;
  assert_true(last > 5);
  at_batch *kept;
  assert_true(read_batch(f, whole, 0, &kept) > 0); /* batch 0 stays leased */
  for (int i = 1; i < n; i++)
    if (i != last) read_batch(f, whole, i, NULL);
  assert_true(read_batch(f, whole, last, NULL) > 0);
  int64_t held = ts_rblobs_held_bytes(bs);
  assert_true(held > 0 && held <= st.st_size);

  /* Just over the budget: trimmed to 7/8 of it, the least recently used unleased bodies first (1, 2, ...). */
  ts_rblobs_set_budget(bs, held - 1);
  ts_rblobs_trim(bs);
  int64_t after = ts_rblobs_held_bytes(bs);
  assert_true(after <= (held - 1) - (held - 1) / 8);
  assert_int_equal((int64_t)ts_rblobs_evicted_bytes(bs), held - after);
  at_range body;
  assert_int_equal(at_file_batch_range(f, 1, &body), 0);
  uint8_t *zeros = calloc(1, (size_t)body.len), *disk = malloc((size_t)body.len);
  int fd = open(blob, O_RDONLY);
  assert_int_equal(pread(fd, disk, (size_t)body.len, body.off), body.len);
  close(fd);
  assert_memory_equal(disk, zeros, (size_t)body.len); /* punched out */
  free(zeros);
  free(disk);
  assert_int_equal(read_batch(f, whole, last, NULL), 0); /* the most recently used stayed */
  char a[64], b[64];
  snprintf(a, sizeof a, "%llu", (unsigned long long)walk_batch(at_file_schema(f), kept));
  assert_int_equal(read_batch(f, whole, 0, NULL), 0); /* leased: never dropped, and still right */
  snprintf(b, sizeof b, "%llu", (unsigned long long)walk_batch(at_file_schema(f), kept));
  assert_string_equal(a, b);
  at_batch_free(kept);
  at_file_close(f);
  ts_rblobs_free(bs);

  /* A fresh ts_rblobs over the same dir: the log lists what is left, not what was dropped. */
  bs = open_blob(&f);
  assert_int_equal(ts_rblobs_held_bytes(bs), after);
  assert_int_equal(read_batch(f, whole, last, NULL), 0);
  assert_int_equal(read_batch(f, whole, 0, NULL), 0);
  int64_t bytes = got_bytes;
  assert_true(read_batch(f, whole, 1, NULL) > 0); /* dropped: fetched again */
  assert_int_equal(got_bytes - bytes, body.len);
  at_file_close(f);
  ts_rblobs_free(bs);
  at_file_close(whole);
}

/* Under a budget smaller than one body, a whole pass stays within budget + one body + the metadata held
 * by the open file, and every batch is right. */
static void test_budget_pass(void **state) {
  char err[256];
  at_file *whole, *f;
  assert_int_equal(at_file_open(orig, &whole, err, sizeof err), 0);
  ts_rblobs *bs = open_blob(&f);
  int n = at_file_num_batches(f);
  at_range body;
  assert_int_equal(at_file_batch_range(f, 0, &body), 0);
  int64_t meta = ts_rblobs_held_bytes(bs); /* what was fetched and the open file holds, at least */
  ts_rblobs_set_budget(bs, 1);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n; i++) {
      read_batch(f, whole, i, NULL);
      assert_true(ts_rblobs_held_bytes(bs) <= meta + 2 * body.len);
    }
  assert_true(ts_rblobs_evicted_bytes(bs) > 0);
  at_file_close(f);
  ts_rblobs_free(bs);
  at_file_close(whole);
}

/* Threads reading random batches, holding each a while, under a budget of about two bodies: every fetch
 * trims what the others are not reading, and every batch read is right (a dropped byte under a live batch
 * would read as zero). */
typedef struct reader {
  at_file *f, *whole;
  uint64_t seed;
  int bad; /* reads that failed or differed (cmocka asserts only on the test's thread) */
} reader;

/* Reads batch I of R->f into *OUT, checked against R->whole: 0, or 1 counted in R->bad. */
static int read_checked(reader *r, int i, at_batch **out) {
  char err[256];
  at_batch *a;
  *out = NULL;
  if (at_file_read_batch(r->f, i, out, err, sizeof err) != 0) return r->bad++, 1;
  if (at_file_read_batch(r->whole, i, &a, err, sizeof err) != 0) return r->bad++, 1;
  int same = walk_batch(at_file_schema(r->f), *out) == walk_batch(at_file_schema(r->whole), a);
  at_batch_free(a);
  return same ? 0 : (r->bad++, 1);
}

static void *read_random(void *arg) {
  reader *r = arg;
  int n = at_file_num_batches(r->f);
  for (int k = 0; k < 150; k++) {
    r->seed = r->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    at_batch *held, *other;
    int i = (int)((r->seed >> 33) % (uint64_t)n), j = (int)((r->seed >> 13) % (uint64_t)n);
    read_checked(r, i, &held);
    read_checked(r, j, &other); /* fetches, and trims, while one is held */
    at_batch_free(other);
    at_batch *again = NULL;
    if (held && read_checked(r, i, &again) == 0 &&
        walk_batch(at_file_schema(r->f), held) != walk_batch(at_file_schema(r->f), again))
      r->bad++; /* the held batch changed under it */
    at_batch_free(again);
    at_batch_free(held);
  }
  return NULL;
}

static void test_threads(void **state) {
  char err[256];
  at_file *whole, *f;
  assert_int_equal(at_file_open(orig, &whole, err, sizeof err), 0);
  ts_rblobs *bs = open_blob(&f);
  at_range body;
  assert_int_equal(at_file_batch_range(f, 0, &body), 0);
  ts_rblobs_set_budget(bs, ts_rblobs_held_bytes(bs) + 2 * body.len);
  enum { T = 4 };
  pthread_t th[T];
  reader rs[T];
  for (int i = 0; i < T; i++) {
    rs[i] = (reader){f, whole, (uint64_t)i * 7919 + 1, 0};
    assert_int_equal(pthread_create(&th[i], NULL, read_random, &rs[i]), 0);
  }
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(rs[i].bad, 0);
  }
  assert_true(ts_rblobs_evicted_bytes(bs) > 0);
  at_file_close(f);
  ts_rblobs_free(bs);
  at_file_close(whole);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trim),
      cmocka_unit_test(test_budget_pass),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
