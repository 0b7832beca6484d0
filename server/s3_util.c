/* s3_util.c: see s3_util.h. */
#include "s3_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

int ts_s3_is_url(const char *d) { return d && strncmp(d, "s3://", 5) == 0; }

/* S3 bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit. */
static int bucket_ok(const char *b, size_t n) {
  if (n < 3 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !((c == '.' || c == '-') && i > 0 && i + 1 < n)) return 0;
  }
  return 1;
}

static int prefix_ok(const char *p) {
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)p[i] < 0x20) return 0;
    p += n;
    if (*p == '/') p++;
  }
  return 1;
}

int ts_s3_parse_url(const char *url, char **bucket, char **prefix, char *err, size_t errlen) {
  *bucket = *prefix = NULL;
  if (!ts_s3_is_url(url)) {
    snprintf(err, errlen, "'%.200s' is not an s3://BUCKET/PREFIX URL", url);
    return -1;
  }
  const char *b = url + 5, *slash = strchr(b, '/');
  size_t bn = slash ? (size_t)(slash - b) : strlen(b);
  const char *p = slash ? slash + 1 : "";
  size_t pn = strlen(p);
  while (pn > 0 && p[pn - 1] == '/') pn--; /* one trailing '/' is added back below */
  char *pfx = malloc(pn + 2);
  if (!pfx) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  memcpy(pfx, p, pn);
  strcpy(pfx + pn, pn ? "/" : "");
  if (!bucket_ok(b, bn) || (pn && (pfx[pn] = '\0', !prefix_ok(pfx)))) {
    snprintf(err, errlen, "'%.200s': %s", url,
             bucket_ok(b, bn) ? "bad prefix (empty, '.' or '..' components)" : "bad bucket name");
    free(pfx);
    return -1;
  }
  if (pn) pfx[pn] = '/';
  if (!(*bucket = strndup(b, bn))) {
    free(pfx);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *prefix = pfx;
  return 0;
}

long ts_s3_encode(const char *s, int keep_slash, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
               *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/');
    if (n + (keep ? 1 : 3) >= cap) return -1;
    if (keep) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  if (n >= cap) return -1;
  out[n] = '\0';
  return (long)n;
}

/* Appends "NAME=encoded(VALUE)" (with '&' unless first) at *n. */
static int add_param(char *out, size_t cap, size_t *n, const char *name, const char *value) {
  int w = snprintf(out + *n, cap - *n, "%s%s=", *n ? "&" : "", name);
  if (w < 0 || (size_t)w >= cap - *n) return -1;
  *n += (size_t)w;
  long e = ts_s3_encode(value, 0, out + *n, cap - *n);
  if (e < 0) return -1;
  *n += (size_t)e;
  return 0;
}

long ts_s3_list_query(const char *prefix, const char *token, int max_keys, char *out, size_t cap) {
  char mk[24];
  snprintf(mk, sizeof mk, "%d", max_keys);
  size_t n = 0;
  if (cap == 0) return -1;
  out[0] = '\0';
  /* Sorted by name: continuation-token < list-type < max-keys < prefix. */
  if ((token && add_param(out, cap, &n, "continuation-token", token) != 0) ||
      add_param(out, cap, &n, "list-type", "2") != 0 ||
      (max_keys > 0 && add_param(out, cap, &n, "max-keys", mk) != 0) || add_param(out, cap, &n, "prefix", prefix) != 0)
    return -1;
  return (long)n;
}

int ts_s3_content_range(const char *v, int64_t *start, int64_t *end, int64_t *total) {
  char tail;
  if (!v || sscanf(v, " bytes %" SCNd64 "-%" SCNd64 "/%" SCNd64 "%c", start, end, total, &tail) != 3) return -1;
  return *start >= 0 && *end >= *start && *total > *end ? 0 : -1;
}

int ts_s3_retryable(long s) { return s == 0 || s == 408 || s == 429 || s >= 500; }

uint64_t ts_s3_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t *rng) {
  uint64_t ceiling = base_ms;
  for (int i = 1; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
  if (ceiling > cap_ms) ceiling = cap_ms;
  ts_rng r = {*rng};
  uint64_t d = ts_rng_below(&r, ceiling + 1);
  *rng = r.state;
  return d;
}

ts_status ts_s3_status(long s, int timed_out) {
  if (timed_out) return TC_EDEADLINE_EXCEEDED;
  if (s == 401 || s == 403) return TC_EPERMISSION_DENIED;
  if (s == 404) return TC_ENOT_FOUND;
  if (s == 412) return TC_EABORTED;
  if (s == 400 || s == 416) return TC_EINTERNAL;
  return TC_EUNAVAILABLE;
}
