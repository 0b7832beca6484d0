/* s3.c: see s3.h. Every request is one `xfer` run by a curl multi handle: a call starts its transfers (at
 * most max_inflight at once), polls them, and retries the ones that failed with a retryable status after
 * a jittered backoff, until each succeeds, fails for good, or the call's deadline passes. */
#include "s3.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3_util.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_LIST_BYTES ((size_t)64 << 20)
#define MAX_ERROR_BODY 4096

struct ts_s3 {
  char *bucket, *endpoint, *region, *access, *secret;
  char sigv4[128];
  struct curl_slist *base_headers; /* x-amz-content-sha256 (+ the session token) */
  CURLSH *share;
  pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
  atomic_uint_fast64_t requests;
  pthread_mutex_t rng_lock;
  uint64_t rng;
};

enum { WAITING, RUNNING, DONE };

typedef struct xfer {
  ts_s3 *s3;
  char *url;
  const char *key; /* for messages: s3://bucket/key */
  const char *if_match;
  int64_t start, len; /* len < 0: the whole body, into memory */
  int fd;
  char *mem;
  size_t mem_len;
  int64_t written;
  int failed_write;
  int state, attempts;
  int64_t not_before;
  long http; /* of the last attempt; 0: transport error */
  CURLcode cc;
  CURL *easy;
  struct curl_slist *headers;
  ts_status status;
  ts_error *err;
} xfer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg) {
  pthread_mutex_lock(&((ts_s3 *)arg)->locks[d]);
}
static void share_unlock(CURL *h, curl_lock_data d, void *arg) { pthread_mutex_unlock(&((ts_s3 *)arg)->locks[d]); }

static char *dup_env(const char *(*get)(const char *), const char *name, const char *dflt) {
  const char *v = get(name);
  return strdup(v && *v ? v : dflt ? dflt : "");
}

ts_s3 *ts_s3_new(const char *bucket, const char *(*get)(const char *), char *err, size_t errlen) {
  pthread_once(&global_once, global_init);
  const char *ak = get("AWS_ACCESS_KEY_ID"), *sk = get("AWS_SECRET_ACCESS_KEY");
  if (!ak || !*ak || !sk || !*sk) {
    snprintf(err, errlen, "s3://%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", bucket);
    return NULL;
  }
  ts_s3 *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->bucket = strdup(bucket);
  s->access = strdup(ak);
  s->secret = strdup(sk);
  s->region = dup_env(get, "AWS_REGION", get("AWS_DEFAULT_REGION") ? get("AWS_DEFAULT_REGION") : "us-east-1");
  s->endpoint = dup_env(get, "AWS_ENDPOINT_URL", NULL);
  size_t el = s->endpoint ? strlen(s->endpoint) : 0;
  while (el > 0 && s->endpoint[el - 1] == '/') s->endpoint[--el] = '\0';
  snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
  s->base_headers = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
  const char *token = get("AWS_SESSION_TOKEN");
  if (token && *token && s->base_headers) {
    char *h = malloc(strlen(token) + 32);
    if (h) {
      sprintf(h, "x-amz-security-token: %s", token);
      struct curl_slist *l = curl_slist_append(s->base_headers, h);
      if (l) s->base_headers = l;
      free(h);
    }
  }
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->locks[i], NULL);
  pthread_mutex_init(&s->rng_lock, NULL);
  s->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
  s->share = curl_share_init();
  if (s->share) {
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    /* Not the connection cache: calls run in several threads at once (reads, prefetches, listings), and
     * curl does not support sharing connections between concurrent threads (a listing was seen to hang).
     * Each call's transfers share its multi handle's connections; TLS sessions are resumed across calls. */
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  if (!s->bucket || !s->access || !s->secret || !s->region || !s->endpoint || !s->base_headers || !s->share) {
    snprintf(err, errlen, "s3://%s: cannot start the HTTP client", bucket);
    ts_s3_free(s);
    return NULL;
  }
  return s;
}

void ts_s3_free(ts_s3 *s) {
  if (!s) return;
  if (s->share) curl_share_cleanup(s->share);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->locks[i]);
  pthread_mutex_destroy(&s->rng_lock);
  curl_slist_free_all(s->base_headers);
  if (s->secret) memset(s->secret, 0, strlen(s->secret));
  free(s->bucket), free(s->endpoint), free(s->region), free(s->access), free(s->secret);
  free(s);
}

