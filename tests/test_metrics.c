/* Unit tests for server/metrics.c: the counters and their Prometheus text (0.0.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"

static const char *const paths[] = {"/tablecar.v1.Tablecar/ReadBatch", "/grpc.health.v1.Health/Check"};

static char *render(void) {
  ts_metrics_gauges g = {.cache = {.bytes = 123, .max_bytes = 1024, .entries = 2, .hits = 5, .misses = 3},
                         .permutation_bytes = 40,
                         .connections = -1};
  size_t len;
  char *text = ts_metrics_render(&g, &len);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  return text;
}

static void has(const char *text, const char *line) {
  if (!strstr(text, line)) fail_msg("missing line: %s", line);
}

static void test_counts_and_text(void **state) {
  ts_metrics_reset();
  ts_metrics_set_methods(paths, 2);
  ts_metrics_call(0, 0, 0.0002); /* ReadBatch OK, in the 0.00025 bucket */
  ts_metrics_call(0, 0, 3.0);    /* ... in the 5 bucket */
  ts_metrics_call(0, 5, 0.01);   /* NOT_FOUND */
  ts_metrics_call(7, 12, 0.001); /* an index out of range: the unknown method */
  ts_metrics_call(1, 99, 0.001); /* a status out of range: UNKNOWN */
  ts_metrics_sent(0, 1000, 64);
  ts_metrics_sent(0, 24, 0);
  ts_metrics_streams(1);
  ts_metrics_streams(1);
  ts_metrics_streams(-1);
  ts_metrics_permutation_built();
  char *t = render();
  has(t, "# TYPE tablecar_calls_total counter\n");
  has(t, "tablecar_calls_total{method=\"tablecar.v1.Tablecar/ReadBatch\",code=\"OK\"} 2\n");
  has(t, "tablecar_calls_total{method=\"tablecar.v1.Tablecar/ReadBatch\",code=\"NOT_FOUND\"} 1\n");
  has(t, "tablecar_calls_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 1\n");
  has(t, "tablecar_calls_total{method=\"grpc.health.v1.Health/Check\",code=\"UNKNOWN\"} 1\n");
  has(t, "# TYPE tablecar_call_duration_seconds histogram\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"0.0001\"} 0\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"0.00025\"} 1\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"0.01\"} 2\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"2.5\"} 2\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"5\"} 3\n");
  has(t, "tablecar_call_duration_seconds_bucket{method=\"tablecar.v1.Tablecar/ReadBatch\",le=\"+Inf\"} 3\n");
  has(t, "tablecar_call_duration_seconds_count{method=\"tablecar.v1.Tablecar/ReadBatch\"} 3\n");
  has(t, "tablecar_call_duration_seconds_sum{method=\"tablecar.v1.Tablecar/ReadBatch\"} 3.010200000\n");
  has(t, "tablecar_sent_bytes_total{method=\"tablecar.v1.Tablecar/ReadBatch\"} 1024\n");
  has(t, "tablecar_rows_served_total{method=\"tablecar.v1.Tablecar/ReadBatch\"} 64\n");
  has(t, "tablecar_cache_hits_total 5\n");
  has(t, "tablecar_cache_misses_total 3\n");
  has(t, "tablecar_cache_bytes 123\n");
  has(t, "tablecar_permutations_built_total 1\n");
  has(t, "tablecar_permutation_bytes 40\n");
  has(t, "tablecar_streams_open 1\n");
  has(t, "tablecar_build_info{version=\"" TS_VERSION "\"} 1\n"); /* the public header's version */
  assert_null(strstr(t, "tablecar_connections_open"));           /* unknown: not made up */
  assert_int_equal(t[strlen(t) - 1], '\n');
  free(t);
  ts_metrics_gauges g = {.connections = 3};
  size_t len;
  t = ts_metrics_render(&g, &len);
  has(t, "tablecar_connections_open 3\n");
  free(t);
}

static void *hammer(void *arg) {
  for (int i = 0; i < 100000; i++) {
    ts_metrics_call(0, 0, 0.001);
    ts_metrics_sent(0, 10, 1);
  }
  return NULL;
}

/* Counters from many threads lose nothing. */
static void test_threads(void **state) {
  ts_metrics_reset();
  ts_metrics_set_methods(paths, 2);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, hammer, NULL);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  char *t = render();
  has(t, "tablecar_calls_total{method=\"tablecar.v1.Tablecar/ReadBatch\",code=\"OK\"} 400000\n");
  has(t, "tablecar_rows_served_total{method=\"tablecar.v1.Tablecar/ReadBatch\"} 400000\n");
  has(t, "tablecar_sent_bytes_total{method=\"tablecar.v1.Tablecar/ReadBatch\"} 4000000\n");
  free(t);
}

/* The remote cache's gauge and counter: rendered for a remote data dir only. */
static void test_remote(void **state) {
  ts_metrics_gauges g = {.connections = -1, .remote = 1, .remote_cache_bytes = 4096, .remote_evicted_bytes = 77};
  size_t len;
  char *text = ts_metrics_render(&g, &len);
  assert_non_null(text);
  has(text, "# TYPE tablecar_remote_cache_bytes gauge\n");
  has(text, "\ntablecar_remote_cache_bytes 4096\n");
  has(text, "# TYPE tablecar_remote_evicted_bytes_total counter\n");
  has(text, "\ntablecar_remote_evicted_bytes_total 77\n");
  free(text);
  g.remote = 0;
  text = ts_metrics_render(&g, &len);
  assert_null(strstr(text, "tablecar_remote_"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts_and_text),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_remote),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
