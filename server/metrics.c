/* metrics.c: see metrics.h. */
#include "metrics.h"

#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_METHODS (TS_METRICS_MAX_METHODS + 1)

/* Latency buckets in seconds: from a cached unary call (tens of microseconds) to a slow stream. */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define N_BOUNDS (sizeof bounds / sizeof *bounds)

typedef struct method_counters {
  atomic_ullong calls[TS_METRICS_STATUSES];
  atomic_ullong buckets[N_BOUNDS + 1]; /* per bucket, not cumulative; the last is +Inf */
  atomic_ullong nanos;                 /* sum of latencies */
  atomic_ullong bytes, rows;
} method_counters;

static struct {
  char names[N_METHODS][96]; /* "Service/Method" label values; set before any call is counted */
  size_t n;
  method_counters m[N_METHODS];
  atomic_llong streams;
  atomic_ullong permutations_built;
} M;

static const char *const status_names[TS_METRICS_STATUSES] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

void ts_metrics_set_methods(const char *const *paths, size_t n) {
  if (n > TS_METRICS_MAX_METHODS) n = TS_METRICS_MAX_METHODS;
  for (size_t i = 0; i < n; i++) /* "/tablecar.v1.Tablecar/ReadBatch": the label needs no leading '/' */
    snprintf(M.names[i], sizeof M.names[i], "%s", paths[i][0] == '/' ? paths[i] + 1 : paths[i]);
  snprintf(M.names[n], sizeof M.names[n], "unknown");
  M.n = n;
}

static method_counters *slot(int method) { return &M.m[method >= 0 && (size_t)method < M.n ? (size_t)method : M.n]; }

void ts_metrics_call(int method, int status, double seconds) {
  method_counters *m = slot(method);
  if (status < 0 || status >= TS_METRICS_STATUSES) status = 2; /* UNKNOWN */
  atomic_fetch_add_explicit(&m->calls[status], 1, memory_order_relaxed);
  size_t b = 0;
  while (b < N_BOUNDS && seconds > bounds[b]) b++;
  atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->nanos, (unsigned long long)(seconds > 0 ? seconds * 1e9 : 0), memory_order_relaxed);
}

void ts_metrics_sent(int method, size_t bytes, uint64_t rows) {
  method_counters *m = slot(method);
  atomic_fetch_add_explicit(&m->bytes, bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->rows, rows, memory_order_relaxed);
}

void ts_metrics_streams(int delta) { atomic_fetch_add_explicit(&M.streams, delta, memory_order_relaxed); }

void ts_metrics_permutation_built(void) { atomic_fetch_add_explicit(&M.permutations_built, 1, memory_order_relaxed); }

void ts_metrics_reset(void) {
  for (size_t i = 0; i < N_METHODS; i++) {
    method_counters *m = &M.m[i];
    for (size_t s = 0; s < TS_METRICS_STATUSES; s++) atomic_store(&m->calls[s], 0);
    for (size_t b = 0; b <= N_BOUNDS; b++) atomic_store(&m->buckets[b], 0);
    atomic_store(&m->nanos, 0);
    atomic_store(&m->bytes, 0);
    atomic_store(&m->rows, 0);
  }
  atomic_store(&M.streams, 0);
  atomic_store(&M.permutations_built, 0);
}

