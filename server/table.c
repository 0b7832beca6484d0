/* table.c: see table.h. */
#include "table.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"

struct ts_table {
  atomic_int refs;
  char *name;
  char version[33];
  size_t n_files;
  char **files; /* relative to the data dir */
  at_file **frags;
  int64_t num_bytes;
  ts_cache *cache;
  int64_t n_batches;
  int64_t *batch_start;       /* n_batches + 1 global row positions */
  int32_t *batch_frag;        /* fragment of each batch */
  int32_t *batch_local;       /* index of each batch in its fragment */
  _Atomic(at_batch *) *views; /* batches that are views into a local file's mapping, decoded once and kept */
  int remote;                 /* some files are read on demand (ts_table_prefetch_rows) */
};

static char *join(const char *dir, const char *rel) {
  size_t n = strlen(dir) + strlen(rel) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, rel);
  return p;
}

static int stat_facts(const char *path, int64_t fact[5]) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  int64_t f[5] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ino,
                  (int64_t)st.st_dev};
  memcpy(fact, f, sizeof f);
  return 0;
}

int ts_table_files_version(const char *data_dir, char *const *files, size_t n, char out[33]) {
  return ts_table_files_version_io(NULL, data_dir, files, n, out);
}

int ts_table_files_version_io(const ts_table_io *io, const char *data_dir, char *const *files, size_t n, char out[33]) {
  uint64_t a = TS_FNV64_OFFSET, b = TS_FNV64_OFFSET ^ 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < n; i++) {
    char *path = join(data_dir, files[i]);
    int64_t fact[5] = {0};
    int rc = !path ? -1 : io ? io->facts(io->arg, path, fact) : stat_facts(path, fact);
    free(path);
    if (rc != 0) return -1;
    a = ts_fnv1a64(files[i], strlen(files[i]) + 1, a);
    a = ts_fnv1a64(fact, sizeof fact, a);
    b = ts_fnv1a64(fact, sizeof fact, b);
    b = ts_fnv1a64(files[i], strlen(files[i]) + 1, b);
  }
  snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, ts_mix64(a), ts_mix64(b));
  return 0;
}

static void table_free(ts_table *t) {
  if (t->cache) ts_cache_drop_owner(t->cache, t);
  for (int64_t i = 0; t->views && i < t->n_batches; i++) at_batch_free(atomic_load(&t->views[i]));
  for (size_t i = 0; t->frags && i < t->n_files; i++)
    if (t->frags[i]) at_file_close(t->frags[i]);
  for (size_t i = 0; t->files && i < t->n_files; i++) free(t->files[i]);
  free(t->files);
  free(t->frags);
  free(t->batch_start);
  free(t->batch_frag);
  free(t->batch_local);
  free(t->views);
  free(t->name);
  free(t);
}

/* Opens every fragment and checks it has the first one's schema. */
static ts_status open_frags(const ts_table_io *io, ts_table *t, const char *data_dir, ts_error *err) {
  for (size_t i = 0; i < t->n_files; i++) {
    char *path = join(data_dir, t->files[i]);
    char msg[400];
    if (!path) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    int rc =
        io ? io->open(io->arg, path, &t->frags[i], msg, sizeof msg) : at_file_open(path, &t->frags[i], msg, sizeof msg);
    struct stat st;
    if (rc == 0 && stat(path, &st) == 0) t->num_bytes += st.st_size;
    free(path);
    if (rc != 0) return ts_error_set(err, rc > 0 ? rc : TC_EDATA_LOSS, "table '%s': %s", t->name, msg);
    if (i > 0 && !at_schema_equal(at_file_schema(t->frags[0]), at_file_schema(t->frags[i])))
      return ts_error_set(err, TC_EFAILED_PRECONDITION, "table '%s': %s has a different schema than %s", t->name,
                          t->files[i], t->files[0]);
    t->n_batches += at_file_num_batches(t->frags[i]);
    t->remote |= at_file_source(t->frags[i]) != NULL;
  }
  return TC_OK;
}

static ts_status index_batches(ts_table *t, ts_error *err) {
  size_t n = (size_t)t->n_batches;
  t->batch_start = calloc(n + 1, sizeof *t->batch_start);
  t->batch_frag = calloc(n ? n : 1, sizeof *t->batch_frag);
  t->batch_local = calloc(n ? n : 1, sizeof *t->batch_local);
  t->views = calloc(n ? n : 1, sizeof *t->views);
  if (!t->batch_start || !t->batch_frag || !t->batch_local || !t->views)
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  size_t b = 0;
  for (size_t f = 0; f < t->n_files; f++)
    for (int i = 0; i < at_file_num_batches(t->frags[f]); i++, b++) {
      t->batch_frag[b] = (int32_t)f;
      t->batch_local[b] = i;
      t->batch_start[b + 1] = t->batch_start[b] + at_file_batch_rows(t->frags[f], i);
    }
  return TC_OK;
}

ts_status ts_table_open(const char *name, const char *data_dir, char *const *files, size_t n_files, ts_cache *cache,
                        ts_table **out, ts_error *err) {
  return ts_table_open_io(NULL, name, data_dir, files, n_files, cache, out, err);
}

