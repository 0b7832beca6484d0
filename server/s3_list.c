/* s3_list.c: see s3_list.h. */
#include "s3_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT 4096 /* S3 keys are at most 1024 bytes; tokens are shorter */

typedef struct span {
  const char *p;
  size_t n;
} span;

static const char *find(span s, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; k <= s.n && i <= s.n - k; i++)
    if (memcmp(s.p + i, needle, k) == 0) return s.p + i;
  return NULL;
}

/* The content of the first <TAG>...</TAG> in S (at *found = 1), advancing *rest past it. 0: no such
 * element; -1: opened and never closed. */
static int element(span s, const char *tag, span *content, span *rest) {
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *a = find(s, open);
  if (!a) return 0;
  span after = {a + strlen(open), s.n - (size_t)(a + strlen(open) - s.p)};
  const char *b = find(after, close);
  if (!b) return -1;
  *content = (span){after.p, (size_t)(b - after.p)};
  if (rest) {
    const char *end = b + strlen(close);
    *rest = (span){end, s.n - (size_t)(end - s.p)};
  }
  return 1;
}

static int put_utf8(char *out, size_t *n, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  if (cp < 0x80) {
    out[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*n)++] = (char)(0xC0 | (cp >> 6));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out[(*n)++] = (char)(0xE0 | (cp >> 12));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    out[(*n)++] = (char)(0xF0 | (cp >> 18));
    out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  }
  return 0;
}

/* Entity-decoded copy of S; NULL when malformed, too long, or holding control bytes (tab excepted). */
static char *text(span s) {
  if (s.n > MAX_TEXT) return NULL;
  char *out = malloc(s.n + 1);
  size_t n = 0;
  for (size_t i = 0; out && i < s.n;) {
    unsigned char c = (unsigned char)s.p[i];
    if (c == '<' || (c < 0x20 && c != '\t')) goto bad;
    if (c != '&') {
      out[n++] = (char)c;
      i++;
      continue;
    }
    const char *semi = memchr(s.p + i, ';', s.n - i);
    if (!semi || semi - (s.p + i) > 10) goto bad;
    size_t len = (size_t)(semi - (s.p + i)) + 1;
    static const char *const names[][2] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
    int done = 0;
    for (size_t k = 0; k < 5 && !done; k++)
      if (strlen(names[k][0]) == len && memcmp(s.p + i, names[k][0], len) == 0) out[n++] = names[k][1][0], done = 1;
    if (!done && len >= 4 && s.p[i + 1] == '#') {
      int hex = s.p[i + 2] == 'x';
      unsigned long cp = 0;
      size_t j = i + 2 + (size_t)hex;
      if (j >= i + len - 1) goto bad;
      for (; j < i + len - 1; j++) {
        char d = s.p[j];
        int v = d >= '0' && d <= '9'          ? d - '0'
                : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
                : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10
                                              : -1;
        if (v < 0 || cp > 0x10FFFF) goto bad;
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
      }
      /* A numeric reference is at most 10 bytes long and decodes to at most 4: it fits in place. */
      if (put_utf8(out, &n, cp) != 0 || (cp < 0x20 && cp != '\t')) goto bad;
      done = 1;
    }
    if (!done) goto bad;
    i += len;
  }
  if (!out) return NULL;
  out[n] = '\0';
  return out;
bad:
  free(out);
  return NULL;
}

static int parse_size(span s, int64_t *out) {
  if (s.n == 0 || s.n > 18) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return -1;
    v = v * 10 + (s.p[i] - '0');
  }
  *out = v;
  return 0;
}

static int fail(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "malformed ListObjectsV2 answer: %s", what);
  return -1;
}

static int add_object(ts_s3_page *pg, span c, size_t *cap, char *err, size_t errlen) {
  span key, etag, size;
  if (element(c, "Key", &key, NULL) != 1 || element(c, "Size", &size, NULL) != 1)
    return fail(err, errlen, "<Contents> without <Key> or <Size>");
  int has_etag = element(c, "ETag", &etag, NULL);
  if (has_etag < 0) return fail(err, errlen, "unclosed <ETag>");
  ts_s3_object o = {0};
  if (parse_size(size, &o.size) != 0) return fail(err, errlen, "bad <Size>");
  o.key = text(key);
  o.etag = text(has_etag ? etag : (span){"", 0});
  if (!o.key || !o.etag || !*o.key) {
    free(o.key);
    free(o.etag);
    return fail(err, errlen, "bad <Key> or <ETag> text");
  }
  if (pg->n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    ts_s3_object *v = realloc(pg->objects, ncap * sizeof *v);
    if (!v) {
      free(o.key);
      free(o.etag);
      return fail(err, errlen, "out of memory");
    }
    pg->objects = v;
    *cap = ncap;
  }
  pg->objects[pg->n++] = o;
  return 0;
}

int ts_s3_list_parse(const char *xml, size_t len, ts_s3_page *pg, char *err, size_t errlen) {
  memset(pg, 0, sizeof *pg);
  span all = {xml, len}, body, rest, c, t;
  if (memchr(xml, '\0', len)) return fail(err, errlen, "NUL byte");
  if (element(all, "ListBucketResult", &body, NULL) != 1) {
    /* Accept the namespaced opening tag S3 sends: <ListBucketResult xmlns="...">. */
    const char *a = find(all, "<ListBucketResult "), *gt;
    span tail = a ? (span){a, len - (size_t)(a - xml)} : all;
    const char *b = a ? find(tail, "</ListBucketResult>") : NULL;
    if (!a || !b || !(gt = memchr(a, '>', (size_t)(b - a)))) return fail(err, errlen, "no <ListBucketResult>");
    body = (span){gt + 1, (size_t)(b - gt - 1)};
  }
  size_t cap = 0;
  rest = body;
  int r;
  while ((r = element(rest, "Contents", &c, &rest)) == 1)
    if (add_object(pg, c, &cap, err, errlen) != 0) {
      ts_s3_page_free(pg);
      return -1;
    }
  if (r < 0) {
    ts_s3_page_free(pg);
    return fail(err, errlen, "unclosed <Contents>");
  }
  if (element(body, "IsTruncated", &t, NULL) == 1) pg->truncated = t.n == 4 && memcmp(t.p, "true", 4) == 0;
  if (pg->truncated) {
    if (element(body, "NextContinuationToken", &t, NULL) != 1 || !(pg->next_token = text(t)) || !*pg->next_token) {
      ts_s3_page_free(pg);
      return fail(err, errlen, "truncated without <NextContinuationToken>");
    }
  }
  return 0;
}

void ts_s3_page_free(ts_s3_page *pg) {
  for (size_t i = 0; i < pg->n; i++) {
    free(pg->objects[i].key);
    free(pg->objects[i].etag);
  }
  free(pg->objects);
  free(pg->next_token);
  memset(pg, 0, sizeof *pg);
}
