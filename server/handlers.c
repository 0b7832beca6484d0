/* handlers.c: see handlers.h. */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "gather.h"
#include "names.h"
#include "schema.h"

static ts_status oom(ts_error *err) { return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory"); }

/* The table NAME; one rescan of the data dir first when it is not known yet, so a table dropped into the
 * data dir is served at once. */
static ts_status get_table(ts_ctx *ctx, const char *name, ts_table **out, ts_error *err) {
  ts_status st = ts_catalog_get(ctx->catalog, name, out, err);
  if (st != TC_ENOT_FOUND) return st;
  if (ts_catalog_refresh(ctx->catalog) != 0)
    return ts_error_set(err, TC_EDEADLINE_EXCEEDED,
                        "no table named '%.200s' yet, and a rescan of the data dir could not end within "
                        "the call's deadline",
                        name);
  return ts_catalog_get(ctx->catalog, name, out, err);
}

static Tablecar__V1__TableInfo *table_info(ts_table *t, int full) {
  Tablecar__V1__TableInfo *ti = malloc(sizeof *ti);
  if (!ti) return NULL;
  tablecar__v1__table_info__init(ti);
  int ok = (ti->name = strdup(ts_table_name(t))) && (ti->version = strdup(ts_table_version(t)));
  ti->num_rows = ts_table_num_rows(t);
  ti->num_bytes = ts_table_num_bytes(t);
  if (ok && full) {
    ok = (ti->schema = ts_schema_to_proto(ts_table_schema(t))) != NULL;
    size_t n = ts_table_num_files(t);
    ok = ok && (ti->files = calloc(n, sizeof *ti->files)) != NULL;
    for (size_t i = 0; ok && i < n; i++, ti->n_files++) ok = (ti->files[i] = strdup(ts_table_file(t, i))) != NULL;
  }
  if (!ok) {
    protobuf_c_message_free_unpacked(&ti->base, NULL);
    return NULL;
  }
  return ti;
}

ts_status ts_h_list_tables(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  ts_catalog_refresh_nowait(ctx->catalog); /* a remote store down or slow: the last listing */
  ts_table **tables;
  size_t n;
  if (ts_catalog_list(ctx->catalog, &tables, &n, err) != TC_OK) return err->code;
  Tablecar__V1__ListTablesResponse *r = malloc(sizeof *r);
  ts_status st = TC_OK;
  if (r) {
    tablecar__v1__list_tables_response__init(r);
    r->tables = calloc(n ? n : 1, sizeof *r->tables);
  }
  if (!r || !r->tables) st = oom(err);
  for (size_t i = 0; st == TC_OK && i < n; i++, r->n_tables++)
    if (!(r->tables[i] = table_info(tables[i], 0))) st = oom(err);
  ts_catalog_list_free(tables, n);
  if (st != TC_OK) {
    if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
    return st;
  }
  *out = &r->base;
  return TC_OK;
}

ts_status ts_h_describe_table(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  const Tablecar__V1__DescribeTableRequest *r = (const void *)req;
  ts_table *t;
  if (get_table(ctx, r->table, &t, err) != TC_OK) return err->code;
  Tablecar__V1__TableInfo *ti = table_info(t, 1);
  ts_table_unref(t);
  if (!ti) return oom(err);
  *out = &ti->base;
  return TC_OK;
}

/* Gathers into the client's slot SHM; *out NULL (and no error) when the batch does not fit there. */
static ts_status gather_shm(ts_ctx *ctx, const Tablecar__V1__ShmTarget *shm, ts_table *t, const int64_t *rows, size_t n,
                            const size_t *cols, size_t nc, Tablecar__V1__Batch **out, ts_error *err) {
  ts_shm_slot slot;
  *out = NULL;
  if (ts_shm_slot_get(ctx->shm, shm->pool.data, shm->pool.len, shm->offset, shm->size, &slot, err) != TC_OK)
    return err->code;
  if (!slot.pool) return TC_OK; /* a pool that is gone: the message */
  ts_gather_dest dest = {.base = slot.base, .size = slot.size};
  ts_status st = ts_gather_into(t, rows, n, cols, nc, &dest, out, err);
  ts_shm_slot_done(ctx->shm, &slot);
  return st != TC_OK && dest.overflow ? TC_OK : st;
}

/* Gathers ROWS of T into *out, with the column selection COLUMNS: into the request's shared-memory slot
 * SHM when there is one and the batch fits it, else into the message. */
static ts_status gather_rows(ts_ctx *ctx, ts_table *t, const int64_t *rows, size_t n, char *const *columns,
                             size_t n_columns, int64_t offset, const Tablecar__V1__ShmTarget *shm,
                             ProtobufCMessage **out, ts_error *err) {
  size_t *cols, nc;
  if (ts_select_columns(ts_table_schema(t), columns, n_columns, &cols, &nc, err) != TC_OK) return err->code;
  Tablecar__V1__Batch *b = NULL;
  ts_status st = TC_OK;
  if (shm && ctx->shm) st = gather_shm(ctx, shm, t, rows, n, cols, nc, &b, err);
  if (st == TC_OK && !b) st = ts_gather(t, rows, n, cols, nc, ctx->max_message_bytes, &b, err);
  free(cols);
  if (st != TC_OK) return st;
  b->offset = offset;
  *out = &b->base;
  return TC_OK;
}

ts_status ts_h_take_rows(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  const Tablecar__V1__TakeRowsRequest *r = (const void *)req;
  ts_table *t;
  if (get_table(ctx, r->table, &t, err) != TC_OK) return err->code;
  ts_status st = TC_OK;
  if (r->version[0] && strcmp(r->version, ts_table_version(t)) != 0)
    st = ts_error_set(err, TC_EFAILED_PRECONDITION, "table '%.200s' is at version %s, not %.40s", r->table,
                      ts_table_version(t), r->version);
  int64_t n_rows = ts_table_num_rows(t);
  for (size_t i = 0; st == TC_OK && i < r->n_indices; i++)
    if (r->indices[i] < 0 || r->indices[i] >= n_rows)
      st = ts_error_set(err, TC_EOUT_OF_RANGE, "index %lld is out of range for table '%.200s' of %lld rows",
                        (long long)r->indices[i], r->table, (long long)n_rows);
  if (st == TC_OK) st = gather_rows(ctx, t, r->indices, r->n_indices, r->columns, r->n_columns, 0, r->shm, out, err);
  ts_table_unref(t);
  return st;
}

/* The PermutationInfo of E as the response, releasing E. */
static ts_status perm_reply(ts_perm_entry *e, ProtobufCMessage **out, ts_error *err) {
  Tablecar__V1__PermutationInfo *info = ts_perm_entry_info(e);
  ts_perm_entry_unref(e);
  if (!info) return oom(err);
  *out = &info->base;
  return TC_OK;
}

ts_status ts_h_create_permutation(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  const Tablecar__V1__CreatePermutationRequest *r = (const void *)req;
  ts_table *t; /* a first lookup, for the rescan of get_table and its errors */
  if (get_table(ctx, r->table, &t, err) != TC_OK) return err->code;
  ts_table_unref(t);
  ts_perm_entry *e;
  if (ts_perms_create(ctx->perms, r, &e, err) != TC_OK) return err->code;
  return perm_reply(e, out, err);
}

ts_status ts_h_describe_permutation(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  const Tablecar__V1__DescribePermutationRequest *r = (const void *)req;
  ts_perm_entry *e;
  if (ts_perms_get(ctx->perms, r->id, &e, err) != TC_OK) return err->code;
  return perm_reply(e, out, err);
}

/* The permutation and split a read names. */
static ts_status open_split(ts_ctx *ctx, const char *id, const char *split, ts_perm_entry **e, size_t *s, int64_t *len,
                            ts_error *err) {
  if (ts_perms_get(ctx->perms, id, e, err) != TC_OK) return err->code;
  if (ts_perm_entry_split(*e, split, s, err) != TC_OK) {
    ts_perm_entry_unref(*e);
    *e = NULL; /* ts_h_stream_open's cleanup unrefs s->perm again */
    return err->code;
  }
  *len = ts_perm_split_len(ts_perm_entry_perm(*e), *s);
  return TC_OK;
}

/* A batch whose row ids alone exceed the message limit: refused before anything is allocated for it. */
static ts_status too_many_rows(ts_ctx *ctx, ts_error *err) {
  return ts_error_set(err, TC_ERESOURCE_EXHAUSTED,
                      "the batch is larger than the server's --max-message-bytes (%zu): ask for fewer rows",
                      ctx->max_message_bytes);
}

/* Positions FIRST, FIRST + STEP, ... (N of them) of split S, as row ids. */
static int64_t *split_rows(const ts_perm_entry *e, size_t s, int64_t first, int64_t step, size_t n) {
  int64_t *rows = malloc((n ? n : 1) * sizeof *rows);
  for (size_t i = 0; rows && i < n; i++) rows[i] = ts_perm_row(ts_perm_entry_perm(e), s, first + (int64_t)i * step);
  return rows;
}

/* A remote table: the batches of this read's N rows (positions FIRST, FIRST + STEP, ... of split S) and of
 * the next reads' are fetched in the background, several at once, so the reads after this one find them. */
static void prefetch(const ts_perm_entry *e, size_t s, int64_t first, int64_t step, int64_t n) {
  ts_table *t = ts_perm_entry_table(e);
  if (!ts_table_is_remote(t)) return;
  int64_t len = ts_perm_split_len(ts_perm_entry_perm(e), s), k = n * 5 < 4096 ? n * 5 : 4096;
  if (step > 0 && (len - first + step - 1) / step < k) k = (len - first + step - 1) / step;
  int64_t *rows = k > 0 ? split_rows(e, s, first, step, (size_t)k) : NULL;
  if (rows) ts_table_prefetch_rows(t, rows, (size_t)k);
  free(rows);
}

ts_status ts_h_read_batch(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err) {
  const Tablecar__V1__ReadBatchRequest *r = (const void *)req;
  if (r->batch_size < 1)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "batch_size must be at least 1, not %lld", (long long)r->batch_size);
  if (r->offset < 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "offset must not be negative");
  ts_perm_entry *e;
  size_t s = 0;
  int64_t len = 0;
  if (open_split(ctx, r->permutation, r->split, &e, &s, &len, err) != TC_OK) return err->code;
  ts_status st = TC_OK;
  int64_t n = r->batch_size < len - r->offset ? r->batch_size : len - r->offset; /* rows to read */
  if (r->offset >= len) {
    st = ts_error_set(err, TC_EOUT_OF_RANGE, "offset %lld is past the end of split '%.200s' (%lld rows)",
                      (long long)r->offset, r->split, (long long)len);
  } else if ((uint64_t)n > ctx->max_message_bytes / sizeof(int64_t)) {
    st = too_many_rows(ctx, err);
  } else {
    prefetch(e, s, r->offset, 1, n);
    int64_t *rows = split_rows(e, s, r->offset, 1, (size_t)n);
    st = rows ? gather_rows(ctx, ts_perm_entry_table(e), rows, (size_t)n, r->columns, r->n_columns, r->offset, r->shm,
                            out, err)
              : oom(err);
    free(rows);
  }
  ts_perm_entry_unref(e);
  return st;
}

