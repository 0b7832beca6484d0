/* The RPCs: requests are encoded with protobuf-c; small responses are unpacked by protobuf-c and copied
 * into documented C structs, Batch and TableInfo are read by wire.c (views into the message). */
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

#define SVC "/tablecar.v1.Tablecar/"

/* protobuf-c wants char * for strings it only reads. */
#define STR(s) ((char *)((s) ? (s) : ""))
#define STRV(v) ((char **)(v))

static int arr_ok(size_t n, const void *p) { return n == 0 || p != NULL; }

static int begin(tc_client *cl) {
  if (!cl) return TC_EINVAL;
  tc__clearerr(cl);
  return TC_OK;
}

static int call_msg(tc_client *cl, const char *path, const ProtobufCMessage *req, const tc_call_opts *co,
                    tc__msg **resp) {
  size_t len = tc__encode(cl, req);
  if (!len) return tc__seterr(cl, TC_ENOMEM, "out of memory encoding the request");
  return tc__unary(cl, path, len, co, resp);
}

/* ---- tables ---- */

int tc_list_tables(tc_client *cl, const tc_call_opts *co, tc_table_list **out) {
  int rc = begin(cl);
  if (rc || !out) return rc ? rc : tc__seterr(cl, TC_EINVAL, "out is NULL");
  *out = NULL;
  Tablecar__V1__ListTablesRequest r = TABLECAR__V1__LIST_TABLES_REQUEST__INIT;
  tc__msg *m;
  rc = call_msg(cl, SVC "ListTables", &r.base, co, &m);
  return rc ? rc : tc__table_list_parse(m, out, cl->err, sizeof cl->err);
}

int tc_describe_table(tc_client *cl, const char *table, const tc_call_opts *co, tc_table_info **out) {
  int rc = begin(cl);
  if (rc || !out) return rc ? rc : tc__seterr(cl, TC_EINVAL, "out is NULL");
  *out = NULL;
  Tablecar__V1__DescribeTableRequest r = TABLECAR__V1__DESCRIBE_TABLE_REQUEST__INIT;
  r.table = STR(table);
  tc__msg *m;
  rc = call_msg(cl, SVC "DescribeTable", &r.base, co, &m);
  return rc ? rc : tc__table_info_parse(m, out, cl->err, sizeof cl->err);
}

/* A request's shared-memory slot, when it names one of an attached pool. */
typedef struct shm_req {
  Tablecar__V1__ShmTarget target;
  uint8_t *data;
} shm_req;

static Tablecar__V1__ShmTarget *shm_target(tc_shm_pool *pool, uint32_t slot, shm_req *s) {
  const uint8_t *token;
  size_t offset, size;
  tablecar__v1__shm_target__init(&s->target);
  s->data = NULL;
  if (!pool || !(s->target.pool.len = (size_t)tc__shm_target(pool, slot, &token, &offset, &size, &s->data)))
    return NULL;
  s->target.pool.data = (uint8_t *)token;
  s->target.offset = (int64_t)offset;
  s->target.size = (int64_t)size;
  return &s->target;
}

static int batch_call(tc_client *cl, const char *path, const ProtobufCMessage *req, const shm_req *shm,
                      const tc_call_opts *co, tc_batch **out) {
  tc__msg *m;
  int rc = call_msg(cl, path, req, co, &m);
  if (rc) return rc;
  if (shm->data) return tc__batch_parse_shm(m, shm->data, (size_t)shm->target.size, out, cl->err, sizeof cl->err);
  return tc__batch_parse(m, out, cl->err, sizeof cl->err);
}

int tc_take_rows(tc_client *cl, const tc_take_rows_req *req, const tc_call_opts *co, tc_batch **out) {
  int rc = begin(cl);
  if (rc) return rc;
  if (!out || !req || !arr_ok(req->n_indices, req->indices) || !arr_ok(req->n_columns, req->columns))
    return tc__seterr(cl, TC_EINVAL, "bad arguments to tc_take_rows");
  *out = NULL;
  Tablecar__V1__TakeRowsRequest r = TABLECAR__V1__TAKE_ROWS_REQUEST__INIT;
  r.table = STR(req->table);
  r.n_indices = req->n_indices;
  r.indices = (int64_t *)req->indices;
  r.n_columns = req->n_columns;
  r.columns = STRV(req->columns);
  r.version = STR(req->version);
  shm_req shm;
  r.shm = shm_target(req->shm, req->shm_slot, &shm);
  return batch_call(cl, SVC "TakeRows", &r.base, &shm, co, out);
}

