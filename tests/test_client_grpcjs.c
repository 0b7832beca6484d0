/* libtablecar against an independent gRPC server: tests/peers/fake_server.mjs (@grpc/grpc-js), run as a real
 * process on a temporary Unix socket, plus its raw node:http2 socket for HTTP/2-level answers and a socket
 * that breaks HTTP/2. Every RPC, error statuses, a 64 MiB batch, streams (their resumption and flow control),
 * deadlines, connection errors, a server restart and fork(). */
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

#include "tablecar.h"

#ifndef TC_SOURCE_DIR
#error TC_SOURCE_DIR must be defined
#endif

static char g_dir[256], g_sock[320], g_raw[320], g_bad[320], g_target[340], g_raw_target[340], g_bad_target[340];
static pid_t g_server = -1;
static int g_have_node;

static const tc_call_opts kSlowStart = {.timeout_ms = 120000}; /* node takes a while to start */
static const tc_call_opts kNoRetry = {.no_retry = 1};
/* A deadline that only a hang reaches: a call that must fail at once is given it, so that failing at the
 * deadline instead shows as DEADLINE_EXCEEDED (no test measures how long a call took). */
static const tc_call_opts kHangGuard = {.timeout_ms = 120000};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int have_node(void) {
  if (access(TC_SOURCE_DIR "/tests/peers/node_modules/@grpc/grpc-js/package.json", R_OK) ||
      access(TC_SOURCE_DIR "/tests/peers/node_modules/@grpc/proto-loader/package.json", R_OK))
    return 0;
  return system("node --version >/dev/null 2>&1") == 0;
}

static void start_server(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execlp("node", "node", TC_SOURCE_DIR "/tests/peers/fake_server.mjs", "--socket", g_sock, "--raw-socket", g_raw,
           "--bad-socket", g_bad, (char *)NULL);
    _exit(127);
  }
  g_server = pid;
}

static void stop_server(void) {
  if (g_server > 0) {
    kill(g_server, SIGKILL);
    waitpid(g_server, NULL, 0);
  }
  g_server = -1;
}

static int group_setup(void **state) {
  g_have_node = have_node();
  if (!g_have_node) return 0;
  const char *tmp = getenv("TC_TEST_TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  mkdir(tmp, 0777);
  snprintf(g_dir, sizeof g_dir, "%s/tcjsXXXXXX", tmp);
  if (!mkdtemp(g_dir)) return -1;
  snprintf(g_sock, sizeof g_sock, "%s/grpc.sock", g_dir);
  snprintf(g_raw, sizeof g_raw, "%s/raw.sock", g_dir);
  snprintf(g_bad, sizeof g_bad, "%s/bad.sock", g_dir);
  snprintf(g_bad_target, sizeof g_bad_target, "unix:%s", g_bad);
  snprintf(g_target, sizeof g_target, "unix:%s", g_sock);
  snprintf(g_raw_target, sizeof g_raw_target, "unix://%s", g_raw);
  start_server();
  return 0;
}

static int group_teardown(void **state) {
  if (!g_have_node) return 0;
  stop_server();
  unlink(g_sock);
  unlink(g_raw);
  unlink(g_bad);
  rmdir(g_dir);
  return 0;
}

#define NEED_NODE()                                                                                                    \
  do {                                                                                                                 \
    if (!g_have_node) {                                                                                                \
      print_message("skipped: node or tests/peers/node_modules missing (run .ci/install-deps)\n");                     \
      skip();                                                                                                          \
    }                                                                                                                  \
  } while (0)

static tc_client *client(void) {
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(g_target, NULL, &c), TC_OK);
  return c;
}

/* A handle whose first backoff is past any deadline: a retriable failure ends the call at once with
 * DEADLINE_EXCEEDED naming that failure as the last error, however fast or slow the machine is. */
static tc_client *one_attempt_client(const char *target) {
  tc_options o;
  tc_options_init(&o);
  o.backoff_initial_ms = o.backoff_max_ms = INT64_C(1) << 40;
  o.backoff_jitter = 0;
  tc_client *c = NULL;
  assert_int_equal(tc_client_new(target, &o, &c), TC_OK);
  return c;
}

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