uint64_t ts_s3_requests(const ts_s3 *s) { return atomic_load(&((ts_s3 *)s)->requests); }

/* ENDPOINT/BUCKET/KEY (path-style) or https://BUCKET.s3.REGION.amazonaws.com/KEY, then ?QUERY. */
static char *make_url(const ts_s3 *s, const char *key, const char *query) {
  size_t cap = strlen(s->endpoint) + strlen(s->bucket) + strlen(s->region) + (key ? strlen(key) * 3 : 0) +
               (query ? strlen(query) : 0) + 64;
  char *url = malloc(cap);
  if (!url) return NULL;
  int n = *s->endpoint ? snprintf(url, cap, "%s/%s/", s->endpoint, s->bucket)
                       : snprintf(url, cap, "https://%s.s3.%s.amazonaws.com/", s->bucket, s->region);
  if (key && ts_s3_encode(key, 1, url + n, cap - (size_t)n) < 0) {
    free(url);
    return NULL;
  }
  if (query) {
    size_t l = strlen(url);
    snprintf(url + l, cap - l, "?%s", query);
  }
  return url;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
  xfer *x = arg;
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  int ok = code >= 200 && code < 300;
  if (ok && x->fd >= 0) {
    if (x->written + (int64_t)n > x->len || pwrite(x->fd, p, n, x->start + x->written) != (ssize_t)n) {
      x->failed_write = 1;
      return 0; /* more bytes than asked for, or a full disk: abort */
    }
    x->written += (int64_t)n;
    return n;
  }
  size_t limit = ok ? MAX_LIST_BYTES : MAX_ERROR_BODY;
  size_t take = x->mem_len + n > limit ? (x->mem_len < limit ? limit - x->mem_len : 0) : n;
  if (ok && take < n) {
    x->failed_write = 1;
    return 0;
  }
  char *grown = realloc(x->mem, x->mem_len + take + 1);
  if (!grown) return 0;
  x->mem = grown;
  memcpy(x->mem + x->mem_len, p, take);
  x->mem_len += take;
  x->mem[x->mem_len] = '\0';
  return n;
}

static int start_attempt(xfer *x, CURLM *multi, int64_t deadline) {
  ts_s3 *s = x->s3;
  x->written = 0;
  x->failed_write = 0;
  x->mem_len = 0;
  x->http = 0;
  if (!x->easy && !(x->easy = curl_easy_init())) return -1;
  CURL *e = x->easy;
  curl_easy_reset(e);
  int64_t left = deadline - now_ms();
  curl_easy_setopt(e, CURLOPT_URL, x->url);
  curl_easy_setopt(e, CURLOPT_SHARE, s->share);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s->sigv4);
  curl_easy_setopt(e, CURLOPT_USERNAME, s->access);
  curl_easy_setopt(e, CURLOPT_PASSWORD, s->secret);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(left > 1 && left < 5000 ? left : 5000));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled store: give up the attempt */
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 15L);
  if (x->len >= 0) {
    char range[64];
    snprintf(range, sizeof range, "%lld-%lld", (long long)x->start, (long long)(x->start + x->len - 1));
    curl_easy_setopt(e, CURLOPT_RANGE, range); /* copied by curl */
  }
  x->attempts++;
  x->state = RUNNING;
  atomic_fetch_add(&s->requests, 1);
  return curl_multi_add_handle(multi, e) == CURLM_OK ? 0 : -1;
}

/* S3's <Code> in an error body, for messages. */
static void error_code(const xfer *x, char *out, size_t cap) {
  const char *a = x->mem ? strstr(x->mem, "<Code>") : NULL, *b = a ? strstr(a, "</Code>") : NULL;
  int n = a && b && b - a - 6 < 64 ? (int)(b - a - 6) : 0;
  snprintf(out, cap, "%.*s", n, n ? a + 6 : "");
  for (char *p = out; *p; p++)
    if (*p < 0x20 || *p > 0x7e) *p = '?';
}

static int succeeded(const xfer *x) {
  if (x->cc != CURLE_OK) return 0;
  if (x->len >= 0) return x->http == 206 && x->written == x->len;
  return x->http == 200;
}