int tc_read_batch(tc_client *cl, const tc_read_batch_req *req, const tc_call_opts *co, tc_batch **out) {
  int rc = begin(cl);
  if (rc) return rc;
  if (!out || !req || !arr_ok(req->n_columns, req->columns))
    return tc__seterr(cl, TC_EINVAL, "bad arguments to tc_read_batch");
  *out = NULL;
  Tablecar__V1__ReadBatchRequest r = TABLECAR__V1__READ_BATCH_REQUEST__INIT;
  r.permutation = STR(req->permutation);
  r.split = STR(req->split);
  r.offset = req->offset;
  r.batch_size = req->batch_size;
  r.n_columns = req->n_columns;
  r.columns = STRV(req->columns);
  shm_req shm;
  r.shm = shm_target(req->shm, req->shm_slot, &shm);
  return batch_call(cl, SVC "ReadBatch", &r.base, &shm, co, out);
}

/* ---- permutations ---- */

typedef struct perm_priv {
  tc_permutation_info pub;
  tc__arena arena;
} perm_priv;

void tc_permutation_info_free(tc_permutation_info *info) {
  if (info) tc__arena_free(&((perm_priv *)info)->arena);
}

static const char *dup(tc__arena *a, const char *s, int *fail) {
  char *p = tc__arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
  if (!p) *fail = 1;
  return p ? p : "";
}

static const char *const *dupv(tc__arena *a, char **v, size_t n, int *fail) {
  if (n == 0) return NULL;
  const char **p = tc__arena_alloc(a, n * sizeof *p);
  if (!p) {
    *fail = 1;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) p[i] = dup(a, v[i], fail);
  return p;
}

static const void *dupmem(tc__arena *a, const void *src, size_t n, size_t size, int *fail) {
  if (n == 0) return NULL;
  void *p = tc__arena_alloc(a, n * size);
  if (!p)
    *fail = 1;
  else
    memcpy(p, src, n * size);
  return p;
}

static void convert_split(tc__arena *a, const Tablecar__V1__CreatePermutationRequest *in, tc_permutation_spec *s,
                          int *fail) {
  switch (in->split_case) {
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM:
    s->split = TC_SPLIT_RANDOM;
    s->n_ratios = in->random->n_ratios;
    s->ratios = dupmem(a, in->random->ratios, s->n_ratios, sizeof(double), fail);
    s->n_counts = in->random->n_counts;
    s->counts = dupmem(a, in->random->counts, s->n_counts, sizeof(int64_t), fail);
    s->fixed = in->random->fixed;
    s->split_seed = in->random->seed;
    break;
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL:
    s->split = TC_SPLIT_SEQUENTIAL;
    s->n_ratios = in->sequential->n_ratios;
    s->ratios = dupmem(a, in->sequential->ratios, s->n_ratios, sizeof(double), fail);
    s->n_counts = in->sequential->n_counts;
    s->counts = dupmem(a, in->sequential->counts, s->n_counts, sizeof(int64_t), fail);
    s->fixed = in->sequential->fixed;
    break;
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH:
    s->split = TC_SPLIT_HASH;
    s->n_hash_columns = in->hash->n_columns;
    s->hash_columns = dupv(a, in->hash->columns, in->hash->n_columns, fail);
    s->n_weights = in->hash->n_weights;
    s->weights = dupmem(a, in->hash->weights, s->n_weights, sizeof(int64_t), fail);
    break;
  default: s->split = TC_SPLIT_NONE; break;
  }
}