static int64_t i64_at(const uint8_t *p, size_t i) {
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

static tc_permutation_info *train_test(tc_client *c) {
  static const double ratios[] = {0.7, 0.3};
  static const char *const names[] = {"train", "test"};
  tc_permutation_spec spec = {.table = "numbers",
                              .split = TC_SPLIT_SEQUENTIAL,
                              .n_ratios = 2,
                              .ratios = ratios,
                              .n_split_names = 2,
                              .split_names = names};
  tc_permutation_info *p = NULL;
  CHECK(c, tc_create_permutation(c, &spec, &kSlowStart, &p), TC_OK);
  return p;
}

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

/* Reads a whole stream; checks rows are consecutive values of x from first, offsets continue. */
static int64_t drain(tc_client *c, tc_stream *s, int64_t first_x, int64_t x_step, int64_t first_offset,
                     int64_t *batches) {
  int64_t rows = 0, next_offset = first_offset;
  tc_batch *b;
  *batches = 0;
  for (;;) {
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    if (!b) break;
    assert_int_equal(b->offset, next_offset);
    for (int64_t i = 0; i < b->num_rows; i++)
      assert_int_equal(i64_at(b->columns[0].values, (size_t)i), first_x + (rows + i) * x_step);
    rows += b->num_rows;
    next_offset += b->num_rows;
    (*batches)++;
    tc_batch_free(b);
  }
  CHECK(c, tc_stream_next(s, &b), TC_OK); /* still the end */
  assert_null(b);
  return rows;
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

static void test_deadline(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  tc_read_batch_req r = {.permutation = "perm-slow", .split = "0", .batch_size = 1};
  tc_batch *b = NULL;
  double t0 = now_s();
  CHECK(c, tc_read_batch(c, &r, &(tc_call_opts){.timeout_ms = 300}, &b), TC_EDEADLINE_EXCEEDED);
  double dt = now_s() - t0;
  assert_true(dt >= 0.29); /* never early; late only by how busy the machine is (perm-slow never answers) */
  assert_null(b);
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK); /* the connection survived */

  /* the handle's default deadline */
  tc_client *c2;
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 200;
  assert_int_equal(tc_client_new(g_target, &o, &c2), TC_OK);
  CHECK(c2, tc_read_batch(c2, &r, NULL, &b), TC_EDEADLINE_EXCEEDED);
  tc_client_free(c2);

  /* a stream: the deadline bounds each wait, and the stream stays usable */
  tc_stream_req sr = {.permutation = "perm-slow", .split = "0", .batch_size = 5};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, &(tc_call_opts){.timeout_ms = 300}, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_EDEADLINE_EXCEEDED);
  tc_stream_free(s);
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK);

  /* timeouts too far to represent as a deadline are none (they must not wrap into the past) */
  tc_permutation_info *p = train_test(c);
  const int64_t huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    tc_call_opts co = {.timeout_ms = huge[i]};
    CHECK(c, tc_health_check(c, NULL, &co, &st), TC_OK);
    tc_stream_req ok = {.permutation = p->id, .split = "train", .batch_size = 5};
    CHECK(c, tc_stream_batches(c, &ok, &co, &s), TC_OK);
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    assert_non_null(b);
    tc_batch_free(b);
    tc_stream_free(s);
    o.timeout_ms = huge[i];
    assert_int_equal(tc_client_new(g_target, &o, &c2), TC_OK);
    CHECK(c2, tc_health_check(c2, NULL, NULL, &st), TC_OK);
    tc_client_free(c2);
  }
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_raw_http2(void **state) {
  NEED_NODE();
  tc_client *c;
  assert_int_equal(tc_client_new(g_raw_target, NULL, &c), TC_OK);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "ok", &kSlowStart, &t), TC_OK);
  assert_string_equal(t->name, "raw");
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "trailers-only", NULL, &t), TC_ENOT_FOUND);
  assert_string_equal(tc_last_error(c), "gone fishing: \xe2\x9c\x93%zz");
  CHECK(c, tc_describe_table(c, "http-503", &kNoRetry, &t), TC_EUNAVAILABLE);
  assert_string_equal(tc_last_error(c), "HTTP status 503");
  /* retried until the deadline: whether the first answer arrives before a short deadline depends on the
   * machine's speed, so only the status is checked here... */
  CHECK(c, tc_describe_table(c, "http-503", &(tc_call_opts){.timeout_ms = 300}, &t), TC_EDEADLINE_EXCEEDED);
  /* ...and the last error reported is checked with a backoff longer than a long deadline: one attempt gets
   * its 503, then the call gives up without sleeping (at any speed) */
  tc_client *once = one_attempt_client(g_raw_target);
  CHECK(once, tc_describe_table(once, "http-503", &kHangGuard, &t), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(once), "last error: HTTP status 503"));
  tc_client_free(once);
  CHECK(c, tc_describe_table(c, "http-404", NULL, &t), TC_EUNIMPLEMENTED);
  CHECK(c, tc_describe_table(c, "not-grpc", NULL, &t), TC_EUNKNOWN);
  CHECK(c, tc_describe_table(c, "no-status", NULL, &t), TC_EINTERNAL);
  CHECK(c, tc_describe_table(c, "refused", &kNoRetry, &t), TC_EUNAVAILABLE);
  CHECK(c, tc_describe_table(c, "compressed", NULL, &t), TC_EPROTO);
  /* a second message in a unary response fails the call at once (the stream never ends) */
  CHECK(c, tc_describe_table(c, "two-messages", &kHangGuard, &t), TC_EINTERNAL);
  assert_string_equal(tc_last_error(c), "more than one message in the response of a unary call");
  CHECK(c, tc_describe_table(c, "ok", NULL, &t), TC_OK);
  tc_table_info_free(t);

  /* GOAWAY: the stream it covers completes, and the next call goes on a new connection */
  CHECK(c, tc_describe_table(c, "conn-id", NULL, &t), TC_OK);
  char first[32];
  snprintf(first, sizeof first, "%s", t->name);
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "goaway", NULL, &t), TC_OK);
  assert_string_equal(t->name, "raw");
  tc_table_info_free(t);
  CHECK(c, tc_describe_table(c, "conn-id", NULL, &t), TC_OK);
  assert_string_not_equal(t->name, first);
  tc_table_info_free(t);
  /* a stream above GOAWAY's last stream id was not processed: retried on a new connection (once without
   * backoff; then, refused again, reported) */
  CHECK(c, tc_describe_table(c, "goaway-refuse", &kNoRetry, &t), TC_EUNAVAILABLE);
  CHECK(c, tc_describe_table(c, "goaway-refuse", &(tc_call_opts){.timeout_ms = 300}, &t), TC_EDEADLINE_EXCEEDED);
  CHECK(c, tc_describe_table(c, "ok", NULL, &t), TC_OK);
  tc_table_info_free(t);
  tc_client_free(c);
}

