/* s3.h: an S3 client over libcurl: SigV4-signed ListObjectsV2 and ranged GETs, several in flight, each
 * retried with backoff and jitter on transport errors, timeouts, 429 and 5xx (503 SlowDown), within one
 * overall deadline. Credentials and endpoint come from the standard AWS environment:
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional), AWS_REGION (default us-east-1),
 *   AWS_ENDPOINT_URL (an S3-compatible store, addressed path-style: ENDPOINT/BUCKET/KEY).
 * Secrets are only handed to curl: no message or log line made here contains them.
 * Thread-safe: calls may run in several threads at once, each over its own connections (curl cannot share a
 * connection pool between concurrent threads); DNS and TLS sessions are shared. */
#ifndef TS_S3_H
#define TS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "s3_list.h"
#include "status.h"

typedef struct ts_s3 ts_s3;

/* A client for BUCKET. Returns NULL with a message when credentials are missing or curl cannot start. */
ts_s3 *ts_s3_new(const char *bucket, const char *(*getenv_fn)(const char *), char *err, size_t errlen);
void ts_s3_free(ts_s3 *s);

/* Every object whose key starts with PREFIX, all pages, in key order. TIMEOUT_MS bounds the whole call. */
ts_status ts_s3_list(ts_s3 *s, const char *prefix, int64_t timeout_ms, ts_s3_page *out, ts_error *err);

/* One ranged read: bytes [start, start + len) of KEY, written to FD at the same offset; the object must
 * still have ETAG (If-Match), or the part fails with ABORTED. */
typedef struct ts_s3_part {
  const char *key;
  const char *etag;
  int64_t start, len;
  int fd;
  ts_status status; /* out */
  ts_error error;   /* out, when status != TC_OK */
} ts_s3_part;

/* Runs every part, at most MAX_INFLIGHT at once, retrying each within TIMEOUT_MS overall. Returns TC_OK
 * when all succeeded, else the status of the first failed part (each part has its own). */
ts_status ts_s3_get_parts(ts_s3 *s, ts_s3_part *parts, size_t n, int max_inflight, int64_t timeout_ms);

/* Requests sent so far (attempts included): what the logs report. */
uint64_t ts_s3_requests(const ts_s3 *s);

#endif
