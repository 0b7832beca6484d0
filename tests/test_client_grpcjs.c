/* libtablecar against an independent gRPC server: tests/peers/fake_server.mjs (@grpc/grpc-js), run as a real
 * process on a temporary Unix socket: every RPC, error statuses, a 64 MiB batch, streams (their resumption and
 * flow control). Deadlines, HTTP/2-level answers, connection errors, a server restart and fork() are in
 * test_client_grpcjs_conn.c; the server process and helpers both use in tests/support/grpcjs_testutil.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grpcjs_testutil.h"
#include "tablecar.h"

#ifndef TC_SOURCE_DIR
#error TC_SOURCE_DIR must be defined
#endif

/* ---- tests ---- */

static void test_health(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st = -1;
  CHECK(c, tc_health_check(c, "", &kSlowStart, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  assert_string_equal(tc_last_error(c), "");
  CHECK(c, tc_health_check(c, "tablecar.v1.Tablecar", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  CHECK(c, tc_health_check(c, "nope", NULL, &st), TC_ENOT_FOUND);
  assert_string_equal(tc_last_error(c), "unknown service \"nope\"");
  tc_client_free(c);
}

static void test_list_tables(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_table_list *l = NULL;
  CHECK(c, tc_list_tables(c, &kSlowStart, &l), TC_OK);
  assert_int_equal(l->n_tables, 3);
  assert_string_equal(l->tables[0].name, "big");
  assert_string_equal(l->tables[1].name, "numbers");
  assert_string_equal(l->tables[2].name, "people");
  assert_int_equal(l->tables[1].num_rows, 10);
  assert_string_equal(l->tables[2].version, "v1");
  assert_int_equal(l->tables[2].schema.n_fields, 0);
  tc_table_list_free(l);
  tc_client_free(c);
}

static void test_describe_table(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "people", &kSlowStart, &t), TC_OK);
  assert_string_equal(t->name, "people");
  assert_int_equal(t->num_rows, 3);
  assert_string_equal(t->version, "v1");
  assert_int_equal(t->num_bytes, 1234);
  assert_int_equal(t->n_files, 1);
  assert_string_equal(t->files[0], "people.arrow");
  assert_int_equal(t->schema.n_metadata, 1);
  assert_string_equal(t->schema.metadata[0].key, "origin");
  assert_int_equal(t->schema.n_fields, 3);
  const tc_field *id = &t->schema.fields[0], *vec = &t->schema.fields[2];
  assert_int_equal(id->type, TC_TYPE_INT64);
  assert_string_equal(id->metadata[0].value, "count");
  assert_true(t->schema.fields[1].nullable);
  assert_int_equal(vec->type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(vec->list_size, 2);
  assert_int_equal(vec->ndim, 1);
  assert_int_equal(vec->shape[0], 2);
  assert_int_equal(vec->element_type, TC_TYPE_FLOAT32);
  assert_int_equal(vec->n_children, 1);
  assert_int_equal(vec->children[0].type, TC_TYPE_FLOAT32);
  tc_table_info_free(t);

  t = (tc_table_info *)1;
  CHECK(c, tc_describe_table(c, "nope", NULL, &t), TC_ENOT_FOUND);
  assert_null(t);
  /* grpc-js percent-encodes grpc-message (encodeURI); we decode it */
  assert_string_equal(tc_last_error(c), "no table \"nope\" (\xc3\xbcnknown, 100% sure)");
  /* the handle is fine after an error */
  CHECK(c, tc_describe_table(c, "numbers", NULL, &t), TC_OK);
  assert_string_equal(tc_last_error(c), "");
  tc_table_info_free(t);
  tc_client_free(c);
}

static void test_take_rows(void **state) {
  NEED_NODE();
  tc_client *c = client();
  const int64_t idx[] = {2, 0, 2};
  tc_take_rows_req req = {.table = "people", .indices = idx, .n_indices = 3};
  tc_batch *b = NULL;
  CHECK(c, tc_take_rows(c, &req, &kSlowStart, &b), TC_OK);
  assert_string_equal(b->table, "people");
  assert_string_equal(b->version, "v1");
  assert_int_equal(b->num_rows, 3);
  assert_int_equal(tc_row_id(b, 0), 2);
  assert_int_equal(tc_row_id(b, 1), 0);
  assert_int_equal(b->n_columns, 3);
  const tc_column *id = tc_batch_column(b, "id");
  assert_int_equal(id->type, TC_TYPE_INT64);
  assert_int_equal(i64_at(id->values, 0), 12);
  assert_int_equal(i64_at(id->values, 1), 10);
  const tc_column *name = tc_batch_column(b, "name");
  assert_int_equal(name->null_count, 2);
  assert_int_equal(name->validity_size, 1);
  assert_int_equal(name->validity[0], 0x2); /* only row 1 ("ann") is valid */
  assert_int_equal(name->offsets_size, 16);
  assert_int_equal(name->values_size, 3);
  assert_memory_equal(name->values, "ann", 3);
  const tc_column *vec = tc_batch_column(b, "vec");
  assert_int_equal(vec->field->shape[0], 2);
  assert_int_equal(vec->n_children, 1);
  assert_int_equal(vec->children[0].length, 6);
  float f[6];
  memcpy(f, vec->children[0].values, sizeof f);
  assert_true(f[0] == 5.0f && f[1] == 6.0f && f[2] == 1.0f && f[5] == 6.0f);
  tc_batch_free(b);

  const char *const cols[] = {"name"};
  req.columns = cols;
  req.n_columns = 1;
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_OK);
  assert_int_equal(b->n_columns, 1);
  assert_string_equal(b->columns[0].name, "name");
  tc_batch_free(b);

  const char *const bad[] = {"nope"};
  req.columns = bad;
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_EINVALID_ARGUMENT);
  req.columns = NULL;
  req.n_columns = 0;
  req.version = "v0";
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_EFAILED_PRECONDITION);
  const int64_t past[] = {3};
  tc_take_rows_req r2 = {.table = "people", .indices = past, .n_indices = 1};
  CHECK(c, tc_take_rows(c, &r2, NULL, &b), TC_EOUT_OF_RANGE);
  assert_string_equal(tc_last_error(c), "row 3 out of range");
  r2.n_indices = 0;
  CHECK(c, tc_take_rows(c, &r2, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 0);
  tc_batch_free(b);
  r2.indices = NULL;
  r2.n_indices = 2;
  CHECK(c, tc_take_rows(c, &r2, NULL, &b), TC_EINVAL);
  tc_client_free(c);
}

static void test_permutations(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = train_test(c);
  assert_string_equal(p->table, "numbers");
  assert_string_equal(p->table_version, "n1");
  assert_int_equal(p->num_rows, 10);
  assert_int_equal(p->n_splits, 2);
  assert_string_equal(p->splits[0].name, "train");
  assert_int_equal(p->splits[0].num_rows, 7);
  assert_string_equal(p->splits[1].name, "test");
  assert_int_equal(p->splits[1].num_rows, 3);
  assert_int_equal(p->spec.split, TC_SPLIT_SEQUENTIAL);
  assert_int_equal(p->spec.n_ratios, 2);
  assert_true(p->spec.ratios[0] == 0.7 && p->spec.ratios[1] == 0.3);
  assert_int_equal(p->spec.n_split_names, 2);
  assert_string_equal(p->spec.split_names[1], "test");
  assert_false(p->spec.shuffle);

  tc_permutation_info *d = NULL;
  CHECK(c, tc_describe_permutation(c, p->id, NULL, &d), TC_OK);
  assert_string_equal(d->id, p->id);
  assert_int_equal(d->splits[0].num_rows, 7);
  tc_permutation_info_free(d);
  /* idempotent */
  tc_permutation_info *again = train_test(c);
  assert_string_equal(again->id, p->id);
  tc_permutation_info_free(again);
  tc_permutation_info_free(p);

  static const int64_t counts[] = {6, 4};
  tc_permutation_spec rs = {.table = "numbers",
                            .shuffle = 1,
                            .shuffle_seed = UINT64_C(0x1234567890abc),
                            .clump_size = 2,
                            .split = TC_SPLIT_RANDOM,
                            .n_counts = 2,
                            .counts = counts,
                            .split_seed = 7};
  CHECK(c, tc_create_permutation(c, &rs, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 2);
  assert_string_equal(p->splits[1].name, "1");
  assert_true(p->spec.shuffle);
  assert_true(p->spec.shuffle_seed == UINT64_C(0x1234567890abc));
  assert_int_equal(p->spec.clump_size, 2);
  assert_int_equal(p->spec.split, TC_SPLIT_RANDOM);
  assert_int_equal(p->spec.n_counts, 2);
  assert_int_equal(p->spec.counts[1], 4);
  assert_int_equal(p->spec.split_seed, 7);
  tc_permutation_info_free(p);

  static const char *const hcols[] = {"x"};
  static const int64_t weights[] = {1, 1};
  tc_permutation_spec hs = {.table = "numbers",
                            .split = TC_SPLIT_HASH,
                            .n_hash_columns = 1,
                            .hash_columns = hcols,
                            .n_weights = 2,
                            .weights = weights};
  CHECK(c, tc_create_permutation(c, &hs, NULL, &p), TC_OK);
  assert_int_equal(p->spec.split, TC_SPLIT_HASH);
  assert_string_equal(p->spec.hash_columns[0], "x");
  assert_int_equal(p->spec.weights[1], 1);
  tc_permutation_info_free(p);

  tc_permutation_spec fixed = {.table = "numbers", .split = TC_SPLIT_SEQUENTIAL, .fixed = 5};
  CHECK(c, tc_create_permutation(c, &fixed, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 5);
  assert_int_equal(p->spec.fixed, 5);
  tc_permutation_info_free(p);

  tc_permutation_spec none = {.table = "nope"};
  CHECK(c, tc_create_permutation(c, &none, NULL, &p), TC_ENOT_FOUND);
  tc_permutation_spec bad = {.table = "numbers", .split = 99};
  CHECK(c, tc_create_permutation(c, &bad, NULL, &p), TC_EINVAL);
  CHECK(c, tc_describe_permutation(c, "perm-nope", NULL, &p), TC_ENOT_FOUND);
  assert_string_equal(tc_last_error(c), "no permutation \"perm-nope\"");
  tc_client_free(c);
}

static void test_unavailable_retry(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = NULL;
  /* perm-unavailable-2 fails twice with UNAVAILABLE: once for no_retry, once more for the retrying call */
  CHECK(c, tc_describe_permutation(c, "perm-unavailable-2", &(tc_call_opts){.timeout_ms = 30000, .no_retry = 1}, &p),
        TC_EUNAVAILABLE);
  assert_string_equal(tc_last_error(c), "warming up");
  CHECK(c, tc_describe_permutation(c, "perm-unavailable-2", NULL, &p), TC_OK);
  assert_string_equal(p->id, "perm-unavailable-2");
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_read_batch(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = train_test(c);
  tc_read_batch_req r = {.permutation = p->id, .split = "train", .offset = 0, .batch_size = 4};
  tc_batch *b = NULL;
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 4);
  assert_int_equal(b->offset, 0);
  assert_int_equal(b->n_columns, 1);
  assert_int_equal(i64_at(b->columns[0].values, 3), 103);
  tc_batch_free(b);
  r.offset = 4;
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 3); /* the end of the split */
  assert_int_equal(b->offset, 4);
  assert_int_equal(tc_row_id(b, 2), 6);
  tc_batch_free(b);
  r.offset = 7;
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_EOUT_OF_RANGE);
  r.split = "1"; /* by index */
  r.offset = 0;
  const char *const cols[] = {"x"};
  r.columns = cols;
  r.n_columns = 1;
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 3);
  assert_int_equal(i64_at(b->columns[0].values, 0), 107);
  tc_batch_free(b);
  r.split = "nope";
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_EINVALID_ARGUMENT);
  r.permutation = "perm-nope";
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_ENOT_FOUND);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_stream(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = train_test(c);
  tc_stream_req r = {.permutation = p->id, .split = "train", .batch_size = 3};
  tc_stream *s = NULL;
  CHECK(c, tc_stream_batches(c, &r, NULL, &s), TC_OK);
  int64_t nb;
  assert_int_equal(drain(c, s, 100, 1, 0, &nb), 7);
  assert_int_equal(nb, 3);
  tc_stream_free(s);

  /* shard 1 of 2 of [1, 7): positions 2, 4, 6; offsets in the shard's own sequence */
  tc_stream_req sh = {.permutation = p->id,
                      .split = "train",
                      .start = 1,
                      .end = 7,
                      .batch_size = 2,
                      .shard_index = 1,
                      .shard_count = 2};
  CHECK(c, tc_stream_batches(c, &sh, NULL, &s), TC_OK);
  assert_int_equal(drain(c, s, 102, 2, 0, &nb), 3);
  assert_int_equal(nb, 2);
  tc_stream_free(s);

  /* two streams and unary calls interleaved on one handle */
  tc_stream *s1, *s2;
  r.batch_size = 1;
  CHECK(c, tc_stream_batches(c, &r, NULL, &s1), TC_OK);
  CHECK(c, tc_stream_batches(c, &r, NULL, &s2), TC_OK);
  for (int i = 0; i < 7; i++) {
    tc_batch *b1, *b2;
    int st;
    CHECK(c, tc_stream_next(s1, &b1), TC_OK);
    CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);
    CHECK(c, tc_stream_next(s2, &b2), TC_OK);
    assert_int_equal(i64_at(b1->columns[0].values, 0), 100 + i);
    assert_int_equal(i64_at(b2->columns[0].values, 0), 100 + i);
    tc_batch_free(b1);
    tc_batch_free(b2);
  }
  tc_stream_free(s1); /* before its end: cancelled */
  tc_stream_free(s2);

  /* errors come from tc_stream_next, and stay */
  tc_stream_req bad = {.permutation = "perm-nope", .split = "0", .batch_size = 1};
  CHECK(c, tc_stream_batches(c, &bad, NULL, &s), TC_OK);
  tc_batch *b = (tc_batch *)1;
  CHECK(c, tc_stream_next(s, &b), TC_ENOT_FOUND);
  assert_null(b);
  assert_string_equal(tc_last_error(c), "no permutation \"perm-nope\"");
  CHECK(c, tc_stream_next(s, &b), TC_ENOT_FOUND);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_stream_resume(void **state) {
  NEED_NODE();
  tc_client *c = client();
  /* perm-flaky fails with UNAVAILABLE after 2 batches, once: the stream resumes after row 4 */
  tc_stream_req r = {.permutation = "perm-flaky", .split = "0", .batch_size = 2};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &r, &kSlowStart, &s), TC_OK);
  int64_t nb;
  assert_int_equal(drain(c, s, 100, 1, 0, &nb), 10);
  assert_int_equal(nb, 5);
  tc_stream_free(s);
  /* a shard: 1 of 3 of [1, 10) is positions 2, 5, 8; it fails after 5 and resumes with start 7 */
  tc_stream_req sh = {
      .permutation = "perm-flaky-shard", .split = "0", .start = 1, .batch_size = 1, .shard_index = 1, .shard_count = 3};
  CHECK(c, tc_stream_batches(c, &sh, NULL, &s), TC_OK);
  assert_int_equal(drain(c, s, 102, 3, 0, &nb), 3);
  tc_stream_free(s);
  tc_client_free(c);
}

