/* mkseeds: seeds for fuzz_request (each method's request, packed) and fuzz_wire (the server's answers, with
 * their gRPC prefix), made by the server's own handlers over the fixture tables.
 *
 *   mkseeds REQUEST_DIR WIRE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "handlers.h"

static void put(const char *dir, const char *name, int sel, const ProtobufCMessage *m, int prefix) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n + 7);
  size_t h = 0;
  buf[h++] = (uint8_t)sel;
  if (prefix) {
    buf[h++] = 0x0f; /* fuzz_wire's chunking byte: 241-byte pieces */
    buf[h++] = 0;
    buf[h++] = (uint8_t)(n >> 24), buf[h++] = (uint8_t)(n >> 16), buf[h++] = (uint8_t)(n >> 8);
    buf[h++] = (uint8_t)n;
  }
  protobuf_c_message_pack(m, buf + h);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, n + h, f) != n + h) abort();
  fclose(f);
  free(buf);
}

static ProtobufCMessage *call(ts_ctx *ctx, ts_unary_fn fn, const ProtobufCMessage *req) {
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  if (fn(ctx, req, &out, &err) != TC_OK) {
    fprintf(stderr, "mkseeds: %s\n", err.msg);
    exit(1);
  }
  return out;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  const char *rq = argv[1], *wd = argv[2];
  char dir[] = "/tmp/mkseedsXXXXXX", path[600];
  if (!mkdtemp(dir)) return 1;
  fx_table t;
  aw_options opt = {.format = AW_FILE, .codec = AW_NONE};
  snprintf(path, sizeof path, "%s/ex.arrow", dir);
  if (fx_example(&t, FX_EXAMPLE_SHAPE, 300, 64) != 0 || fx_table_write(path, &opt, &t) != 0) return 1;
  fx_table_free(&t);
  snprintf(path, sizeof path, "%s/all.arrow", dir);
  if (fx_all_types(&t) != 0 || fx_table_write(path, &opt, &t) != 0) return 1;
  fx_table_free(&t);
  ts_cache *cache = ts_cache_new(8 << 20);
  ts_catalog *cat = ts_catalog_new(dir, cache);
  ts_catalog_refresh(cat);
  ts_perms *perms = ts_perms_new(NULL, cat, 64 << 20);
  ts_ctx ctx = {.catalog = cat, .perms = perms, .max_message_bytes = 1 << 20};

  /* fuzz_request: selector = index in its methods[] */
  Tablecar__V1__ListTablesRequest lt = TABLECAR__V1__LIST_TABLES_REQUEST__INIT;
  put(rq, "list", 0, &lt.base, 0);
  Tablecar__V1__DescribeTableRequest dt = TABLECAR__V1__DESCRIBE_TABLE_REQUEST__INIT;
  dt.table = "all";
  put(rq, "describe", 1, &dt.base, 0);
  int64_t rows[] = {3, 0, 11, 7};
  char *cols[] = {"id", "s"};
  Tablecar__V1__TakeRowsRequest tr = TABLECAR__V1__TAKE_ROWS_REQUEST__INIT;
  tr.table = "all", tr.n_indices = 4, tr.indices = rows;
  put(rq, "take", 2, &tr.base, 0);
  tr.n_columns = 2, tr.columns = cols;
  put(rq, "take-cols", 2, &tr.base, 0);
  Tablecar__V1__Shuffle sh = TABLECAR__V1__SHUFFLE__INIT;
  sh.seed = 3, sh.clump_size = 4;
  Tablecar__V1__RandomSplit rs = TABLECAR__V1__RANDOM_SPLIT__INIT;
  double ratios[] = {0.8, 0.2};
  rs.n_ratios = 2, rs.ratios = ratios, rs.seed = 9;
  Tablecar__V1__CreatePermutationRequest cp = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  cp.table = "ex", cp.shuffle = &sh;
  cp.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM, cp.random = &rs;
  char *names[] = {"train", "test"};
  cp.n_split_names = 2, cp.split_names = names;
  put(rq, "perm-random", 3, &cp.base, 0);
  Tablecar__V1__SequentialSplit ss = TABLECAR__V1__SEQUENTIAL_SPLIT__INIT;
  int64_t counts[] = {100, 50};
  ss.n_counts = 2, ss.counts = counts;
  cp.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL, cp.sequential = &ss;
  put(rq, "perm-seq", 3, &cp.base, 0);
  Tablecar__V1__HashSplit hs = TABLECAR__V1__HASH_SPLIT__INIT;
  char *hcols[] = {"label"};
  int64_t weights[] = {3, 1};
  hs.n_columns = 1, hs.columns = hcols, hs.n_weights = 2, hs.weights = weights;
  cp.split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH, cp.hash = &hs;
  put(rq, "perm-hash", 3, &cp.base, 0);
  Tablecar__V1__DescribePermutationRequest dp = TABLECAR__V1__DESCRIBE_PERMUTATION_REQUEST__INIT;
  dp.id = "@";
  put(rq, "describe-perm", 4, &dp.base, 0);
  Tablecar__V1__ReadBatchRequest rb = TABLECAR__V1__READ_BATCH_REQUEST__INIT;
  rb.permutation = "@", rb.split = "0", rb.offset = 60, rb.batch_size = 10;
  put(rq, "read", 5, &rb.base, 0);
  Tablecar__V1__StreamBatchesRequest sb = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
  sb.permutation = "@", sb.split = "0", sb.batch_size = 50, sb.shard_index = 1, sb.shard_count = 3;
  put(rq, "stream", 6, &sb.base, 0);

  /* fuzz_wire: selector 0 Batch, 1 TableInfo, 2 ListTablesResponse */
  ProtobufCMessage *m = call(&ctx, ts_h_list_tables, &lt.base);
  put(wd, "list", 2, m, 1);
  protobuf_c_message_free_unpacked(m, NULL);
  const char *tables[] = {"ex", "all"};
  for (int i = 0; i < 2; i++) {
    dt.table = (char *)tables[i];
    m = call(&ctx, ts_h_describe_table, &dt.base);
    snprintf(path, sizeof path, "describe-%s", tables[i]);
    put(wd, path, 1, m, 1);
    protobuf_c_message_free_unpacked(m, NULL);
    tr.table = (char *)tables[i], tr.n_columns = 0;
    m = call(&ctx, ts_h_take_rows, &tr.base);
    snprintf(path, sizeof path, "batch-%s", tables[i]);
    put(wd, path, 0, m, 1);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  ts_perms_free(perms);
  ts_catalog_free(cat);
  ts_cache_free(cache);
  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  return system(path) == 0 ? 0 : 1;
}
