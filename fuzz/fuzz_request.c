/* fuzz_request: the server's request decoding (protobuf-c unpack of each method's request type, as
 * server/service.c does) and the handlers behind it (server/handlers.c, perms.c, permutation.c), over a
 * data dir of real tables written once at start-up.
 *
 * Input: one selector byte (the method), then the request message. A permutation id "@" in a request is
 * replaced by the id of a permutation made at start-up, so that ReadBatch / StreamBatches /
 * DescribePermutation get past the lookup. A CreatePermutation that succeeds is then read: the first batch
 * of each split, and a stream over its first split. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "fixtures.h"
#include "handlers.h"

static ts_cache *g_cache;
static ts_catalog *g_cat;
static ts_perms *g_perms;
static ts_ctx g_ctx;
static char g_perm_id[TS_PERM_ID_LEN + 1];
static unsigned g_creates;

static void new_registry(void);

static void write_table(const char *dir, const char *name, fx_table *t, enum aw_codec codec) {
  char path[300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  aw_options opt = {.format = AW_FILE, .codec = codec};
  if (fx_table_write(path, &opt, t) != 0) abort();
  fx_table_free(t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char dir[64];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/fuzz_requestXXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
  if (!mkdtemp(dir)) abort();
  fx_table t;
  if (fx_example(&t, FX_EXAMPLE_SHAPE, 300, 64) != 0) abort();
  write_table(dir, "ex.arrow", &t, AW_LZ4);
  if (fx_all_types(&t) != 0) abort();
  write_table(dir, "all.arrow", &t, AW_NONE);
  g_cache = ts_cache_new(8 << 20);
  g_cat = ts_catalog_new(dir, g_cache);
  ts_catalog_refresh(g_cat);
  g_ctx = (ts_ctx){.catalog = g_cat, .max_message_bytes = 1 << 20};
  new_registry();
  return 0;
}

/* A fresh permutation registry with the "@" permutation: every input's permutations would otherwise
 * pile up over millions of runs (the registry keeps every spec it acknowledged). */
static void new_registry(void) {
  if (g_perms) ts_perms_free(g_perms);
  g_perms = g_ctx.perms = ts_perms_new(NULL, g_cat, 64 << 20);
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  r.table = "ex";
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  if (ts_h_create_permutation(&g_ctx, &r.base, &out, &err) != TC_OK) abort();
  snprintf(g_perm_id, sizeof g_perm_id, "%s", ((Tablecar__V1__PermutationInfo *)out)->id);
  protobuf_c_message_free_unpacked(out, NULL);
}

typedef struct method {
  const ProtobufCMessageDescriptor *desc;
  ts_unary_fn unary; /* NULL: the stream */
} method;

static const method methods[] = {
    {&tablecar__v1__list_tables_request__descriptor, ts_h_list_tables},
    {&tablecar__v1__describe_table_request__descriptor, ts_h_describe_table},
    {&tablecar__v1__take_rows_request__descriptor, ts_h_take_rows},
    {&tablecar__v1__create_permutation_request__descriptor, ts_h_create_permutation},
    {&tablecar__v1__describe_permutation_request__descriptor, ts_h_describe_permutation},
    {&tablecar__v1__read_batch_request__descriptor, ts_h_read_batch},
    {&tablecar__v1__stream_batches_request__descriptor, NULL},
};
enum { N_METHODS = sizeof methods / sizeof *methods };

static void unary(ts_unary_fn fn, const ProtobufCMessage *req) {
  ProtobufCMessage *out = NULL;
  ts_error err = {0};
  ts_status st = fn(&g_ctx, req, &out, &err);
  if (st != TC_OK && (out || !err.msg[0])) abort(); /* an error says why and returns nothing */
  if (out) {
    /* The response must pack (the transport's next step). */
    size_t n = protobuf_c_message_get_packed_size(out);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) protobuf_c_message_pack(out, buf);
    free(buf);
    protobuf_c_message_free_unpacked(out, NULL);
  }
}

static void stream(const ProtobufCMessage *req) {
  ts_stream *s;
  ts_error err = {0};
  if (ts_h_stream_open(&g_ctx, req, &s, &err) != TC_OK) return;
  for (int i = 0; i < 64; i++) { /* bounded: a stream of tiny batches over many rows goes on a while */
    ProtobufCMessage *out = NULL;
    if (ts_h_stream_next(s, &out, &err) != TC_OK || !out) break;
    protobuf_c_message_free_unpacked(out, NULL);
  }
  ts_h_stream_close(s);
}

/* Reads a permutation just made: a batch of every split, and a stream over the first. */
static void read_perm(const Tablecar__V1__PermutationInfo *p) {
  for (size_t i = 0; i < p->n_splits && i < 8; i++) {
    Tablecar__V1__ReadBatchRequest r = TABLECAR__V1__READ_BATCH_REQUEST__INIT;
    r.permutation = p->id;
    r.split = p->splits[i]->name;
    r.batch_size = 16;
    unary(ts_h_read_batch, &r.base);
  }
  Tablecar__V1__StreamBatchesRequest s = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
  s.permutation = p->id;
  s.split = "0";
  s.batch_size = 32;
  stream(&s.base);
}

/* The permutation id field of REQ, if it has one. */
static char **perm_field(ProtobufCMessage *req) {
  if (req->descriptor == &tablecar__v1__describe_permutation_request__descriptor)
    return &((Tablecar__V1__DescribePermutationRequest *)req)->id;
  if (req->descriptor == &tablecar__v1__read_batch_request__descriptor)
    return &((Tablecar__V1__ReadBatchRequest *)req)->permutation;
  if (req->descriptor == &tablecar__v1__stream_batches_request__descriptor)
    return &((Tablecar__V1__StreamBatchesRequest *)req)->permutation;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const method *m = &methods[data[0] % N_METHODS];
  ProtobufCMessage *req = protobuf_c_message_unpack(m->desc, NULL, size - 1, data + 1);
  if (!req) return 0;
  char **id = perm_field(req), *saved = id ? *id : NULL;
  if (id && strcmp(*id, "@") == 0) *id = g_perm_id;
  if (m->desc == &tablecar__v1__create_permutation_request__descriptor) {
    ProtobufCMessage *out = NULL;
    ts_error err = {0};
    if (ts_h_create_permutation(&g_ctx, req, &out, &err) == TC_OK) {
      read_perm((const Tablecar__V1__PermutationInfo *)out);
      protobuf_c_message_free_unpacked(out, NULL);
    } else if (!err.msg[0]) {
      abort();
    }
    if (++g_creates % 1024 == 0) new_registry();
  } else if (m->unary) {
    unary(m->unary, req);
  } else {
    stream(req);
  }
  if (id) *id = saved;
  protobuf_c_message_free_unpacked(req, NULL);
  return 0;
}
