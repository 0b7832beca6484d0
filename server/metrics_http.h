/* metrics_http.h: serves metrics.h's text over HTTP (libmicrohttpd, its own thread): GET /metrics. */
#ifndef TS_METRICS_HTTP_H
#define TS_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

typedef struct ts_metrics_http ts_metrics_http;

/* Fills the gauges at scrape time, from the HTTP thread (so it must be thread-safe). */
typedef void (*ts_metrics_gauges_fn)(void *arg, ts_metrics_gauges *out);

/* Listens on ADDR: "PORT" (every interface), "HOST:PORT" or "[IPV6]:PORT", numeric. NULL with a message in
 * err when the address is malformed or cannot be bound. */
ts_metrics_http *ts_metrics_http_start(const char *addr, ts_metrics_gauges_fn gauges, void *arg, char *err,
                                       size_t errlen);
void ts_metrics_http_stop(ts_metrics_http *h);

#endif
