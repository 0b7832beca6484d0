/* Unit tests for server/handlers.c and server/perms.c: request validation and permutations end to end
 * without the transport, including a restart (a new registry over the same --state-dir). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "handlers.h"

typedef struct fx {
  char dir[256], data[300], state[300];
  size_t perm_budget; /* 0: plenty */
  ts_cache *cache;
  ts_catalog *cat;
  ts_perms *perms;
  ts_ctx ctx;
} fx;

static void write_example(fx *f, const char *name, int64_t rows) {
  char path[600], tmp[610];
  snprintf(path, sizeof path, "%s/%s", f->data, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fx_table t;
  assert_int_equal(fx_example(&t, FX_EXAMPLE_SHAPE, rows, 64), 0);
  aw_options opt = {.format = AW_FILE, .codec = AW_LZ4};
  assert_int_equal(fx_table_write(tmp, &opt, &t), 0);
  assert_int_equal(rename(tmp, path), 0);
  fx_table_free(&t);
}

static void start(fx *f) {
  f->cat = ts_catalog_new(f->data, f->cache);
  f->perms = ts_perms_new(f->state, f->cat, f->perm_budget ? f->perm_budget : (size_t)1 << 30);
  ts_catalog_refresh(f->cat);
  f->ctx = (ts_ctx){.catalog = f->cat, .perms = f->perms, .max_message_bytes = 1 << 20};
}

static void stop(fx *f) {
  ts_perms_free(f->perms);
  ts_catalog_free(f->cat);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/handlersXXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->data, sizeof f->data, "%s/data", f->dir);
  snprintf(f->state, sizeof f->state, "%s/state", f->dir);
  mkdir(f->data, 0755);
  mkdir(f->state, 0755);
  f->cache = ts_cache_new(8 << 20);
  write_example(f, "ex.arrow", 1000);
  start(f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  stop(f);
  ts_cache_free(f->cache);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  int rc = system(cmd);
  free(f);
  return rc == 0 ? 0 : -1;
}

static Tablecar__V1__PermutationInfo *create(fx *f, Tablecar__V1__CreatePermutationRequest *r, ts_status want) {
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  ts_status st = ts_h_create_permutation(&f->ctx, &r->base, &out, &err);
  if (st != want) fail_msg("create: status %d (%s), wanted %d", st, err.msg, want);
  if (st != TC_OK) assert_true(err.msg[0] != '\0');
  return (Tablecar__V1__PermutationInfo *)out;
}

static Tablecar__V1__Batch *read_batch(fx *f, const char *id, const char *split, int64_t off, int64_t n,
                                       ts_status want) {
  Tablecar__V1__ReadBatchRequest r = TABLECAR__V1__READ_BATCH_REQUEST__INIT;
  r.permutation = (char *)id;
  r.split = (char *)split;
  r.offset = off;
  r.batch_size = n;
  char *label = "label";
  r.columns = &label;
  r.n_columns = 1;
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  ts_status st = ts_h_read_batch(&f->ctx, &r.base, &out, &err);
  if (st != want) fail_msg("read_batch: status %d (%s), wanted %d", st, err.msg, want);
  return (Tablecar__V1__Batch *)out;
}

static void free_msg(void *m) {
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

/* The row ids of a whole split, read through ReadBatch in batches of 37. */
static int64_t *split_ids(fx *f, const char *id, const char *split, int64_t len) {
  int64_t *ids = malloc((size_t)len * sizeof *ids);
  for (int64_t off = 0; off < len; off += 37) {
    Tablecar__V1__Batch *b = read_batch(f, id, split, off, 37, TC_OK);
    assert_int_equal(b->offset, off);
    memcpy(ids + off, b->row_ids.data, b->row_ids.len);
    for (int64_t k = 0; k < b->num_rows; k++) /* values match the row ids */
      assert_int_equal(((int64_t *)(void *)b->columns[0]->values.data)[k], fx_example_label(ids[off + k]));
    free_msg(b);
  }
  return ids;
}

static void test_permutation_survives_restart(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  Tablecar__V1__Shuffle sh = TABLECAR__V1__SHUFFLE__INIT;
  Tablecar__V1__RandomSplit rs = TABLECAR__V1__RANDOM_SPLIT__INIT;
  double ratios[] = {0.8, 0.1, 0.1};
  char *names[] = {"train", "val", "test"};
  r.table = "ex";
  sh.seed = 42;
  r.shuffle = &sh;
  rs.ratios = ratios;
  rs.n_ratios = 3;
  rs.seed = 7;
  r.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM;
  r.random = &rs;
  r.split_names = names;
  r.n_split_names = 3;
  Tablecar__V1__PermutationInfo *a = create(f, &r, TC_OK);
  Tablecar__V1__PermutationInfo *again = create(f, &r, TC_OK);
  assert_string_equal(a->id, again->id);
  assert_int_equal(a->n_splits, 3);
  assert_string_equal(a->splits[1]->name, "val");
  assert_int_equal(a->splits[0]->num_rows + a->splits[1]->num_rows + a->splits[2]->num_rows, 1000);
  int64_t *before = split_ids(f, a->id, "train", a->splits[0]->num_rows);
  int64_t *by_index = split_ids(f, a->id, "0", a->splits[0]->num_rows);
  assert_memory_equal(before, by_index, (size_t)a->splits[0]->num_rows * 8);

  stop(f); /* a restart: new registry, new catalog, same state dir */
  start(f);
  int64_t *after = split_ids(f, a->id, "train", a->splits[0]->num_rows);
  assert_memory_equal(before, after, (size_t)a->splits[0]->num_rows * 8);
  Tablecar__V1__PermutationInfo *b = create(f, &r, TC_OK);
  assert_string_equal(a->id, b->id);

  /* The table changes: the old id is refused after a restart, a new create gives a new id. */
  stop(f);
  usleep(10000);
  write_example(f, "ex.arrow", 500);
  start(f);
  read_batch(f, a->id, "train", 0, 1, TC_EFAILED_PRECONDITION);
  Tablecar__V1__PermutationInfo *c = create(f, &r, TC_OK);
  assert_string_not_equal(a->id, c->id);
  free(before);
  free(by_index);
  free(after);
  free_msg(a);
  free_msg(again);
  free_msg(b);
  free_msg(c);
}

static void test_read_batch_validation(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  r.table = "ex";
  Tablecar__V1__PermutationInfo *p = create(f, &r, TC_OK);
  assert_int_equal(p->n_splits, 1);
  assert_string_equal(p->splits[0]->name, "0");
  free_msg(read_batch(f, p->id, "0", 999, 10, TC_OK));
  Tablecar__V1__Batch *last = read_batch(f, p->id, "0", 990, 100, TC_OK);
  assert_int_equal(last->num_rows, 10); /* the last batch is partial */
  free_msg(last);
  read_batch(f, p->id, "0", 1000, 1, TC_EOUT_OF_RANGE);
  read_batch(f, p->id, "0", -1, 1, TC_EINVALID_ARGUMENT);
  read_batch(f, p->id, "0", 0, 0, TC_EINVALID_ARGUMENT);
  read_batch(f, p->id, "nope", 0, 1, TC_ENOT_FOUND);
  read_batch(f, p->id, "1", 0, 1, TC_ENOT_FOUND);
  read_batch(f, "0123456789abcdef0123456789abcdef", "0", 0, 1, TC_ENOT_FOUND);
  read_batch(f, "../../etc/passwd", "0", 0, 1, TC_EINVALID_ARGUMENT);
  read_batch(f, "", "0", 0, 1, TC_EINVALID_ARGUMENT);
  free_msg(p);
}

static void test_create_validation(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  r.table = "missing";
  create(f, &r, TC_ENOT_FOUND);
  r.table = "../ex";
  create(f, &r, TC_EINVALID_ARGUMENT);
  r.table = "ex";
  Tablecar__V1__SequentialSplit seq = TABLECAR__V1__SEQUENTIAL_SPLIT__INIT;
  int64_t counts[] = {600, 500};
  seq.counts = counts;
  seq.n_counts = 2;
  r.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL;
  r.sequential = &seq;
  create(f, &r, TC_EINVALID_ARGUMENT); /* counts > rows */
  counts[1] = 400;
  char *names[] = {"a", "a"};
  r.split_names = names;
  r.n_split_names = 2;
  create(f, &r, TC_EINVALID_ARGUMENT); /* a name twice */
  r.n_split_names = 1;
  create(f, &r, TC_EINVALID_ARGUMENT); /* a name count that does not match */
  r.n_split_names = 0;
  Tablecar__V1__HashSplit hs = TABLECAR__V1__HASH_SPLIT__INIT;
  char *cols[] = {"image"};
  int64_t w[] = {1, 1};
  hs.columns = cols;
  hs.n_columns = 1;
  hs.weights = w;
  hs.n_weights = 2;
  r.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH;
  r.hash = &hs;
  create(f, &r, TC_EINVALID_ARGUMENT); /* an image cannot be hashed */
  cols[0] = "nope";
  create(f, &r, TC_EINVALID_ARGUMENT);
  cols[0] = "caption";
  Tablecar__V1__PermutationInfo *p = create(f, &r, TC_OK);
  assert_int_equal(p->splits[0]->num_rows + p->splits[1]->num_rows, 1000);
  free_msg(p);
}

static void test_stream_shards_cover(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  Tablecar__V1__Shuffle sh = TABLECAR__V1__SHUFFLE__INIT;
  r.table = "ex";
  sh.seed = 3;
  sh.clump_size = 16;
  r.shuffle = &sh;
  Tablecar__V1__PermutationInfo *p = create(f, &r, TC_OK);
  int64_t *order = split_ids(f, p->id, "0", 1000);
  int seen[1000] = {0};
  for (int32_t shard = 0; shard < 3; shard++) {
    Tablecar__V1__StreamBatchesRequest s = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
    s.permutation = p->id;
    s.split = "0";
    s.start = 10;
    s.end = 990;
    s.batch_size = 50;
    s.shard_index = shard;
    s.shard_count = 3;
    ts_stream *st;
    ts_error err = {0};
    assert_int_equal(ts_h_stream_open(&f->ctx, &s.base, &st, &err), TC_OK);
    ProtobufCMessage *m;
    int64_t j = 0;
    while (ts_h_stream_next(st, &m, &err) == TC_OK && m) {
      Tablecar__V1__Batch *b = (Tablecar__V1__Batch *)m;
      assert_int_equal(b->offset, j);
      for (int64_t k = 0; k < b->num_rows; k++, j++) {
        int64_t id = ((int64_t *)(void *)b->row_ids.data)[k];
        assert_int_equal(id, order[10 + shard + j * 3]); /* DistributedSampler's positions */
        seen[id]++;
      }
      free_msg(m);
    }
    ts_h_stream_close(st);
  }
  for (int64_t pos = 0; pos < 1000; pos++) assert_int_equal(seen[order[pos]], pos >= 10 && pos < 990 ? 1 : 0);
  Tablecar__V1__StreamBatchesRequest bad = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
  bad.permutation = p->id;
  bad.split = "0";
  bad.batch_size = 1;
  bad.end = 1001;
  ts_stream *st;
  ts_error err = {0};
  assert_int_equal(ts_h_stream_open(&f->ctx, &bad.base, &st, &err), TC_EOUT_OF_RANGE);
  bad.end = 0;
  bad.shard_index = 2;
  bad.shard_count = 2;
  assert_int_equal(ts_h_stream_open(&f->ctx, &bad.base, &st, &err), TC_EINVALID_ARGUMENT);
  free(order);
  free_msg(p);
}

static void test_take_rows(void **state) {
  fx *f = *state;
  Tablecar__V1__TakeRowsRequest r = TABLECAR__V1__TAKE_ROWS_REQUEST__INIT;
  int64_t idx[] = {5, 999, 5, 0};
  r.table = "ex";
  r.indices = idx;
  r.n_indices = 4;
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  assert_int_equal(ts_h_take_rows(&f->ctx, &r.base, &out, &err), TC_OK);
  Tablecar__V1__Batch *b = (Tablecar__V1__Batch *)out;
  assert_int_equal(b->n_columns, 4);
  assert_int_equal(((int64_t *)(void *)b->columns[1]->values.data)[1], fx_example_label(999));
  r.version = "not-the-version";
  assert_int_equal(ts_h_take_rows(&f->ctx, &r.base, &out, &err), TC_EFAILED_PRECONDITION);
  r.version = b->version;
  ProtobufCMessage *same = NULL;
  assert_int_equal(ts_h_take_rows(&f->ctx, &r.base, &same, &err), TC_OK);
  free_msg(same);
  free_msg(b);
  r.version = "";
  idx[2] = 1000;
  assert_int_equal(ts_h_take_rows(&f->ctx, &r.base, &out, &err), TC_EOUT_OF_RANGE);
  idx[2] = -1;
  assert_int_equal(ts_h_take_rows(&f->ctx, &r.base, &out, &err), TC_EOUT_OF_RANGE);
}

/* Over the budget, the least recently used permutations are dropped and made again, in the same order. */
static void test_permutation_budget(void **state) {
  fx *f = *state;
  stop(f);
  f->perm_budget = 6000; /* one permutation of 1000 rows (4 KB) fits, two do not */
  start(f);
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  Tablecar__V1__Shuffle sh = TABLECAR__V1__SHUFFLE__INIT;
  r.table = "ex";
  r.shuffle = &sh;
  Tablecar__V1__PermutationInfo *info[3];
  int64_t *first[3];
  for (int k = 0; k < 3; k++) {
    sh.seed = 100 + (uint64_t)k;
    info[k] = create(f, &r, TC_OK);
    first[k] = split_ids(f, info[k]->id, "0", 1000);
    assert_true(ts_perms_built_bytes(f->perms) <= 6000);
  }
  assert_memory_not_equal(first[0], first[1], 1000 * sizeof(int64_t)); /* seeds matter */
  for (int k = 0; k < 3; k++) {                                        /* each one made again on demand, identical */
    int64_t *again = split_ids(f, info[k]->id, "0", 1000);
    assert_memory_equal(again, first[k], 1000 * sizeof(int64_t));
    assert_true(ts_perms_built_bytes(f->perms) <= 6000);
    free(again);
    free(first[k]);
    free_msg(info[k]);
  }
}

/* Requests a server must not trust: unknown fields in a spec, batches whose row ids alone are too big. */
static void test_hostile_requests(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  r.table = "ex";
  uint8_t buf[64];
  size_t n = protobuf_c_message_pack(&r.base, buf);
  buf[n++] = 0xc0; /* field 1000, varint */
  buf[n++] = 0x3e;
  buf[n++] = 1;
  Tablecar__V1__CreatePermutationRequest *odd = tablecar__v1__create_permutation_request__unpack(NULL, n, buf);
  assert_non_null(odd);
  create(f, odd, TC_EINVALID_ARGUMENT);
  free_msg(odd);
  Tablecar__V1__PermutationInfo *p = create(f, &r, TC_OK);
  f->ctx.max_message_bytes = 4096; /* 512 row ids */
  read_batch(f, p->id, "0", 0, INT64_MAX, TC_ERESOURCE_EXHAUSTED);
  Tablecar__V1__StreamBatchesRequest sr = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
  sr.permutation = p->id;
  sr.split = "0";
  sr.batch_size = INT64_MAX;
  ts_stream *st;
  ts_error err = {0};
  assert_int_equal(ts_h_stream_open(&f->ctx, &sr.base, &st, &err), TC_ERESOURCE_EXHAUSTED);
  free_msg(p);
}

/* After a rescan, permutations of a table that changed are forgotten: they no longer pin its old files. */
static void test_prune_after_change(void **state) {
  fx *f = *state;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  r.table = "ex";
  free_msg(create(f, &r, TC_OK));
  assert_true(ts_perms_built_bytes(f->perms) > 0);
  ts_perms_prune(f->perms);
  assert_true(ts_perms_built_bytes(f->perms) > 0); /* unchanged table: kept */
  usleep(10000);
  write_example(f, "ex.arrow", 10);
  ts_catalog_refresh(f->cat);
  ts_perms_prune(f->perms);
  assert_int_equal(ts_perms_built_bytes(f->perms), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_permutation_survives_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_batch_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_shards_cover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_take_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permutation_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostile_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prune_after_change, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