static void final_error(xfer *x, int64_t deadline) {
  ts_s3 *s = x->s3;
  int timed_out = x->cc == CURLE_OPERATION_TIMEDOUT;
  char code[80];
  error_code(x, code, sizeof code);
  if (x->failed_write && x->http >= 200 && x->http < 300) {
    x->status = ts_error_set(x->err, TC_EDATA_LOSS,
                             "s3://%s/%s: more bytes than asked for, or the local cache "
                             "cannot be written",
                             s->bucket, x->key ? x->key : "");
    return;
  }
  if (x->cc == CURLE_OK && x->http >= 200 && x->http < 300) {
    x->status = ts_error_set(x->err, TC_EDATA_LOSS, "s3://%s/%s: HTTP %ld with %lld of %lld bytes", s->bucket,
                             x->key ? x->key : "", x->http, (long long)x->written, (long long)x->len);
    return;
  }
  x->status = ts_s3_status(x->http, timed_out);
  if (x->http == 412)
    ts_error_set(x->err, TC_EABORTED, "s3://%s/%s changed while it was read (its ETag is no longer %s)", s->bucket,
                 x->key, x->if_match);
  else if (x->http == 0)
    ts_error_set(x->err, x->status, "s3://%s/%s: the store %s (%s; %d attempts)", s->bucket, x->key ? x->key : "",
                 timed_out ? "did not answer in time" : "is unreachable", curl_easy_strerror(x->cc), x->attempts);
  else
    ts_error_set(x->err, x->status, "s3://%s/%s: HTTP %ld%s%s%s (%d attempts)", s->bucket, x->key ? x->key : "",
                 x->http, *code ? " (" : "", code, *code ? ")" : "", x->attempts);
}

/* An attempt of X has ended: done, or waiting for its retry. */
static void finish_attempt(xfer *x, CURLM *multi, CURLcode cc, int64_t deadline) {
  ts_s3 *s = x->s3;
  curl_multi_remove_handle(multi, x->easy);
  x->cc = cc;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http);
  if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && x->failed_write))
    x->http = 0; /* a half-received answer counts as a transport error */
  if (succeeded(x)) {
    x->state = DONE;
    x->status = TC_OK;
    return;
  }
  pthread_mutex_lock(&s->rng_lock);
  uint64_t wait = ts_s3_backoff_ms(x->attempts, 50, 2000, &s->rng);
  pthread_mutex_unlock(&s->rng_lock);
  if (!x->failed_write && ts_s3_retryable(x->http) && now_ms() + (int64_t)wait < deadline) {
    x->state = WAITING;
    x->not_before = now_ms() + (int64_t)wait;
    return;
  }
  x->state = DONE;
  final_error(x, deadline);
}

/* Runs every transfer to its end. */
static void run(ts_s3 *s, xfer *xs, size_t n, int max_inflight, int64_t deadline) {
  CURLM *multi = curl_multi_init();
  if (!multi) {
    for (size_t i = 0; i < n; i++)
      xs[i].state = DONE, xs[i].status = ts_error_set(xs[i].err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_inflight);
  for (;;) {
    size_t running = 0, pending = 0;
    int64_t now = now_ms(), wake = deadline;
    for (size_t i = 0; i < n; i++) running += xs[i].state == RUNNING;
    for (size_t i = 0; i < n; i++) {
      xfer *x = &xs[i];
      if (x->state != WAITING) continue;
      if (now >= deadline && x->attempts > 0) {
        x->state = DONE; /* out of time between attempts: the last failure stands */
        final_error(x, deadline);
        continue;
      }
      pending++;
      if (x->not_before > now) {
        wake = x->not_before < wake ? x->not_before : wake;
      } else if (running < (size_t)max_inflight) {
        if (start_attempt(x, multi, deadline) != 0) {
          x->state = DONE;
          x->status = ts_error_set(x->err, TC_ERESOURCE_EXHAUSTED, "out of memory");
        } else {
          running++;
        }
      }
    }
    if (running == 0 && pending == 0) break;
    int still;
    curl_multi_perform(multi, &still);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL)
      if (m->msg == CURLMSG_DONE) {
        xfer *x;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finish_attempt(x, multi, m->data.result, deadline);
      }
    int64_t t = wake - now_ms();
    curl_multi_poll(multi, NULL, 0, t < 0 ? 0 : t > 200 ? 200 : (int)t, NULL);
  }
  curl_multi_cleanup(multi);
}

static void xfer_free(xfer *x) {
  if (x->easy) curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->headers);
  free(x->url);
  free(x->mem);
}