ts_status ts_table_open_io(const ts_table_io *io, const char *name, const char *data_dir, char *const *files,
                           size_t n_files, ts_cache *cache, ts_table **out, ts_error *err) {
  ts_table *t = calloc(1, sizeof *t);
  if (!t) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  atomic_init(&t->refs, 1);
  t->cache = cache;
  t->name = strdup(name);
  t->files = calloc(n_files ? n_files : 1, sizeof *t->files);
  t->frags = calloc(n_files ? n_files : 1, sizeof *t->frags);
  ts_status st = TC_OK;
  if (!t->name || !t->files || !t->frags) st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; st == TC_OK && i < n_files; i++, t->n_files++)
    if (!(t->files[i] = strdup(files[i]))) st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  if (st == TC_OK && n_files == 0) st = ts_error_set(err, TC_EFAILED_PRECONDITION, "table '%s' has no files", name);
  /* Version first: a file that changes while we read it then gives a stale version, which the catalog's
   * next check notices, never a new version over old contents. */
  if (st == TC_OK && ts_table_files_version_io(io, data_dir, files, n_files, t->version) != 0)
    st = ts_error_set(err, TC_EDATA_LOSS, "table '%s': cannot stat its files", name);
  if (st == TC_OK) st = open_frags(io, t, data_dir, err);
  if (st == TC_OK) st = index_batches(t, err);
  if (st != TC_OK) {
    table_free(t);
    return st;
  }
  *out = t;
  return TC_OK;
}

void ts_table_ref(ts_table *t) { atomic_fetch_add(&t->refs, 1); }

void ts_table_unref(ts_table *t) {
  if (t && atomic_fetch_sub(&t->refs, 1) == 1) table_free(t);
}

const char *ts_table_name(const ts_table *t) { return t->name; }
const char *ts_table_version(const ts_table *t) { return t->version; }
const at_schema *ts_table_schema(const ts_table *t) { return at_file_schema(t->frags[0]); }
int64_t ts_table_num_rows(const ts_table *t) { return t->batch_start[t->n_batches]; }
size_t ts_table_num_files(const ts_table *t) { return t->n_files; }
const char *ts_table_file(const ts_table *t, size_t i) { return t->files[i]; }
int64_t ts_table_num_bytes(const ts_table *t) { return t->num_bytes; }
int64_t ts_table_num_batches(const ts_table *t) { return t->n_batches; }

int64_t ts_table_batch_of(const ts_table *t, int64_t row) {
  int64_t lo = 0, hi = t->n_batches - 1; /* last batch whose start <= row (empty batches skipped) */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (t->batch_start[mid] <= row)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

static void destroy_batch(void *b) { at_batch_free(b); }

ts_status ts_table_pin(ts_table *t, int64_t b, ts_batch_pin *out, ts_error *err) {
  *out = (ts_batch_pin){.first_row = t->batch_start[b], .end_row = t->batch_start[b + 1]};
  at_file *f = t->frags[t->batch_frag[b]];
  int local = t->batch_local[b];
  int owned = at_file_batch_is_owned(f, local);
  if (!owned && (out->batch = atomic_load(&t->views[b])) != NULL) return TC_OK;
  if (owned && (out->batch = ts_cache_get(t->cache, t, (uint64_t)b, &out->entry)) != NULL) return TC_OK;
  at_batch *fresh;
  char msg[400];
  int rc = at_file_read_batch(f, local, &fresh, msg, sizeof msg);
  if (rc != 0) return ts_error_set(err, rc > 0 ? rc : TC_EDATA_LOSS, "table '%s': %s", t->name, msg);
  if (!owned && at_file_source(f)) {
    /* A view of a remote file leases its bytes from the cache (remote_blob.h): kept only while pinned, so
     * that the cache may drop them afterwards. Reading it again is only its metadata's decoding. */
    out->batch = out->view = fresh;
    return TC_OK;
  }
  if (!owned) {
    at_batch *expected = NULL;
    if (!atomic_compare_exchange_strong(&t->views[b], &expected, fresh)) {
      at_batch_free(fresh); /* another thread decoded it first */
      fresh = expected;
    }
    out->batch = fresh;
    return TC_OK;
  }
  out->batch =
      ts_cache_put(t->cache, t, (uint64_t)b, fresh, fresh->owned_bytes + sizeof *fresh, destroy_batch, &out->entry);
  if (!out->batch) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory caching a batch");
  return TC_OK;
}

void ts_table_unpin(ts_table *t, ts_batch_pin *pin) {
  if (pin->entry) ts_cache_release(t->cache, pin->entry);
  at_batch_free(pin->view);
  pin->entry = NULL;
  pin->view = NULL;
  pin->batch = NULL;
}

int ts_table_is_remote(const ts_table *t) { return t->remote; }

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void ts_table_prefetch_rows(ts_table *t, const int64_t *rows, size_t n) {
  int64_t *bs = t->remote && n ? malloc(n * sizeof *bs) : NULL;
  if (!bs) return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (rows[i] >= 0 && rows[i] < ts_table_num_rows(t)) bs[k++] = ts_table_batch_of(t, rows[i]);
  qsort(bs, k, sizeof *bs, cmp_i64);
  for (size_t i = 0; i < k; i++) {
    int64_t b = bs[i];
    if ((i > 0 && bs[i - 1] == b) || atomic_load(&t->views[b])) continue; /* asked already, or decoded */
    at_file *f = t->frags[t->batch_frag[b]];
    const at_source *src = at_file_source(f);
    at_range r;
    if (src && src->prefetch && at_file_batch_range(f, t->batch_local[b], &r) == 0) src->prefetch(src->arg, &r, 1);
  }
  free(bs);
}