static void convert_spec(tc__arena *a, const Tablecar__V1__CreatePermutationRequest *in, tc_permutation_spec *s,
                         int *fail) {
  s->table = dup(a, in ? in->table : NULL, fail);
  if (!in) return;
  if (in->shuffle) {
    s->shuffle = 1;
    s->shuffle_seed = in->shuffle->seed;
    s->clump_size = in->shuffle->clump_size;
  }
  convert_split(a, in, s, fail);
  s->n_split_names = in->n_split_names;
  s->split_names = dupv(a, in->split_names, in->n_split_names, fail);
}

static int text_ok(const char *s) { return !s || tc__utf8_ok(s, strlen(s)); }

static int texts_ok(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!text_ok(v[i])) return 0;
  return 1;
}

/* protobuf-c does not check that proto3 strings are UTF-8; results hand out text, so we do. */
static int perm_text_ok(const Tablecar__V1__PermutationInfo *in) {
  if (!text_ok(in->id) || !text_ok(in->table) || !text_ok(in->table_version)) return 0;
  for (size_t i = 0; i < in->n_splits; i++)
    if (!text_ok(in->splits[i]->name)) return 0;
  const Tablecar__V1__CreatePermutationRequest *s = in->spec;
  return !s || (text_ok(s->table) && texts_ok(s->split_names, s->n_split_names) &&
                (s->split_case != TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH ||
                 texts_ok(s->hash->columns, s->hash->n_columns)));
}

static int convert_perm(tc_client *cl, const Tablecar__V1__PermutationInfo *in, tc_permutation_info **out) {
  if (!perm_text_ok(in)) return tc__seterr(cl, TC_EPROTO, "malformed PermutationInfo: a string is not valid UTF-8");
  tc__arena a = {NULL};
  perm_priv *pp = tc__arena_alloc(&a, sizeof *pp);
  if (!pp) return tc__seterr(cl, TC_ENOMEM, "out of memory");
  pp->arena = a;
  tc__arena *ar = &pp->arena;
  tc_permutation_info *p = &pp->pub;
  int fail = 0;
  p->id = dup(ar, in->id, &fail);
  p->table = dup(ar, in->table, &fail);
  p->table_version = dup(ar, in->table_version, &fail);
  p->num_rows = in->num_rows;
  p->n_splits = in->n_splits;
  if (in->n_splits) {
    tc_split_info *sp = tc__arena_alloc(ar, in->n_splits * sizeof *sp);
    if (!sp) fail = 1;
    for (size_t i = 0; sp && i < in->n_splits; i++) {
      sp[i].name = dup(ar, in->splits[i]->name, &fail);
      sp[i].num_rows = in->splits[i]->num_rows;
    }
    p->splits = sp;
  }
  convert_spec(ar, in->spec, &p->spec, &fail);
  if (fail) {
    tc__arena_free(ar);
    return tc__seterr(cl, TC_ENOMEM, "out of memory");
  }
  *out = p;
  return TC_OK;
}

static int perm_call(tc_client *cl, const char *path, const ProtobufCMessage *req, const tc_call_opts *co,
                     tc_permutation_info **out) {
  tc__msg *m;
  int rc = call_msg(cl, path, req, co, &m);
  if (rc) return rc;
  Tablecar__V1__PermutationInfo *pi = tablecar__v1__permutation_info__unpack(NULL, m->len, m->data);
  free(m);
  if (!pi) return tc__seterr(cl, TC_EPROTO, "malformed PermutationInfo");
  rc = convert_perm(cl, pi, out);
  tablecar__v1__permutation_info__free_unpacked(pi, NULL);
  return rc;
}