struct ts_stream {
  ts_ctx *ctx;
  ts_perm_entry *perm;
  size_t split;
  int64_t first, step; /* positions first + j * step of the split, j = 0 .. count-1 */
  int64_t count, next; /* next: the j of the next batch */
  int64_t batch_size;
  size_t *cols, n_cols;
};

void ts_h_stream_close(ts_stream *s) {
  if (!s) return;
  ts_perm_entry_unref(s->perm);
  free(s->cols);
  free(s);
}

static ts_status check_stream_args(const Tablecar__V1__StreamBatchesRequest *r, int64_t len, int64_t *end,
                                   int32_t *shards, ts_error *err) {
  *shards = r->shard_count ? r->shard_count : 1;
  *end = r->end ? r->end : len;
  if (r->batch_size < 1) return ts_error_set(err, TC_EINVALID_ARGUMENT, "batch_size must be at least 1");
  if (*shards < 1 || r->shard_index < 0 || r->shard_index >= *shards)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "shard_index %d is not in [0, shard_count %d)", r->shard_index,
                        *shards);
  if (r->start < 0 || *end < r->start)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "the range [%lld, %lld) is empty or negative", (long long)r->start,
                        (long long)*end);
  if (*end > len)
    return ts_error_set(err, TC_EOUT_OF_RANGE, "end %lld is past the end of the split (%lld rows)", (long long)*end,
                        (long long)len);
  return TC_OK;
}