/* A stream buffers at most its window, even when another call on the handle receives its data (the stream's
 * messages queue up meanwhile); and a message larger than the window still arrives. */
static void test_stream_flow_control(void **state) {
  NEED_NODE();
  tc_client *stats = client(), *c;
  tc_options o;
  tc_options_init(&o);
  o.stream_window_bytes = 65535;
  assert_int_equal(tc_client_new(g_target, &o, &c), TC_OK);
  tc_table_info *t;
  CHECK(stats, tc_describe_table(stats, "firehose-stats", &kSlowStart, &t), TC_OK);
  int64_t msgs0 = t->num_rows, bytes0 = t->num_bytes;
  tc_table_info_free(t);
  tc_stream_req r = {.permutation = "perm-firehose", .split = "0", .batch_size = 10};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &r, NULL, &s), TC_OK);
  enum { STEPS = 300 };
  for (int i = 0; i < STEPS; i++) {
    tc_batch *b;
    int st;
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    assert_int_equal(b->offset, 10 * i);
    tc_batch_free(b);
    CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);
  }
  usleep(300 * 1000); /* the server sends all it may */
  CHECK(stats, tc_describe_table(stats, "firehose-stats", NULL, &t), TC_OK);
  int64_t msgs = t->num_rows - msgs0, bytes = t->num_bytes - bytes0;
  tc_table_info_free(t);
  int64_t ahead = (msgs - STEPS) * (bytes / msgs);
  print_message("firehose: %lld messages written, %d taken: %lld bytes ahead with a 64 KiB window\n", (long long)msgs,
                STEPS, (long long)ahead);
  /* the window, plus what node buffers itself (16 KiB) and a little slack */
  if (ahead > 2 * 65535) fail_msg("the server ran %lld bytes ahead of a 65535-byte window", (long long)ahead);
  tc_stream_free(s);

  /* 64 MiB in one message, through a 64 KiB window */
  tc_permutation_spec spec = {.table = "big"};
  tc_permutation_info *p;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  tc_stream_req big = {.permutation = p->id, .split = "0", .batch_size = 1};
  CHECK(c, tc_stream_batches(c, &big, NULL, &s), TC_OK);
  tc_batch *b;
  CHECK(c, tc_stream_next(s, &b), TC_OK);
  assert_int_equal(tc_batch_column(b, "blob")->values_size, 64 << 20);
  tc_batch_free(b);
  CHECK(c, tc_stream_next(s, &b), TC_OK);
  assert_null(b);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
  tc_client_free(stats);
}