/* Fills the oneof split of r from spec; the split messages live in the caller's frame. */
static int encode_split(const tc_permutation_spec *s, Tablecar__V1__CreatePermutationRequest *r,
                        Tablecar__V1__RandomSplit *rs, Tablecar__V1__SequentialSplit *ss, Tablecar__V1__HashSplit *hs) {
  if (!arr_ok(s->n_ratios, s->ratios) || !arr_ok(s->n_counts, s->counts) ||
      !arr_ok(s->n_hash_columns, s->hash_columns) || !arr_ok(s->n_weights, s->weights))
    return -1;
  switch (s->split) {
  case TC_SPLIT_NONE: return 0;
  case TC_SPLIT_RANDOM:
    rs->n_ratios = s->n_ratios;
    rs->ratios = (double *)s->ratios;
    rs->n_counts = s->n_counts;
    rs->counts = (int64_t *)s->counts;
    rs->fixed = s->fixed;
    rs->seed = s->split_seed;
    r->split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM;
    r->random = rs;
    return 0;
  case TC_SPLIT_SEQUENTIAL:
    ss->n_ratios = s->n_ratios;
    ss->ratios = (double *)s->ratios;
    ss->n_counts = s->n_counts;
    ss->counts = (int64_t *)s->counts;
    ss->fixed = s->fixed;
    r->split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL;
    r->sequential = ss;
    return 0;
  case TC_SPLIT_HASH:
    hs->n_columns = s->n_hash_columns;
    hs->columns = STRV(s->hash_columns);
    hs->n_weights = s->n_weights;
    hs->weights = (int64_t *)s->weights;
    r->split_case = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH;
    r->hash = hs;
    return 0;
  default: return -1;
  }
}

int tc_create_permutation(tc_client *cl, const tc_permutation_spec *spec, const tc_call_opts *co,
                          tc_permutation_info **out) {
  int rc = begin(cl);
  if (rc) return rc;
  if (!out || !spec) return tc__seterr(cl, TC_EINVAL, "bad arguments to tc_create_permutation");
  *out = NULL;
  Tablecar__V1__CreatePermutationRequest r = TABLECAR__V1__CREATE_PERMUTATION_REQUEST__INIT;
  Tablecar__V1__Shuffle sh = TABLECAR__V1__SHUFFLE__INIT;
  Tablecar__V1__RandomSplit rs = TABLECAR__V1__RANDOM_SPLIT__INIT;
  Tablecar__V1__SequentialSplit ss = TABLECAR__V1__SEQUENTIAL_SPLIT__INIT;
  Tablecar__V1__HashSplit hs = TABLECAR__V1__HASH_SPLIT__INIT;
  r.table = STR(spec->table);
  if (spec->shuffle) {
    sh.seed = spec->shuffle_seed;
    sh.clump_size = spec->clump_size;
    r.shuffle = &sh;
  }
  if (encode_split(spec, &r, &rs, &ss, &hs) || !arr_ok(spec->n_split_names, spec->split_names))
    return tc__seterr(cl, TC_EINVAL, "bad split in tc_permutation_spec");
  r.n_split_names = spec->n_split_names;
  r.split_names = STRV(spec->split_names);
  return perm_call(cl, SVC "CreatePermutation", &r.base, co, out);
}

int tc_describe_permutation(tc_client *cl, const char *id, const tc_call_opts *co, tc_permutation_info **out) {
  int rc = begin(cl);
  if (rc || !out) return rc ? rc : tc__seterr(cl, TC_EINVAL, "out is NULL");
  *out = NULL;
  Tablecar__V1__DescribePermutationRequest r = TABLECAR__V1__DESCRIBE_PERMUTATION_REQUEST__INIT;
  r.id = STR(id);
  return perm_call(cl, SVC "DescribePermutation", &r.base, co, out);
}

/* ---- health ---- */

int tc_health_check(tc_client *cl, const char *service, const tc_call_opts *co, int *status) {
  int rc = begin(cl);
  if (rc || !status) return rc ? rc : tc__seterr(cl, TC_EINVAL, "status is NULL");
  *status = TC_HEALTH_UNKNOWN;
  Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  r.service = STR(service);
  tc__msg *m;
  rc = call_msg(cl, "/grpc.health.v1.Health/Check", &r.base, co, &m);
  if (rc) return rc;
  Grpc__Health__V1__HealthCheckResponse *h = grpc__health__v1__health_check_response__unpack(NULL, m->len, m->data);
  free(m);
  if (!h) return tc__seterr(cl, TC_EPROTO, "malformed HealthCheckResponse");
  *status = (int)h->status;
  grpc__health__v1__health_check_response__free_unpacked(h, NULL);
  return TC_OK;
}