ts_status ts_h_stream_open(ts_ctx *ctx, const ProtobufCMessage *req, ts_stream **out, ts_error *err) {
  const Tablecar__V1__StreamBatchesRequest *r = (const void *)req;
  ts_stream *s = calloc(1, sizeof *s);
  if (!s) return oom(err);
  s->ctx = ctx;
  int64_t len = 0, end = 0;
  int32_t shards;
  ts_status st = open_split(ctx, r->permutation, r->split, &s->perm, &s->split, &len, err);
  if (st == TC_OK) st = check_stream_args(r, len, &end, &shards, err);
  if (st == TC_OK)
    st = ts_select_columns(ts_table_schema(ts_perm_entry_table(s->perm)), r->columns, r->n_columns, &s->cols,
                           &s->n_cols, err);
  if (st != TC_OK) {
    ts_h_stream_close(s);
    return st;
  }
  s->first = r->start + r->shard_index;
  s->step = shards;
  s->count = end > s->first ? (end - s->first + shards - 1) / shards : 0;
  s->batch_size = r->batch_size;
  if ((uint64_t)(s->batch_size < s->count ? s->batch_size : s->count) > ctx->max_message_bytes / sizeof(int64_t)) {
    ts_h_stream_close(s);
    return too_many_rows(ctx, err);
  }
  *out = s;
  return TC_OK;
}

ts_status ts_h_stream_next(ts_stream *s, ProtobufCMessage **out, ts_error *err) {
  *out = NULL;
  if (s->next >= s->count) return TC_OK;
  int64_t n = s->batch_size < s->count - s->next ? s->batch_size : s->count - s->next;
  prefetch(s->perm, s->split, s->first + s->next * s->step, s->step, n);
  int64_t *rows = split_rows(s->perm, s->split, s->first + s->next * s->step, s->step, (size_t)n);
  if (!rows) return oom(err);
  Tablecar__V1__Batch *b;
  ts_status st =
      ts_gather(ts_perm_entry_table(s->perm), rows, (size_t)n, s->cols, s->n_cols, s->ctx->max_message_bytes, &b, err);
  free(rows);
  if (st != TC_OK) return st;
  b->offset = s->next;
  s->next += n;
  *out = &b->base;
  return TC_OK;
}
