/* remote_blob.c: see remote_blob.h. */
#define _XOPEN_SOURCE 700
#include "remote_blob.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "call_deadline.h"
#include "log.h"
#include "remote_ranges.h"

#define PART_BYTES ((int64_t)8 << 20)
#define MAX_INFLIGHT 8
#define MAX_META 4096
/* Prefetching: threads that fetch ahead, queued ranges (beyond this they are dropped), ranges per fetch. */
#define PREFETCH_THREADS 2
#define PREFETCH_QUEUE 1024
#define PREFETCH_BATCH 32

typedef struct blob {
  struct blob *next;
  ts_rblobs *owner;
  int refs; /* under owner->lock */
  char name[33];
  char *key, *etag;
  int64_t size;
  int fd, log_fd;
  pthread_mutex_t lock; /* guards have and busy */
  pthread_cond_t done;  /* a fetch ended: busy shrank */
  ts_ranges have;       /* merged: on disk, logged */
  ts_ranges busy;       /* not merged: each span one fetch in progress */
} blob;

typedef struct queued {
  blob *b; /* referenced */
  at_range r;
} queued;

struct ts_rblobs {
  ts_s3 *s3;
  char *bucket, *dir;
  int64_t timeout_ms;
  pthread_mutex_t lock; /* guards open, the queue and the threads */
  blob *open;
  atomic_uint_fast64_t fetched;
  pthread_cond_t work;
  queued queue[PREFETCH_QUEUE]; /* a ring */
  size_t q_head, q_len;
  int stopping, n_threads;
  pthread_t threads[PREFETCH_THREADS];
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *path_of(const char *dir, const char *name, const char *ext) {
  size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s", dir, name, ext);
  return p;
}

ts_rblobs *ts_rblobs_new(ts_s3 *s3, const char *bucket, const char *blobs_dir, int64_t timeout_ms) {
  ts_rblobs *bs = calloc(1, sizeof *bs);
  if (!bs || !(bs->dir = strdup(blobs_dir)) || !(bs->bucket = strdup(bucket))) {
    if (bs) free(bs->dir);
    free(bs);
    return NULL;
  }
  bs->s3 = s3;
  bs->timeout_ms = timeout_ms;
  pthread_mutex_init(&bs->lock, NULL);
  pthread_cond_init(&bs->work, NULL);
  return bs;
}

static void blob_release(void *arg);

void ts_rblobs_free(ts_rblobs *bs) {
  if (!bs) return;
  pthread_mutex_lock(&bs->lock);
  bs->stopping = 1;
  pthread_cond_broadcast(&bs->work);
  pthread_mutex_unlock(&bs->lock);
  for (int i = 0; i < bs->n_threads; i++) pthread_join(bs->threads[i], NULL);
  for (; bs->q_len; bs->q_len--, bs->q_head = (bs->q_head + 1) % PREFETCH_QUEUE) blob_release(bs->queue[bs->q_head].b);
  pthread_cond_destroy(&bs->work);
  pthread_mutex_destroy(&bs->lock);
  free(bs->dir);
  free(bs->bucket);
  free(bs);
}

uint64_t ts_rblobs_fetched_bytes(const ts_rblobs *bs) { return atomic_load(&((ts_rblobs *)bs)->fetched); }

/* ---------------------------------------------------------------------------------------------------- */
/* Making blobs */

/* Writes N bytes to DIR/NAME atomically (a temporary file renamed). */
static int write_file(const char *dir, const char *name, const char *ext, const void *p, size_t n, int64_t size) {
  char *path = path_of(dir, name, ext), tmp[PATH_MAX];
  if (!path) return -1;
  static atomic_uint counter;
  snprintf(tmp, sizeof tmp, "%s/.tmp-%s%s-%ld-%u", dir, name, ext, (long)getpid(), atomic_fetch_add(&counter, 1));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = -1;
  if (fd >= 0) {
    rc = (n == 0 || write(fd, p, n) == (ssize_t)n) && (size < 0 || ftruncate(fd, size) == 0) ? 0 : -1;
    if (close(fd) != 0) rc = -1;
    if (rc == 0) rc = rename(tmp, path);
    if (rc != 0) unlink(tmp);
  }
  free(path);
  return rc;
}

int ts_rblob_exists(const char *dir, const char *name, int64_t size) {
  char *data = path_of(dir, name, ""), *meta = path_of(dir, name, ".meta");
  struct stat st;
  int ok = data && meta && stat(data, &st) == 0 && st.st_size == size && access(meta, R_OK) == 0;
  free(data);
  free(meta);
  return ok;
}

int ts_rblob_create(const char *dir, const char *name, const char *key, const char *etag, int64_t size) {
  if (ts_rblob_exists(dir, name, size)) return 0;
  char meta[MAX_META];
  int n = snprintf(meta, sizeof meta, "%s\n%s", etag, key);
  if (n < 0 || (size_t)n >= sizeof meta || strchr(etag, '\n')) {
    errno = ENAMETOOLONG;
    return -1;
  }
  /* The log first (empty), then the meta, then the data file: a blob is only seen whole. */
  if (write_file(dir, name, ".have", NULL, 0, -1) != 0 || write_file(dir, name, ".meta", meta, (size_t)n, -1) != 0)
    return -1;
  return write_file(dir, name, "", NULL, 0, size);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Opening */

static void blob_free(blob *b) {
  if (b->fd >= 0) close(b->fd);
  if (b->log_fd >= 0) close(b->log_fd);
  pthread_mutex_destroy(&b->lock);
  pthread_cond_destroy(&b->done);
  ts_ranges_free(&b->have);
  ts_ranges_free(&b->busy);
  free(b->key);
  free(b->etag);
  free(b);
}

static int read_meta(blob *b, const char *dir) {
  char *path = path_of(dir, b->name, ".meta"), buf[MAX_META + 1];
  int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  free(path);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, MAX_META);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (!nl) return -1;
  *nl = '\0';
  b->etag = strdup(buf);
  b->key = strdup(nl + 1);
  return b->etag && b->key ? 0 : -1;
}

/* The ranges the log says were fetched; a torn last record (a crash while appending) is ignored. */
static int read_log(blob *b) {
  int64_t rec[2];
  off_t at = 0;
  while (pread(b->log_fd, rec, sizeof rec, at) == (ssize_t)sizeof rec) {
    at += (off_t)sizeof rec;
    if (rec[0] >= 0 && rec[1] > 0 && rec[0] <= b->size && rec[1] <= b->size - rec[0] &&
        ts_ranges_add(&b->have, rec[0], rec[0] + rec[1]) != 0)
      return -1;
  }
  return 0;
}

static blob *blob_load(ts_rblobs *bs, const char *name) {
  blob *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->fd = b->log_fd = -1;
  pthread_mutex_init(&b->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->done, &ca);
  pthread_condattr_destroy(&ca);
  b->owner = bs;
  b->refs = 1;
  snprintf(b->name, sizeof b->name, "%s", name);
  char *data = path_of(bs->dir, name, ""), *log = path_of(bs->dir, name, ".have");
  struct stat st;
  int ok = data && log && read_meta(b, bs->dir) == 0 && (b->fd = open(data, O_RDWR | O_CLOEXEC)) >= 0 &&
           fstat(b->fd, &st) == 0 && (b->size = st.st_size, 1) &&
           (b->log_fd = open(log, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) >= 0 && read_log(b) == 0;
  free(data);
  free(log);
  if (!ok) {
    blob_free(b);
    return NULL;
  }
  return b;
}

static void blob_release(void *arg) {
  blob *b = arg;
  ts_rblobs *bs = b->owner;
  pthread_mutex_lock(&bs->lock);
  int last = --b->refs == 0;
  if (last)
    for (blob **p = &bs->open; *p; p = &(*p)->next)
      if (*p == b) {
        *p = b->next;
        break;
      }
  pthread_mutex_unlock(&bs->lock);
  if (last) blob_free(b);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Fetching */

static int overlaps(const ts_ranges *busy, const ts_ranges *want) {
  for (size_t i = 0; i < busy->n; i++)
    for (size_t j = 0; j < want->n; j++)
      if (busy->v[i].start < want->v[j].end && want->v[j].start < busy->v[i].end) return 1;
  return 0;
}

/* BUSY is not merged: each span stays as one fetch added it, to be removed when that fetch ends. */
static int busy_add(ts_ranges *busy, const ts_span *s) {
  if (busy->n == busy->cap) {
    size_t cap = busy->cap ? busy->cap * 2 : 8;
    ts_span *v = realloc(busy->v, cap * sizeof *v);
    if (!v) return -1;
    busy->v = v, busy->cap = cap;
  }
  busy->v[busy->n++] = *s;
  return 0;
}

static void busy_remove(ts_ranges *busy, const ts_span *s) {
  for (size_t i = 0; i < busy->n; i++)
    if (busy->v[i].start == s->start && busy->v[i].end == s->end) {
      busy->v[i] = busy->v[--busy->n];
      return;
    }
}

/* Fetches the spans of MISS (unlocked), then, locked, records what arrived: 0 or the first failure. */
static int fetch_spans(blob *b, const ts_ranges *miss, int64_t deadline, char *err, size_t errlen) {
  size_t n = 0;
  for (size_t i = 0; i < miss->n; i++) n += (size_t)((miss->v[i].end - miss->v[i].start + PART_BYTES - 1) / PART_BYTES);
  ts_s3_part *parts = calloc(n ? n : 1, sizeof *parts);
  int64_t *rec = calloc(2 * (n ? n : 1), sizeof *rec);
  if (!parts || !rec) {
    free(parts), free(rec);
    pthread_mutex_lock(&b->lock);
    snprintf(err, errlen, "out of memory");
    return TC_ERESOURCE_EXHAUSTED;
  }
  size_t k = 0;
  for (size_t i = 0; i < miss->n; i++)
    for (int64_t at = miss->v[i].start; at < miss->v[i].end; at += PART_BYTES, k++) {
      int64_t len = miss->v[i].end - at < PART_BYTES ? miss->v[i].end - at : PART_BYTES;
      parts[k] = (ts_s3_part){.key = b->key, .etag = b->etag, .start = at, .len = len, .fd = b->fd};
    }
  int64_t left = deadline - now_ms();
  ts_s3_get_parts(b->owner->s3, parts, k, MAX_INFLIGHT, left > 1 ? left : 1);
  int rc = TC_OK, synced = fdatasync(b->fd) == 0;
  size_t nrec = 0;
  for (size_t i = 0; i < k; i++) {
    if (parts[i].status != TC_OK) {
      if (rc == TC_OK) rc = parts[i].status, snprintf(err, errlen, "%s", parts[i].error.msg);
      continue;
    }
    atomic_fetch_add(&b->owner->fetched, (uint64_t)parts[i].len);
    rec[2 * nrec] = parts[i].start, rec[2 * nrec + 1] = parts[i].len, nrec++;
  }
  pthread_mutex_lock(&b->lock);
  for (size_t i = 0; i < nrec; i++)
    if (ts_ranges_add(&b->have, rec[2 * i], rec[2 * i] + rec[2 * i + 1]) != 0 && rc == TC_OK)
      rc = TC_ERESOURCE_EXHAUSTED, snprintf(err, errlen, "out of memory");
  /* Logged only once on disk: a restart must not trust bytes a crash lost. Not logged: fetched again. */
  if (synced && nrec) {
    ssize_t w = write(b->log_fd, rec, nrec * 2 * sizeof *rec);
    (void)w;
  }
  free(parts);
  free(rec);
  return rc;
}

/* The spans of the N ranges that are not in the cache, merged. */
static int missing(const blob *b, const at_range *r, size_t n, ts_ranges *out) {
  for (size_t i = 0; i < n; i++) {
    int64_t s = r[i].off < 0 ? 0 : r[i].off, e = r[i].len > b->size - s ? b->size : s + r[i].len;
    ts_ranges one = {0};
    if (s < e && ts_ranges_missing(&b->have, s, e, &one) != 0) return -1;
    for (size_t j = 0; j < one.n; j++)
      if (ts_ranges_add(out, one.v[j].start, one.v[j].end) != 0) return ts_ranges_free(&one), -1;
    ts_ranges_free(&one);
  }
  return 0;
}

/* DEADLINE_EXCEEDED for a fetch of B cut short by the remote timeout, or by the call's own deadline. */
static int timed_out(const blob *b, int by_call, const char *why, char *err, size_t errlen) {
  snprintf(err, errlen, "s3://%s/%s: %s%s%s", b->owner->bucket, b->key,
           by_call ? "not fetched within the call's deadline" : "the store did not answer in time", *why ? ": " : "",
           why);
  return TC_EDEADLINE_EXCEEDED;
}

static int blob_need(void *arg, const at_range *r, size_t n, char *err, size_t errlen) {
  blob *b = arg;
  int by_call; /* the call being served ends first: its caller has given up by then */
  int64_t deadline = ts_call_deadline_within(b->owner->timeout_ms, &by_call);
  int rc = TC_OK;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    ts_ranges miss = {0};
    if (missing(b, r, n, &miss) != 0) {
      rc = TC_ERESOURCE_EXHAUSTED, snprintf(err, errlen, "out of memory");
    } else if (miss.n == 0) {
      /* all there */
    } else if (overlaps(&b->busy, &miss)) { /* another thread is fetching some of it: wait for it */
      int64_t at = deadline;
      struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000};
      if (pthread_cond_timedwait(&b->done, &b->lock, &ts) == ETIMEDOUT && now_ms() >= deadline)
        rc = timed_out(b, by_call, "", err, errlen);
      ts_ranges_free(&miss);
      if (rc == TC_OK) continue;
    } else {
      size_t added = 0;
      for (; added < miss.n && rc == TC_OK; added++)
        if (busy_add(&b->busy, &miss.v[added]) != 0)
          rc = TC_ERESOURCE_EXHAUSTED, snprintf(err, errlen, "out of memory");
      if (rc == TC_OK && now_ms() >= deadline) {
        rc = timed_out(b, by_call, "", err, errlen); /* not even one attempt: it could not end in time */
      } else if (rc == TC_OK) {
        pthread_mutex_unlock(&b->lock);
        rc = fetch_spans(b, &miss, deadline, err, errlen); /* returns locked */
        if (rc != TC_OK && by_call && now_ms() >= deadline) {
          char why[256];
          snprintf(why, sizeof why, "%s", err);
          rc = timed_out(b, by_call, why, err, errlen);
        }
      }
      for (size_t i = 0; i < added; i++) busy_remove(&b->busy, &miss.v[i]);
      pthread_cond_broadcast(&b->done);
      ts_ranges_free(&miss);
      if (rc == TC_OK) continue; /* check again: all there now */
      break;
    }
    ts_ranges_free(&miss);
    break;
  }
  pthread_mutex_unlock(&b->lock);
  return rc;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Prefetching: queued ranges are fetched by a few threads, those of one blob together (several GETs in
 * flight); a later `need` of the same bytes waits for that fetch instead of starting its own. */

/* Takes from the queue the first entry and up to PREFETCH_BATCH - 1 more of its blob (under bs->lock). */
static size_t dequeue(ts_rblobs *bs, blob **b, at_range *out) {
  size_t n = 0, kept = 0, len = bs->q_len;
  *b = bs->queue[bs->q_head].b;
  for (size_t i = 0; i < len; i++) {
    queued q = bs->queue[(bs->q_head + i) % PREFETCH_QUEUE];
    if (q.b == *b && n < PREFETCH_BATCH) {
      out[n++] = q.r;
      if (n > 1) q.b->refs--; /* the first entry's reference is enough for the batch */
    } else {
      bs->queue[(bs->q_head + kept++) % PREFETCH_QUEUE] = q;
    }
  }
  bs->q_len = kept;
  return n;
}

static void *prefetcher(void *arg) {
  ts_rblobs *bs = arg;
  at_range r[PREFETCH_BATCH];
  pthread_mutex_lock(&bs->lock);
  for (;;) {
    while (!bs->stopping && bs->q_len == 0) pthread_cond_wait(&bs->work, &bs->lock);
    if (bs->stopping) break;
    blob *b;
    size_t n = dequeue(bs, &b, r);
    pthread_mutex_unlock(&bs->lock);
    char err[512];
    if (blob_need(b, r, n, err, sizeof err) != 0) /* the read that needs it will report it */
      ts_log(TS_DEBUG, "remote_prefetch_failed", TS_S("error", err), NULL);
    blob_release(b);
    pthread_mutex_lock(&bs->lock);
  }
  pthread_mutex_unlock(&bs->lock);
  return NULL;
}

/* Some of R is being fetched already: its prefetch would only wait for that fetch. */
static int in_busy(const ts_ranges *busy, const at_range *r) {
  for (size_t i = 0; i < busy->n; i++)
    if (busy->v[i].start < r->off + r->len && r->off < busy->v[i].end) return 1;
  return 0;
}

static void blob_prefetch(void *arg, const at_range *r, size_t n) {
  blob *b = arg;
  ts_rblobs *bs = b->owner;
  pthread_mutex_lock(&b->lock);
  size_t k = 0;
  at_range want[PREFETCH_BATCH];
  for (size_t i = 0; i < n && k < PREFETCH_BATCH; i++)
    if (r[i].len > 0 && !ts_ranges_has(&b->have, r[i].off, r[i].off + r[i].len) && !in_busy(&b->busy, &r[i]))
      want[k++] = r[i];
  pthread_mutex_unlock(&b->lock);
  if (k == 0) return;
  pthread_mutex_lock(&bs->lock);
  if (bs->n_threads == 0 && !bs->stopping)
    for (int i = 0; i < PREFETCH_THREADS; i++)
      if (pthread_create(&bs->threads[bs->n_threads], NULL, prefetcher, bs) == 0) bs->n_threads++;
  for (size_t i = 0; i < k && bs->q_len < PREFETCH_QUEUE && bs->n_threads > 0; i++) {
    b->refs++;
    bs->queue[(bs->q_head + bs->q_len++) % PREFETCH_QUEUE] = (queued){b, want[i]};
  }
  pthread_cond_broadcast(&bs->work);
  pthread_mutex_unlock(&bs->lock);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Files over blobs */

/* The open blob NAME, referenced, loaded when no file has it open. */
static blob *blob_get(ts_rblobs *bs, const char *name) {
  pthread_mutex_lock(&bs->lock);
  blob *b = bs->open;
  while (b && strcmp(b->name, name) != 0) b = b->next;
  if (b) {
    b->refs++;
  } else if ((b = blob_load(bs, name)) != NULL) {
    b->next = bs->open;
    bs->open = b;
  }
  pthread_mutex_unlock(&bs->lock);
  return b;
}

int ts_rblobs_open(ts_rblobs *bs, const char *path, at_file **out, char *err, size_t errlen) {
  char real[PATH_MAX];
  *out = NULL;
  if (!realpath(path, real)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  const char *name = strrchr(real, '/') + 1;
  size_t dl = strlen(bs->dir);
  if (strncmp(real, bs->dir, dl) != 0 || real[dl] != '/' || strchr(real + dl + 1, '/') || strlen(name) != 32)
    return at_file_open(path, out, err, errlen); /* not a blob (never the case in a mirror) */
  blob *b = blob_get(bs, name);
  if (!b) {
    snprintf(err, errlen, "%s: the cached blob %s is unreadable: %s", path, name, strerror(errno));
    return TC_EUNAVAILABLE;
  }
  at_source src = {.need = blob_need, .release = blob_release, .prefetch = blob_prefetch, .arg = b};
  return at_file_open_source(path, &src, out, err, errlen);
}