/* ---- rendering ------------------------------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
  int failed;
} buf;

static void put(buf *b, const char *fmt, ...) {
  for (;;) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)n;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
}

static void family(buf *b, const char *name, const char *type, const char *help) {
  put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long get(atomic_ullong *a) { return atomic_load_explicit(a, memory_order_relaxed); }

static void render_calls(buf *b) {
  family(b, "tablecar_calls_total", "counter", "gRPC calls finished, by method and status code.");
  for (size_t i = 0; i <= M.n; i++)
    for (size_t s = 0; s < TS_METRICS_STATUSES; s++) {
      unsigned long long v = get(&M.m[i].calls[s]);
      if (v) put(b, "tablecar_calls_total{method=\"%s\",code=\"%s\"} %llu\n", M.names[i], status_names[s], v);
    }
}

static void render_latency(buf *b) {
  family(b, "tablecar_call_duration_seconds", "histogram",
         "Time from a call's arrival to its end (the last message taken by the transport), by method.");
  for (size_t i = 0; i <= M.n; i++) {
    method_counters *m = &M.m[i];
    unsigned long long cum = 0;
    for (size_t k = 0; k < N_BOUNDS; k++) {
      cum += get(&m->buckets[k]);
      put(b, "tablecar_call_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n", M.names[i], bounds[k], cum);
    }
    cum += get(&m->buckets[N_BOUNDS]);
    put(b, "tablecar_call_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n", M.names[i], cum);
    put(b, "tablecar_call_duration_seconds_sum{method=\"%s\"} %.9f\n", M.names[i], (double)get(&m->nanos) / 1e9);
    put(b, "tablecar_call_duration_seconds_count{method=\"%s\"} %llu\n", M.names[i], cum);
  }
}

static void render_sent(buf *b) {
  family(b, "tablecar_sent_bytes_total", "counter", "Response message bytes sent, by method.");
  for (size_t i = 0; i <= M.n; i++)
    put(b, "tablecar_sent_bytes_total{method=\"%s\"} %llu\n", M.names[i], get(&M.m[i].bytes));
  family(b, "tablecar_rows_served_total", "counter", "Table rows sent in batches, by method.");
  for (size_t i = 0; i <= M.n; i++)
    put(b, "tablecar_rows_served_total{method=\"%s\"} %llu\n", M.names[i], get(&M.m[i].rows));
}

static void render_gauges(buf *b, const ts_metrics_gauges *g) {
  family(b, "tablecar_cache_hits_total", "counter", "Record batch cache hits.");
  put(b, "tablecar_cache_hits_total %llu\n", (unsigned long long)g->cache.hits);
  family(b, "tablecar_cache_misses_total", "counter", "Record batch cache misses (a batch read and decoded).");
  put(b, "tablecar_cache_misses_total %llu\n", (unsigned long long)g->cache.misses);
  family(b, "tablecar_cache_evictions_total", "counter", "Record batches evicted from the cache.");
  put(b, "tablecar_cache_evictions_total %llu\n", (unsigned long long)g->cache.evictions);
  family(b, "tablecar_cache_bytes", "gauge", "Bytes of decoded record batches in the cache.");
  put(b, "tablecar_cache_bytes %zu\n", g->cache.bytes);
  family(b, "tablecar_cache_max_bytes", "gauge", "The cache's budget (--cache-bytes).");
  put(b, "tablecar_cache_max_bytes %zu\n", g->cache.max_bytes);
  family(b, "tablecar_cache_entries", "gauge", "Record batches in the cache.");
  put(b, "tablecar_cache_entries %zu\n", g->cache.entries);
  family(b, "tablecar_permutations_built_total", "counter",
         "Permutations built (created, or made again from their spec).");
  put(b, "tablecar_permutations_built_total %llu\n", get(&M.permutations_built));
  family(b, "tablecar_permutation_bytes", "gauge", "Memory of the permutations held (--permutation-bytes).");
  put(b, "tablecar_permutation_bytes %zu\n", g->permutation_bytes);
  family(b, "tablecar_streams_open", "gauge", "Streaming calls open (StreamBatches, health Watch).");
  put(b, "tablecar_streams_open %lld\n", (long long)atomic_load_explicit(&M.streams, memory_order_relaxed));
  if (g->connections >= 0) {
    family(b, "tablecar_connections_open", "gauge", "Client connections open.");
    put(b, "tablecar_connections_open %ld\n", g->connections);
  }
  family(b, "tablecar_shm_pools", "gauge", "Clients' shared-memory pools mapped (--shm-bytes).");
  put(b, "tablecar_shm_pools %zu\n", g->shm_pools);
  family(b, "tablecar_shm_bytes", "gauge", "Bytes of the clients' shared-memory pools mapped.");
  put(b, "tablecar_shm_bytes %zu\n", g->shm_bytes);
  if (g->remote) {
    family(b, "tablecar_remote_cache_bytes", "gauge",
           "Bytes of remote Arrow objects the open files hold in --remote-cache-dir (kept within "
           "--remote-cache-bytes).");
    put(b, "tablecar_remote_cache_bytes %llu\n", (unsigned long long)g->remote_cache_bytes);
    family(b, "tablecar_remote_evicted_bytes_total", "counter",
           "Bytes of remote Arrow objects dropped from the cache to keep --remote-cache-bytes.");
    put(b, "tablecar_remote_evicted_bytes_total %llu\n", (unsigned long long)g->remote_evicted_bytes);
  }
  family(b, "tablecar_build_info", "gauge", "Version of tablecar-server; always 1.");
  put(b, "tablecar_build_info{version=\"%s\"} 1\n", TS_VERSION);
}

char *ts_metrics_render(const ts_metrics_gauges *g, size_t *len) {
  buf b = {.cap = 16384};
  if (!(b.p = malloc(b.cap))) return NULL;
  render_calls(&b);
  render_latency(&b);
  render_sent(&b);
  render_gauges(&b, g);
  if (b.failed) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}