/* X's headers: the base ones, plus If-Match. NULL when out of memory. */
static struct curl_slist *headers_for(const ts_s3 *s, const char *if_match) {
  struct curl_slist *l = NULL;
  for (const struct curl_slist *h = s->base_headers; h; h = h->next) {
    struct curl_slist *g = curl_slist_append(l, h->data);
    if (!g) {
      curl_slist_free_all(l);
      return NULL;
    }
    l = g;
  }
  if (if_match && *if_match) {
    char buf[300];
    snprintf(buf, sizeof buf, "If-Match: %.256s", if_match);
    struct curl_slist *g = curl_slist_append(l, buf);
    if (!g) {
      curl_slist_free_all(l);
      return NULL;
    }
    l = g;
  }
  return l;
}

static ts_status list_page(ts_s3 *s, const char *prefix, const char *token, int64_t deadline, ts_s3_page *pg,
                           ts_error *err) {
  size_t qcap = 3 * (strlen(prefix) + (token ? strlen(token) : 0)) + 128;
  char *query = malloc(qcap);
  xfer x = {.s3 = s, .len = -1, .fd = -1, .err = err, .key = prefix};
  if (!query || ts_s3_list_query(prefix, token, 1000, query, qcap) < 0 || !(x.url = make_url(s, NULL, query)) ||
      !(x.headers = headers_for(s, NULL))) {
    free(query);
    xfer_free(&x);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  free(query);
  run(s, &x, 1, 1, deadline);
  ts_status st = x.status;
  if (st == TC_OK) {
    char msg[256];
    if (ts_s3_list_parse(x.mem ? x.mem : "", x.mem_len, pg, msg, sizeof msg) != 0)
      st = ts_error_set(err, TC_EUNAVAILABLE, "s3://%s/%s: %s", s->bucket, prefix, msg);
  }
  xfer_free(&x);
  return st;
}

static int append_page(ts_s3_page *all, ts_s3_page *pg) {
  ts_s3_object *v = realloc(all->objects, (all->n + pg->n + 1) * sizeof *v);
  if (!v) return -1;
  all->objects = v;
  memcpy(v + all->n, pg->objects, pg->n * sizeof *v);
  all->n += pg->n;
  free(pg->objects);
  pg->objects = NULL;
  pg->n = 0;
  return 0;
}

ts_status ts_s3_list(ts_s3 *s, const char *prefix, int64_t timeout_ms, ts_s3_page *out, ts_error *err) {
  int64_t deadline = now_ms() + timeout_ms;
  memset(out, 0, sizeof *out);
  char *token = NULL;
  ts_status st = TC_OK;
  do {
    ts_s3_page pg;
    st = list_page(s, prefix, token, deadline, &pg, err);
    free(token);
    token = NULL;
    if (st != TC_OK) break;
    if (append_page(out, &pg) != 0) {
      ts_s3_page_free(&pg);
      st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    token = pg.next_token;
    pg.next_token = NULL;
    ts_s3_page_free(&pg);
  } while (token);
  free(token);
  if (st != TC_OK) ts_s3_page_free(out);
  return st;
}

ts_status ts_s3_get_parts(ts_s3 *s, ts_s3_part *parts, size_t n, int max_inflight, int64_t timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  xfer *xs = calloc(n ? n : 1, sizeof *xs);
  if (!xs) {
    for (size_t i = 0; i < n; i++)
      parts[i].status = ts_error_set(&parts[i].error, TC_ERESOURCE_EXHAUSTED, "out of memory");
    return n ? TC_ERESOURCE_EXHAUSTED : TC_OK;
  }
  for (size_t i = 0; i < n; i++) {
    xfer *x = &xs[i];
    *x = (xfer){.s3 = s,
                .key = parts[i].key,
                .if_match = parts[i].etag,
                .start = parts[i].start,
                .len = parts[i].len,
                .fd = parts[i].fd,
                .err = &parts[i].error};
    if (!(x->url = make_url(s, parts[i].key, NULL)) || !(x->headers = headers_for(s, parts[i].etag))) {
      x->state = DONE;
      x->status = ts_error_set(x->err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    }
  }
  run(s, xs, n, max_inflight > 0 ? max_inflight : 1, deadline);
  ts_status first = TC_OK;
  for (size_t i = 0; i < n; i++) {
    parts[i].status = xs[i].status;
    if (first == TC_OK) first = xs[i].status;
    xfer_free(&xs[i]);
  }
  free(xs);
  return first;
}
