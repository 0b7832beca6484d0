/* libtablecar against the real tablecar-server: every call with the values checked against the fixture rules
 * (tests/support/fixtures.h), error statuses and messages, a 64 MiB batch, and the `tablecar` CLI's exit codes
 * and output. Deadlines, fork storms and restarts are in test_client_fork.c; the server processes and checks
 * both use are in tests/support/client_server_util.c.
 *
 * Each group writes its tables into a temporary directory, starts a server on a Unix socket there, and
 * stops it at the end with SIGTERM, which must exit 0 (TC_KEEP=1 keeps the directory and its server.log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_server_util.h"
#include "fixtures.h"
#include "tablecar.h"

#if !defined(TC_SERVER_BIN) || !defined(TC_CLI_BIN)
#error TC_SERVER_BIN and TC_CLI_BIN must be defined (the paths of tablecar-server and of the tablecar CLI)
#endif

/* ------------------------------------------------------------------------------------------------------ */
/* Every call */

static void test_health(void **state) {
  tc_client *c = client(*state);
  int st = -1;
  CHECK(c, tc_health_check(c, "", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  assert_string_equal(tc_last_error(c), "");
  CHECK(c, tc_health_check(c, "tablecar.v1.Tablecar", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  CHECK(c, tc_health_check(c, "nope", NULL, &st), TC_ENOT_FOUND);
  assert_true(*tc_last_error(c));
  tc_client_free(c);
  /* The socket is made owner+group writable (--socket-mode's default), whatever the umask. */
  struct stat sb;
  assert_int_equal(stat(((server *)*state)->sock, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0660);
}

static void test_list_tables(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_table_list *l = NULL;
  CHECK(c, tc_list_tables(c, NULL, &l), TC_OK);
  assert_int_equal(l->n_tables, 2);
  const tc_table_info *e = &l->tables[0], *sm = &l->tables[1];
  assert_string_equal(e->name, "example");
  assert_string_equal(sm->name, "small");
  assert_int_equal(e->num_rows, EXAMPLE_ROWS);
  assert_int_equal(sm->num_rows, 10);
  assert_true(strlen(e->version) > 0 && strcmp(e->version, sm->version) != 0);
  char path[300];
  struct stat st;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(e->num_bytes, st.st_size);
  assert_int_equal(e->schema.n_fields, 0); /* not in a listing */
  assert_int_equal(e->n_files, 0);
  tc_table_list_free(l);
  tc_client_free(c);
}

static void check_example_schema(const tc_schema *s) {
  assert_int_equal(s->n_fields, 4);
  const tc_field *img = &s->fields[0], *label = &s->fields[1], *cap = &s->fields[2], *score = &s->fields[3];
  assert_string_equal(img->name, "image");
  assert_int_equal(img->type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(img->list_size, 3);
  assert_false(img->nullable);
  assert_int_equal(img->ndim, 3);
  assert_true(img->shape[0] == 3 && img->shape[1] == 8 && img->shape[2] == 8);
  assert_int_equal(img->element_type, TC_TYPE_UINT8);
  assert_int_equal(img->n_children, 1);
  assert_int_equal(img->children[0].type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(img->children[0].list_size, 8);
  assert_int_equal(img->children[0].children[0].children[0].type, TC_TYPE_UINT8);
  assert_string_equal(label->name, "label");
  assert_int_equal(label->type, TC_TYPE_INT64);
  assert_false(label->nullable);
  assert_int_equal(label->ndim, 0);
  assert_int_equal(label->element_type, TC_TYPE_UNSPECIFIED);
  assert_string_equal(cap->name, "caption");
  assert_int_equal(cap->type, TC_TYPE_UTF8);
  assert_true(cap->nullable);
  assert_string_equal(score->name, "score");
  assert_int_equal(score->type, TC_TYPE_FLOAT32);
}

static void test_describe_table(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "example", NULL, &t), TC_OK);
  assert_string_equal(t->name, "example");
  assert_int_equal(t->num_rows, EXAMPLE_ROWS);
  assert_int_equal(t->n_files, 1);
  assert_string_equal(t->files[0], "example.arrow");
  assert_true(t->num_bytes > 0 && strlen(t->version) > 0);
  check_example_schema(&t->schema);
  tc_table_info *again;
  CHECK(c, tc_describe_table(c, "small", NULL, &again), TC_OK); /* zstd-compressed: the same schema */
  check_example_schema(&again->schema);
  tc_table_info_free(again);
  tc_table_info_free(t);
  tc_client_free(c);
}

static void test_take_rows(void **state) {
  tc_client *c = client(*state);
  const int64_t idx[] = {999, 0, 3, 3, 500, 64, 63, 10};
  tc_take_rows_req req = {.table = "example", .indices = idx, .n_indices = 8};
  tc_batch *b = NULL;
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_OK);
  assert_string_equal(b->table, "example");
  assert_int_equal(b->num_rows, 8);
  assert_int_equal(b->n_columns, 4);
  for (int i = 0; i < 8; i++) assert_int_equal(tc_row_id(b, i), idx[i]);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  assert_int_equal(tc_batch_column(b, "caption")->null_count, 4); /* rows 3, 3, 500, 10: i % 7 == 3 */
  char version[128];
  snprintf(version, sizeof version, "%s", b->version);
  tc_batch_free(b);

  const char *const cols[] = {"score", "caption"};
  req.columns = cols;
  req.n_columns = 2;
  req.version = version; /* pinned to the version it has: fine */
  CHECK(c, tc_take_rows(c, &req, NULL, &b), TC_OK);
  assert_int_equal(b->n_columns, 2);
  assert_string_equal(b->columns[0].name, "score");
  assert_string_equal(b->columns[1].name, "caption");
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);

  tc_take_rows_req none = {.table = "small"};
  CHECK(c, tc_take_rows(c, &none, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 0);
  tc_batch_free(b);
  const int64_t all[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  tc_take_rows_req sm = {.table = "small", .indices = all, .n_indices = 10};
  CHECK(c, tc_take_rows(c, &sm, NULL, &b), TC_OK); /* across its compressed batches */
  assert_int_equal(b->num_rows, 10);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);
  tc_client_free(c);
}

static void test_permutations(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  assert_int_equal(strlen(p->id), 32);
  assert_string_equal(p->table, "example");
  assert_int_equal(p->num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->n_splits, 3);
  assert_string_equal(p->splits[0].name, "train");
  assert_string_equal(p->splits[2].name, "test");
  assert_int_equal(p->splits[0].num_rows + p->splits[1].num_rows + p->splits[2].num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->splits[0].num_rows, 800);
  const tc_permutation_spec *sp = &p->spec;
  assert_true(sp->shuffle && sp->shuffle_seed == 42 && sp->split == TC_SPLIT_RANDOM && sp->split_seed == 7);
  assert_true(sp->n_ratios == 3 && sp->ratios[0] == 0.8 && sp->n_split_names == 3);
  assert_string_equal(sp->table, "example");

  tc_permutation_info *again = make_perm(c), *d = NULL;
  assert_string_equal(again->id, p->id); /* idempotent */
  CHECK(c, tc_describe_permutation(c, p->id, NULL, &d), TC_OK);
  assert_string_equal(d->id, p->id);
  assert_string_equal(d->table_version, p->table_version);
  assert_int_equal(d->splits[1].num_rows, p->splits[1].num_rows);
  assert_string_equal(d->spec.split_names[1], "val");
  tc_permutation_info_free(again);
  tc_permutation_info_free(d);
  tc_permutation_info_free(p);

  /* sequential counts: split 0 is rows 0..99 in table order, split 1 rows 100..299 */
  static const int64_t counts[] = {100, 200};
  tc_permutation_spec seq = {.table = "example", .split = TC_SPLIT_SEQUENTIAL, .n_counts = 2, .counts = counts};
  CHECK(c, tc_create_permutation(c, &seq, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 2);
  assert_string_equal(p->splits[1].name, "1");
  int64_t *ids = read_split(c, p->id, "1", 200);
  for (int i = 0; i < 200; i++) assert_int_equal(ids[i], 100 + i);
  free(ids);
  tc_permutation_info_free(p);

  /* hash of label (i % 10): every row of a label lands in the same split */
  static const char *const hcols[] = {"label"};
  static const int64_t weights[] = {1, 1};
  tc_permutation_spec hs = {.table = "example",
                            .split = TC_SPLIT_HASH,
                            .n_hash_columns = 1,
                            .hash_columns = hcols,
                            .n_weights = 2,
                            .weights = weights};
  CHECK(c, tc_create_permutation(c, &hs, NULL, &p), TC_OK);
  assert_int_equal(p->splits[0].num_rows + p->splits[1].num_rows, EXAMPLE_ROWS);
  assert_int_equal(p->splits[0].num_rows % 100, 0);
  int split_of_label[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
  for (int k = 0; k < 2; k++) {
    ids = read_split(c, p->id, k ? "1" : "0", p->splits[k].num_rows);
    for (int64_t i = 0; i < p->splits[k].num_rows; i++) {
      int l = (int)fx_example_label(ids[i]);
      assert_true(split_of_label[l] == -1 || split_of_label[l] == k);
      split_of_label[l] = k;
    }
    free(ids);
  }
  tc_permutation_info_free(p);

  tc_permutation_spec parts = {
      .table = "example", .shuffle = 1, .shuffle_seed = 1, .clump_size = 16, .split = TC_SPLIT_RANDOM, .fixed = 4};
  CHECK(c, tc_create_permutation(c, &parts, NULL, &p), TC_OK);
  assert_int_equal(p->n_splits, 4);
  for (int k = 0; k < 4; k++) assert_int_equal(p->splits[k].num_rows, 250);
  assert_int_equal(p->spec.clump_size, 16);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_read_batch(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  unsigned char seen[EXAMPLE_ROWS] = {0};
  int sorted = 1;
  for (size_t k = 0; k < p->n_splits; k++) {
    int64_t n = p->splits[k].num_rows, off = 0;
    while (off < n) {
      tc_read_batch_req r = {.permutation = p->id, .split = p->splits[k].name, .offset = off, .batch_size = 37};
      tc_batch *b;
      CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
      assert_int_equal(b->offset, off);
      assert_int_equal(b->num_rows, n - off < 37 ? n - off : 37);
      assert_rows(b, FX_EXAMPLE_SHAPE);
      for (int64_t i = 0; i < b->num_rows; i++) {
        int64_t id = tc_row_id(b, i);
        assert_true(id >= 0 && id < EXAMPLE_ROWS && !seen[id]); /* splits are disjoint */
        seen[id] = 1;
        sorted &= i == 0 || tc_row_id(b, i - 1) < id;
      }
      off += b->num_rows;
      tc_batch_free(b);
    }
  }
  for (int i = 0; i < EXAMPLE_ROWS; i++) assert_true(seen[i]); /* ratios summing to 1: every row */
  assert_false(sorted);                                        /* shuffled */

  /* a split by its index, and some columns */
  const char *const cols[] = {"label"};
  tc_read_batch_req r = {
      .permutation = p->id, .split = "1", .offset = 5, .batch_size = 10, .columns = cols, .n_columns = 1};
  tc_batch *b1, *b2;
  CHECK(c, tc_read_batch(c, &r, NULL, &b1), TC_OK);
  assert_int_equal(b1->n_columns, 1);
  assert_rows(b1, FX_EXAMPLE_SHAPE);
  r.split = "val";
  r.n_columns = 0;
  CHECK(c, tc_read_batch(c, &r, NULL, &b2), TC_OK);
  assert_int_equal(b2->n_columns, 4);
  assert_memory_equal(b1->row_ids, b2->row_ids, b1->row_ids_size);
  tc_batch_free(b1);
  tc_batch_free(b2);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* Reads one shard: position j of the shard is start + index + j * count of the split, whose ids are ref. */
static void read_shard(tc_client *c, const tc_stream_req *r, const int64_t *ref, int64_t end, unsigned char *seen) {
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, r, NULL, &s), TC_OK);
  int64_t j = 0;
  for (;;) {
    tc_batch *b;
    CHECK(c, tc_stream_next(s, &b), TC_OK);
    if (!b) break;
    assert_int_equal(b->offset, j);
    assert_true(b->num_rows >= 1 && b->num_rows <= r->batch_size);
    assert_rows(b, FX_EXAMPLE_SHAPE);
    for (int64_t i = 0; i < b->num_rows; i++, j++) {
      int64_t pos = r->start + r->shard_index + j * r->shard_count;
      assert_true(pos < end);
      assert_int_equal(tc_row_id(b, i), ref[pos]);
      assert_int_equal(seen[pos], 0);
      seen[pos] = 1;
    }
    tc_batch_free(b);
  }
  tc_stream_free(s);
}

static void test_stream_shards(void **state) {
  tc_client *c = client(*state);
  tc_permutation_info *p = make_perm(c);
  int64_t n = p->splits[0].num_rows;
  int64_t *ref = read_split(c, p->id, "train", n);
  unsigned char *seen = calloc((size_t)n, 1);
  assert_non_null(seen);
  for (int32_t k = 0; k < 3; k++) { /* three shards cover the split exactly once */
    tc_stream_req r = {.permutation = p->id, .split = "train", .batch_size = 50, .shard_index = k, .shard_count = 3};
    read_shard(c, &r, ref, n, seen);
  }
  for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);

  memset(seen, 0, (size_t)n); /* a range [100, 301) in 2 shards, batches of 7 */
  for (int32_t k = 0; k < 2; k++) {
    tc_stream_req r = {.permutation = p->id,
                       .split = "train",
                       .start = 100,
                       .end = 301,
                       .batch_size = 7,
                       .shard_index = k,
                       .shard_count = 2};
    read_shard(c, &r, ref, 301, seen);
  }
  for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], i >= 100 && i < 301);
  free(seen);
  free(ref);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Errors: status and message */

static void test_errors(void **state) {
  tc_client *c = client(*state);
  tc_table_info *t = NULL;
  CHECK(c, tc_describe_table(c, "nope", NULL, &t), TC_ENOT_FOUND);
  assert_null(t);
  assert_string_equal(tc_last_error(c), "no table named 'nope'");
  CHECK(c, tc_describe_table(c, "../x", NULL, &t), TC_EINVALID_ARGUMENT);
  CHECK_MSG(c, "'../x'");
  CHECK(c, tc_describe_table(c, "/etc/passwd", NULL, &t), TC_EINVALID_ARGUMENT);

  tc_batch *b = NULL;
  const int64_t past[] = {0, EXAMPLE_ROWS};
  tc_take_rows_req tr = {.table = "example", .indices = past, .n_indices = 2};
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EOUT_OF_RANGE);
  assert_string_equal(tc_last_error(c), "index 1000 is out of range for table 'example' of 1000 rows");
  const char *const nocol[] = {"nope"};
  tr.n_indices = 1;
  tr.columns = nocol;
  tr.n_columns = 1;
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EINVALID_ARGUMENT);
  assert_string_equal(tc_last_error(c), "unknown column 'nope'");
  tr.n_columns = 0;
  tr.version = "0123";
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_EFAILED_PRECONDITION);
  CHECK_MSG(c, "not 0123");

  tc_permutation_info *p = NULL;
  CHECK(c, tc_describe_permutation(c, "0123456789abcdef0123456789abcdef", NULL, &p), TC_ENOT_FOUND);
  CHECK_MSG(c, "no permutation with id '0123456789abcdef0123456789abcdef'");
  CHECK(c, tc_describe_permutation(c, "zz", NULL, &p), TC_EINVALID_ARGUMENT);
  static const double too_much[] = {0.9, 0.2};
  tc_permutation_spec bad_spec = {.table = "example", .split = TC_SPLIT_RANDOM, .n_ratios = 2, .ratios = too_much};
  CHECK(c, tc_create_permutation(c, &bad_spec, NULL, &p), TC_EINVALID_ARGUMENT);
  tc_permutation_spec no_table = {.table = "nope"};
  CHECK(c, tc_create_permutation(c, &no_table, NULL, &p), TC_ENOT_FOUND);

  p = make_perm(c);
  tc_read_batch_req rr = {.permutation = p->id, .split = "val", .offset = 100, .batch_size = 1};
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_EOUT_OF_RANGE);
  assert_string_equal(tc_last_error(c), "offset 100 is past the end of split 'val' (100 rows)");
  rr.offset = 0;
  rr.batch_size = 0;
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_EINVALID_ARGUMENT);
  rr.batch_size = 1;
  rr.split = "nope";
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_ENOT_FOUND);
  CHECK_MSG(c, "has no split 'nope'");

  /* a stream's error comes from tc_stream_next, and stays */
  tc_stream_req sr = {.permutation = p->id, .split = "train", .batch_size = 1, .shard_index = 3, .shard_count = 3};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, NULL, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_EINVALID_ARGUMENT);
  CHECK_MSG(c, "shard_index 3");
  CHECK(c, tc_stream_next(s, &b), TC_EINVALID_ARGUMENT);
  tc_stream_free(s);

  int st;
  CHECK(c, tc_health_check(c, NULL, NULL, &st), TC_OK); /* the handle is fine after errors */
  assert_string_equal(tc_last_error(c), "");
  tc_permutation_info_free(p);
  tc_client_free(c);
}