static void test_large(void **state) {
  NEED_NODE();
  tc_client *c = client();
  const int64_t idx[] = {0};
  tc_take_rows_req req = {.table = "big", .indices = idx, .n_indices = 1};
  tc_batch *b = NULL;
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  double t0 = now_s();
  CHECK(c, tc_take_rows(c, &req, &kSlowStart, &b), TC_OK);
  double t1 = now_s();
  const tc_column *blob = tc_batch_column(b, "blob");
  assert_int_equal(blob->type, TC_TYPE_FIXED_SIZE_BINARY);
  assert_int_equal(blob->field->byte_width, 64 << 20);
  assert_int_equal(blob->values_size, 64 << 20);
  for (size_t i = 0; i < blob->values_size; i++)
    if (blob->values[i] != (uint8_t)((i * 7 + 3) & 255)) fail_msg("byte %zu differs", i);
  print_message("64 MiB batch in %.3f s (the server builds and encodes it too)\n", t1 - t0);
  tc_batch_free(b);
  tc_client_free(c);

  /* a receive limit below the message: RESOURCE_EXHAUSTED, and the handle keeps working */
  tc_options o;
  tc_options_init(&o);
  o.max_recv_message_bytes = 1 << 20;
  assert_int_equal(tc_client_new(g_target, &o, &c), TC_OK);
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  assert_non_null(strstr(tc_last_error(c), "larger than max"));
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);
  tc_client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* nothing of ours needs it; a dying node must not kill the test */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_health),         cmocka_unit_test(test_list_tables),
      cmocka_unit_test(test_describe_table), cmocka_unit_test(test_take_rows),
      cmocka_unit_test(test_permutations),   cmocka_unit_test(test_unavailable_retry),
      cmocka_unit_test(test_read_batch),     cmocka_unit_test(test_stream),
      cmocka_unit_test(test_stream_resume),  cmocka_unit_test(test_stream_flow_control),
      cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