/* A connection-level protocol error (WINDOW_UPDATE of 0 on stream 0): nghttp2 ends the session, and the call
 * fails then, not at its deadline; every later call tries a new connection. */
static void test_connection_error(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  tc_client_free(c);
  for (int i = 0; i < 1200 && access(g_bad, F_OK); i++) usleep(100 * 1000); /* listening after the others */
  assert_int_equal(tc_client_new(g_bad_target, NULL, &c), TC_OK);
  for (int i = 0; i < 3; i++) {
    CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 120000, .no_retry = 1}, &st), TC_EUNAVAILABLE);
    assert_non_null(strstr(tc_last_error(c), "GOAWAY sent: PROTOCOL_ERROR"));
  }
  /* retried until the deadline (on a new connection each time, as above) */
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 500}, &st), TC_EDEADLINE_EXCEEDED);
  tc_client_free(c);
  /* the error names the last attempt's failure (one attempt, then a backoff past the deadline) */
  c = one_attempt_client(g_bad_target);
  CHECK(c, tc_health_check(c, NULL, &kHangGuard, &st), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(c), "last error"));
  assert_non_null(strstr(tc_last_error(c), "PROTOCOL_ERROR"));
  tc_client_free(c);
}

static void test_restart(void **state) {
  NEED_NODE();
  tc_client *c = client();
  int st;
  CHECK(c, tc_health_check(c, NULL, &kSlowStart, &st), TC_OK);
  stop_server();
  /* down: no_retry fails at once */
  CHECK(c, tc_health_check(c, NULL, &kNoRetry, &st), TC_ECONNECT);
  assert_non_null(strstr(tc_last_error(c), g_sock));
  /* a short deadline while down */
  CHECK(c, tc_health_check(c, NULL, &(tc_call_opts){.timeout_ms = 200}, &st), TC_EDEADLINE_EXCEEDED);
  tc_client *once = one_attempt_client(g_target);
  CHECK(once, tc_health_check(once, NULL, &kHangGuard, &st), TC_EDEADLINE_EXCEEDED);
  assert_non_null(strstr(tc_last_error(once), "last error"));
  tc_client_free(once);
  /* restarting: the call waits for it */
  start_server();
  double t0 = now_s();
  tc_table_info *t;
  CHECK(c, tc_describe_table(c, "people", &kSlowStart, &t), TC_OK);
  print_message("call through a restart took %.2f s\n", now_s() - t0);
  tc_table_info_free(t);
  tc_client_free(c);
}