static void test_resource_exhausted(void **state) {
  tc_client *c = client(*state);
  int64_t idx[100];
  for (int i = 0; i < 100; i++) idx[i] = i;
  tc_take_rows_req tr = {.table = "example", .indices = idx, .n_indices = 100};
  tc_batch *b = NULL;
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(c, "--max-message-bytes (4096)");
  tr.n_indices = 2; /* small enough */
  CHECK(c, tc_take_rows(c, &tr, NULL, &b), TC_OK);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);

  tc_permutation_info *p = make_perm(c);
  tc_read_batch_req rr = {.permutation = p->id, .split = "train", .batch_size = 100};
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(c, "--max-message-bytes");
  const char *const cols[] = {"label"};
  rr.columns = cols; /* fewer columns fit */
  rr.n_columns = 1;
  CHECK(c, tc_read_batch(c, &rr, NULL, &b), TC_OK);
  assert_int_equal(b->num_rows, 100);
  assert_rows(b, FX_EXAMPLE_SHAPE);
  tc_batch_free(b);
  tc_stream_req sr = {.permutation = p->id, .split = "train", .batch_size = 100};
  tc_stream *s;
  CHECK(c, tc_stream_batches(c, &sr, NULL, &s), TC_OK);
  CHECK(c, tc_stream_next(s, &b), TC_ERESOURCE_EXHAUSTED);
  tc_stream_free(s);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

