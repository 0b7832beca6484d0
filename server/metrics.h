/* metrics.h: the sidecar's Prometheus metrics. The counters are process-wide C11 atomics, cheap enough for
 * every call (one relaxed add each); ts_metrics_render writes them in Prometheus' text format (0.0.4).
 * Pure: no gRPC, no HTTP (metrics_http.c serves the text). */
#ifndef TS_METRICS_H
#define TS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

#define TS_METRICS_MAX_METHODS 15 /* the service's methods; one more slot counts unknown ones */
#define TS_METRICS_STATUSES 17    /* gRPC status codes 0..16 */

/* Names the methods (gRPC paths, "/pkg.Service/Method") that the other calls index; copied. N at most
 * TS_METRICS_MAX_METHODS. Index N (and any index out of range) is the "unknown" method. */
void ts_metrics_set_methods(const char *const *paths, size_t n);

/* A call ended with STATUS after SECONDS. */
void ts_metrics_call(int method, int status, double seconds);
/* Response bytes and rows sent by a call of METHOD. */
void ts_metrics_sent(int method, size_t bytes, uint64_t rows);
/* Streaming calls (StreamBatches, health Watch) open: +1 when one starts, -1 when it ends. */
void ts_metrics_streams(int delta);
/* A permutation was built (created, or made again from its spec). */
void ts_metrics_permutation_built(void);

/* What the owner of the cache and the server reports at scrape time. */
typedef struct ts_metrics_gauges {
  ts_cache_stats cache;
  size_t permutation_bytes; /* memory of the permutations held */
  long connections;         /* open client connections, -1 if unknown */
  size_t shm_pools;         /* clients' shared-memory pools mapped */
  size_t shm_bytes;         /* ... and their bytes */
  /* A remote data dir (remote != 0): the bytes its open files hold in the cache, and those dropped. */
  int remote;
  uint64_t remote_cache_bytes, remote_evicted_bytes;
} ts_metrics_gauges;

/* The whole exposition text (malloc'd, NUL-terminated, length in *len), or NULL when out of memory. */
char *ts_metrics_render(const ts_metrics_gauges *g, size_t *len);

/* Zeroes every counter (tests). */
void ts_metrics_reset(void);

#endif
