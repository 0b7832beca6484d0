/* s3_util.h: the pure parts of talking to S3 (no curl, no libuv): s3:// URLs, the percent-encoding and
 * query order SigV4 signs, Content-Range headers, which failures are worth retrying and how long to wait.
 *
 * curl's CURLOPT_AWS_SIGV4 signs the query string exactly as it is written, while S3 canonicalizes it
 * (parameters sorted by name, RFC 3986-encoded): a query is only signed right when it is already in that
 * form, so every query is built here. */
#ifndef TS_S3_UTIL_H
#define TS_S3_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Splits "s3://BUCKET/PREFIX" into a bucket and a key prefix that is empty or ends with '/'. Returns 0, or
 * -1 with a message in err for anything else (no bucket, a bad bucket name, "..", empty components). Free
 * both with free(). */
int ts_s3_parse_url(const char *url, char **bucket, char **prefix, char *err, size_t errlen);

/* Nonzero when DATA_DIR names an object store ("s3://..."). */
int ts_s3_is_url(const char *data_dir);

/* Percent-encodes S as SigV4 wants (unreserved A-Z a-z 0-9 - . _ ~ kept; '/' kept when KEEP_SLASH).
 * Returns the length written (NUL-terminated), or -1 when CAP is too small. */
long ts_s3_encode(const char *s, int keep_slash, char *out, size_t cap);

/* The ListObjectsV2 query for PREFIX after TOKEN (NULL for the first page), sorted and encoded. -1 when
 * CAP is too small. */
long ts_s3_list_query(const char *prefix, const char *token, int max_keys, char *out, size_t cap);

/* "bytes START-END/TOTAL" -> its numbers; -1 when malformed or inconsistent. */
int ts_s3_content_range(const char *value, int64_t *start, int64_t *end, int64_t *total);

/* Whether a failed attempt is worth repeating: transport errors and timeouts (HTTP 0), 429, 5xx (S3's
 * 503 SlowDown is throttling). 4xx are final. */
int ts_s3_retryable(long http_status);

/* Milliseconds to wait before retry ATTEMPT (1, 2, ...): "full jitter", uniform in [0, min(cap, base *
 * 2^(attempt-1))], from the caller's random state. */
uint64_t ts_s3_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t *rng_state);

/* The status of a final failure: 403 -> PERMISSION_DENIED, 404 -> NOT_FOUND, 412 (the object changed
 * under us) -> ABORTED, timeouts -> DEADLINE_EXCEEDED, transport errors and 5xx -> UNAVAILABLE. */
ts_status ts_s3_status(long http_status, int timed_out);

#endif