/* ------------------------------------------------------------------------------------------------------ */
/* The command-line client (client/cli/): exit codes, the error line, the JSON document */

/* Runs `tablecar --target T ARGS...` with stdout and stderr in files read back into out and err. */
static int run_cli(const server *s, const char *const *args, char *out, size_t outlen, char *err, size_t errlen) {
  char paths[2][300];
  snprintf(paths[0], sizeof paths[0], "%s/cli.out", s->dir);
  snprintf(paths[1], sizeof paths[1], "%s/cli.err", s->dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    const char *argv[32] = {TC_CLI_BIN, "--target", s->target};
    int n = 3;
    for (; *args && n < 31; args++) argv[n++] = *args;
    int fo = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC, 0644),
        fe = open(paths[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(127);
    execv(TC_CLI_BIN, (char **)argv);
    _exit(127);
  }
  int rc = wait_exit(pid);
  char *bufs[2] = {out, err};
  size_t lens[2] = {outlen, errlen};
  for (int k = 0; k < 2; k++) {
    FILE *f = fopen(paths[k], "r");
    size_t got = f ? fread(bufs[k], 1, lens[k] - 1, f) : 0;
    bufs[k][got] = '\0';
    if (f) fclose(f);
  }
  return rc;
}

#define CLI(want_rc, ...)                                                                                              \
  do {                                                                                                                 \
    const char *const args_[] = {__VA_ARGS__, NULL};                                                                   \
    int rc_ = run_cli(s, args_, out, sizeof out, err, sizeof err);                                                     \
    if (rc_ != (want_rc)) fail_msg("tablecar %s: exit %d, want %d; stderr: %s", args_[0], rc_, (want_rc), err);        \
  } while (0)

static void test_cli(void **state) {
  server *s = *state;
  char out[8192], err[1024];
  CLI(0, "health");
  assert_string_equal(out, "SERVING\n");
  CLI(1, "health", "nope");
  server bogus = *s; /* a target the CLI refuses, saying the library's reason */
  snprintf(bogus.target, sizeof bogus.target, "nonsense");
  assert_int_equal(run_cli(&bogus, (const char *const[]){"ls", NULL}, out, sizeof out, err, sizeof err), 2);
  assert_string_equal(err, "tablecar: bad target \"nonsense\": expected HOST:PORT, unix:PATH or unix-abstract:NAME"
                           " (see tablecar --help)\n");
  CLI(0, "--json", "ls");
  assert_non_null(strstr(out, "{\"name\":\"example\",\"num_rows\":1000,"));
  CLI(0, "describe", "example");
  assert_non_null(strstr(out, "fixed_size_list<uint8>[3,8,8]"));
  CLI(0, "take", "example", "3", "12", "--json");
  assert_non_null(strstr(out, "\"row_ids\":[3,12],\"rows\":[{\"image\":[[[93,94,"));
  assert_non_null(strstr(out, "\"label\":3,\"caption\":null,\"score\":0.75}"));
  assert_non_null(strstr(out, "\"caption\":\"row 12\""));
  CLI(0, "take", "example", "12");
  assert_non_null(strstr(out, "uint8[3,8,8] [116, 117, 118,"));
  CLI(1, "describe", "nope");
  assert_string_equal(err, "tablecar: NOT_FOUND: no table named 'nope'\n");
  CLI(1, "take", "example", "1000");
  assert_string_equal(err, "tablecar: OUT_OF_RANGE: index 1000 is out of range for table 'example' of 1000 rows\n");
  CLI(0, "perm", "create", "example", "--shuffle", "42", "--split", "random", "--ratios", "0.8,0.1,0.1", "--split-seed",
      "7", "--names", "train,val,test", "--json");
  tc_client *c = client(s);
  tc_permutation_info *p = make_perm(c); /* the same spec through the library: the same id */
  char want[64];
  snprintf(want, sizeof want, "{\"id\":\"%s\"", p->id);
  assert_memory_equal(out, want, strlen(want));
  CLI(0, "read", p->id, "val", "0", "2", "--columns", "label", "--json");
  assert_non_null(strstr(out, "\"offset\":0,\"num_rows\":2,"));
  tc_permutation_info_free(p);
  tc_client_free(c);
  CLI(2, "frobnicate");
  CLI(2, "take");
  CLI(2, "ls", "--columns", "a");
  CLI(2, "perm", "create", "example", "--ratios", "0.5"); /* sizes without --split */
  CLI(0, "perm", "create", "--help");
  assert_non_null(strstr(out, "--split random"));
}

/* ------------------------------------------------------------------------------------------------------ */
/* A 64 MiB batch */

static void test_big_batch(void **state) {
  tc_client *c = client(*state);
  tc_permutation_spec spec = {.table = "big"};
  tc_permutation_info *p;
  CHECK(c, tc_create_permutation(c, &spec, NULL, &p), TC_OK);
  assert_int_equal(p->splits[0].num_rows, BIG_ROWS);
  tc_read_batch_req r = {.permutation = p->id, .split = "0", .batch_size = BIG_ROWS};
  tc_batch *b;
  double t0 = now_s();
  CHECK(c, tc_read_batch(c, &r, NULL, &b), TC_OK);
  double dt = now_s() - t0;
  assert_int_equal(b->num_rows, BIG_ROWS);
  const tc_column *leaf = &tc_batch_column(b, "image")->children[0].children[0].children[0];
  assert_true(leaf->values_size == (size_t)BIG_ROWS * 3 * 64 * 64 && leaf->values_size > (size_t)64 << 20);
  assert_rows(b, BIG_SHAPE); /* every byte */
  print_message("ReadBatch of %d rows (%.1f MiB of images) in %.3f s\n", BIG_ROWS, leaf->values_size / 1048576.0, dt);
  tc_batch_free(b);

  /* larger than the client accepts: RESOURCE_EXHAUSTED, and the handle keeps working */
  tc_client *small;
  tc_options o;
  tc_options_init(&o);
  o.max_recv_message_bytes = 32u << 20;
  assert_int_equal(tc_client_new(((server *)*state)->target, &o, &small), TC_OK);
  CHECK(small, tc_read_batch(small, &r, NULL, &b), TC_ERESOURCE_EXHAUSTED);
  CHECK_MSG(small, "larger than max");
  r.batch_size = 100;
  CHECK(small, tc_read_batch(small, &r, NULL, &b), TC_OK);
  assert_rows(b, BIG_SHAPE);
  tc_batch_free(b);
  tc_client_free(small);
  tc_permutation_info_free(p);
  tc_client_free(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest calls[] = {
      cmocka_unit_test(test_health),        cmocka_unit_test(test_list_tables),  cmocka_unit_test(test_describe_table),
      cmocka_unit_test(test_take_rows),     cmocka_unit_test(test_permutations), cmocka_unit_test(test_read_batch),
      cmocka_unit_test(test_stream_shards), cmocka_unit_test(test_errors),       cmocka_unit_test(test_cli),
  };
  const struct CMUnitTest small[] = {cmocka_unit_test(test_resource_exhausted)};
  const struct CMUnitTest big[] = {cmocka_unit_test(test_big_batch)};
  int failed = cmocka_run_group_tests_name("client_server", calls, setup_main, group_teardown);
  failed += cmocka_run_group_tests_name("client_server_small_messages", small, setup_small_messages, group_teardown);
  failed += cmocka_run_group_tests_name("client_server_64MiB", big, setup_big, group_teardown);
  return failed ? 1 : 0;
}