/* ---- fork ---- */

static int child_calls(tc_client *c, int n) {
  for (int i = 0; i < n; i++) {
    const int64_t idx[] = {i % 10};
    tc_take_rows_req t = {.table = "numbers", .indices = idx, .n_indices = 1};
    tc_batch *b;
    int rc = tc_take_rows(c, &t, NULL, &b);
    if (rc) {
      fprintf(stderr, "pid %d call %d: %s: %s\n", (int)getpid(), i, tc_strerror(rc), tc_last_error(c));
      return 1;
    }
    int bad = b->num_rows != 1 || i64_at(b->columns[0].values, 0) != 100 + i % 10;
    tc_batch_free(b);
    if (bad) return 1;
  }
  return 0;
}

static int wait_all(int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    int ws;
    if (wait(&ws) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) failed++;
  }
  return failed;
}

static void test_fork(void **state) {
  NEED_NODE();
  alarm(120); /* a hang fails the test instead of stalling it */
  tc_client *c = client();
  assert_int_equal(child_calls(c, 1), 0); /* the parent has a connection */
  enum { CHILDREN = 16, CALLS = 200 };
  pid_t kids[CHILDREN];
  for (int k = 0; k < CHILDREN; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) {
      alarm(60);
      int rc = child_calls(c, CALLS);
      /* a grandchild, using the handle after the child did */
      pid_t g = fork();
      if (g == 0) {
        alarm(60);
        int grc = child_calls(c, 20);
        tc_client_free(c);
        _exit(grc);
      }
      int gws;
      waitpid(g, &gws, 0);
      rc |= !(WIFEXITED(gws) && WEXITSTATUS(gws) == 0);
      rc |= child_calls(c, 5); /* and the child again, after its child */
      tc_client_free(c);
      _exit(rc);
    }
  }
  /* the parent keeps calling while they run */
  assert_int_equal(child_calls(c, 100), 0);
  assert_int_equal(wait_all(CHILDREN), 0);
  assert_int_equal(child_calls(c, 50), 0);
  tc_client_free(c);
  alarm(0);
}

static void test_fork_stream(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = NULL;
  tc_permutation_spec spec = {.table = "numbers"};
  CHECK(c, tc_create_permutation(c, &spec, &kSlowStart, &p), TC_OK);
  tc_stream_req r = {.permutation = p->id, .split = "0", .batch_size = 2};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &r, NULL, &s), TC_OK);
  tc_batch *b;
  CHECK(c, tc_stream_next(s, &b), TC_OK);
  assert_int_equal(i64_at(b->columns[0].values, 1), 101);
  tc_batch_free(b);
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    /* the child continues the inherited stream on its own connection */
    alarm(60);
    int64_t rows = 0, x = 102;
    int rc = 0;
    while (!(rc = tc_stream_next(s, &b)) && b) {
      for (int64_t i = 0; i < b->num_rows; i++) rc |= i64_at(b->columns[0].values, (size_t)i) != x++;
      rc |= b->offset != 2 + rows;
      rows += b->num_rows;
      tc_batch_free(b);
    }
    tc_stream_free(s);
    tc_permutation_info_free(p);
    tc_client_free(c);
    _exit(rc || rows != 8);
  }
  int64_t nb;
  assert_int_equal(drain(c, s, 102, 1, 2, &nb), 8);
  assert_int_equal(wait_all(1), 0);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_rate(void **state) {
  NEED_NODE();
  tc_client *c = client();
  tc_permutation_info *p = train_test(c);
  tc_read_batch_req r = {.permutation = p->id, .split = "train", .batch_size = 1};
  enum { N = 5000 };
  double t0 = now_s();
  for (int i = 0; i < N; i++) {
    tc_batch *b;
    r.offset = i % 7;
    CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
    tc_batch_free(b);
  }
  double dt = now_s() - t0;
  print_message("%d one-row ReadBatch calls against grpc-js: %.0f calls/s\n", N, N / dt);
  tc_permutation_info_free(p);
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
      cmocka_unit_test(test_large),          cmocka_unit_test(test_deadline),
      cmocka_unit_test(test_raw_http2),      cmocka_unit_test(test_connection_error),
      cmocka_unit_test(test_restart),        cmocka_unit_test(test_fork),
      cmocka_unit_test(test_fork_stream),    cmocka_unit_test(test_rate),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
