/* remote_blob.c: see remote_blob.h. */
#include "remote_blob.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
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

/* A fetched piece of a blob: the unit of eviction. Chunks are as fetched (a part of a GET, or a record of
 * the log at load), never merged, so that a lease taken on the chunks a range covers is given back on the
 * same chunks. */
typedef struct chunk {
  int64_t start, end;
  uint64_t stamp; /* last use: the owner's clock */
  int leases;     /* reads pointing into it (at_source need without done yet) */
  int logged;     /* on disk for sure (fdatasync'd): a rewritten log may list it; else it is refetched */
} chunk;

typedef struct blob {
  struct blob *next;
  ts_rblobs *owner;
  int refs; /* under owner->lock */
  char name[33];
  char *key, *etag;
  int64_t size;
  int fd, log_fd;
  pthread_mutex_t lock; /* guards have, busy, the chunks and log_fd */
  pthread_cond_t done;  /* a fetch ended: busy shrank */
  ts_ranges have;       /* merged: on disk, logged */
  ts_ranges busy;       /* not merged: each span one fetch in progress */
  chunk *chunks;        /* sorted, disjoint, covering exactly `have` */
  size_t n_chunks, cap_chunks;
  int64_t held; /* bytes of the chunks, counted in owner->held while the blob is open */
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
  atomic_int_fast64_t held;       /* bytes of the open blobs' chunks */
  atomic_int_fast64_t budget;     /* held is trimmed to this after a fetch; < 0: no limit */
  atomic_uint_fast64_t clock;     /* LRU stamps */
  atomic_uint_fast64_t evicted;   /* bytes dropped by trims */
  atomic_int_fast64_t trimmed_at; /* held after the last trim: a read that fetched nothing does not trim */
  pthread_mutex_t trim_lock;      /* one trim at a time; taken before lock and any blob's */
  int warned;                     /* over budget with only leased chunks: logged once (under trim_lock) */
  pthread_cond_t work;
  queued queue[PREFETCH_QUEUE]; /* a ring */
  size_t q_head, q_len;
  int stopping, n_threads;
  pthread_t threads[PREFETCH_THREADS];
};

static _Thread_local int in_prefetcher; /* a prefetch thread: its fetches are for later reads, not leased */
static void trim(ts_rblobs *bs, int force);

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
  atomic_init(&bs->budget, -1);
  pthread_mutex_init(&bs->lock, NULL);
  pthread_mutex_init(&bs->trim_lock, NULL);
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
  pthread_mutex_destroy(&bs->trim_lock);
  free(bs->dir);
  free(bs->bucket);
  free(bs);
}

uint64_t ts_rblobs_fetched_bytes(const ts_rblobs *bs) { return atomic_load(&((ts_rblobs *)bs)->fetched); }
int64_t ts_rblobs_held_bytes(const ts_rblobs *bs) { return atomic_load(&((ts_rblobs *)bs)->held); }
uint64_t ts_rblobs_evicted_bytes(const ts_rblobs *bs) { return atomic_load(&((ts_rblobs *)bs)->evicted); }
void ts_rblobs_set_budget(ts_rblobs *bs, int64_t bytes) { atomic_store(&bs->budget, bytes); }

int ts_rblobs_is_open(ts_rblobs *bs, const char *name) {
  pthread_mutex_lock(&bs->lock);
  blob *b = bs->open;
  while (b && strcmp(b->name, name) != 0) b = b->next;
  pthread_mutex_unlock(&bs->lock);
  return b != NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Chunks (under the blob's lock) */

/* Index of the first chunk that ends after X. */
static size_t chunk_at(const blob *b, int64_t x) {
  size_t lo = 0, hi = b->n_chunks;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b->chunks[mid].end <= x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Records [start, end) as on disk: the parts of it `have` lacks become chunks. -1 when out of memory. */
static int chunk_add(blob *b, int64_t start, int64_t end, int logged) {
  ts_ranges fresh = {0};
  if (ts_ranges_missing(&b->have, start, end, &fresh) != 0) return -1;
  int rc = 0;
  for (size_t i = 0; i < fresh.n && rc == 0; i++) {
    if (b->n_chunks == b->cap_chunks) {
      size_t cap = b->cap_chunks ? b->cap_chunks * 2 : 16;
      chunk *v = realloc(b->chunks, cap * sizeof *v);
      if (!v) {
        rc = -1;
        break;
      }
      b->chunks = v, b->cap_chunks = cap;
    }
    if ((rc = ts_ranges_add(&b->have, fresh.v[i].start, fresh.v[i].end)) != 0) break;
    size_t at = chunk_at(b, fresh.v[i].start);
    memmove(b->chunks + at + 1, b->chunks + at, (b->n_chunks - at) * sizeof *b->chunks);
    b->chunks[at] = (chunk){fresh.v[i].start, fresh.v[i].end, atomic_fetch_add(&b->owner->clock, 1), 0, logged};
    b->n_chunks++;
    b->held += fresh.v[i].end - fresh.v[i].start;
  }
  ts_ranges_free(&fresh);
  return rc;
}

/* Adds DELTA leases to the chunks the N ranges cover (clipped to the blob), and stamps them used now. */
static void chunks_lease(blob *b, const at_range *r, size_t n, int delta) {
  uint64_t now = atomic_fetch_add(&b->owner->clock, 1);
  for (size_t i = 0; i < n; i++) {
    int64_t s = r[i].off < 0 ? 0 : r[i].off, e = r[i].len > b->size - s ? b->size : s + r[i].len;
    for (size_t k = chunk_at(b, s); s < e && k < b->n_chunks && b->chunks[k].start < e; k++) {
      chunk *c = &b->chunks[k];
      if (delta < 0 && c->leases == 0) { /* a done without its need: a bug, never a negative count */
        ts_log(TS_ERROR, "remote_lease_unbalanced", TS_S("blob", b->name), TS_I("start", c->start), NULL);
        continue;
      }
      c->leases += delta;
      c->stamp = now;
    }
  }
}

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
  free(b->chunks);
  atomic_fetch_sub(&b->owner->held, b->held);
  atomic_fetch_sub(&b->owner->trimmed_at, b->held); /* what it held no longer counts as trimmed already */
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
        chunk_add(b, rec[0], rec[0] + rec[1], 1) != 0)
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
  atomic_fetch_add(&bs->held, b->held); /* blob_free takes it back */
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
  int64_t left = deadline - ts_mono_ms();
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
  int64_t held = b->held;
  for (size_t i = 0; i < nrec; i++)
    if (chunk_add(b, rec[2 * i], rec[2 * i] + rec[2 * i + 1], synced) != 0 && rc == TC_OK)
      rc = TC_ERESOURCE_EXHAUSTED, snprintf(err, errlen, "out of memory");
  atomic_fetch_add(&b->owner->held, b->held - held);
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
      if (pthread_cond_timedwait(&b->done, &b->lock, &ts) == ETIMEDOUT && ts_mono_ms() >= deadline)
        rc = timed_out(b, by_call, "", err, errlen);
      ts_ranges_free(&miss);
      if (rc == TC_OK) continue;
    } else {
      size_t added = 0;
      for (; added < miss.n && rc == TC_OK; added++)
        if (busy_add(&b->busy, &miss.v[added]) != 0)
          rc = TC_ERESOURCE_EXHAUSTED, snprintf(err, errlen, "out of memory");
      if (rc == TC_OK && ts_mono_ms() >= deadline) {
        rc = timed_out(b, by_call, "", err, errlen); /* not even one attempt: it could not end in time */
      } else if (rc == TC_OK) {
        pthread_mutex_unlock(&b->lock);
        rc = fetch_spans(b, &miss, deadline, err, errlen); /* returns locked */
        if (rc != TC_OK && by_call && ts_mono_ms() >= deadline) {
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
  if (rc == TC_OK && !in_prefetcher) chunks_lease(b, r, n, 1); /* all there: held until `done` */
  pthread_mutex_unlock(&b->lock);
  trim(b->owner, 0);
  return rc;
}

static void blob_done(void *arg, const at_range *r, size_t n) {
  blob *b = arg;
  pthread_mutex_lock(&b->lock);
  chunks_lease(b, r, n, -1);
  pthread_mutex_unlock(&b->lock);
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
  in_prefetcher = 1;
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
  at_source src = {.need = blob_need, .release = blob_release, .prefetch = blob_prefetch, .done = blob_done, .arg = b};
  return at_file_open_source(path, &src, out, err, errlen);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Trimming: the open blobs' chunks are kept within the budget, least recently used first, never a leased
 * one (a batch points into it). Per blob, under its lock (so no read leases or refetches the chunk
 * meanwhile): the chunks leave `have`, the log is rewritten without them, and only then are their bytes
 * punched out of the file, so that a crash at any point never leaves the log listing zeros. */

typedef struct victim {
  blob *b;
  int64_t start, end;
  uint64_t stamp;
} victim;

static int cmp_victim(const void *x, const void *y) {
  const victim *a = x, *b = y;
  return (a->stamp > b->stamp) - (a->stamp < b->stamp);
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Replaces B's log by one record per chunk, durably, and reopens it for appending. */
static int rewrite_log(blob *b) {
  ts_rblobs *bs = b->owner;
  char tmp[PATH_MAX], *log = path_of(bs->dir, b->name, ".have");
  static atomic_uint counter;
  snprintf(tmp, sizeof tmp, "%s/.tmp-%s.have-%ld-%u", bs->dir, b->name, (long)getpid(), atomic_fetch_add(&counter, 1));
  int fd = log ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1, ok = fd >= 0;
  for (size_t i = 0; ok && i < b->n_chunks; i++) {
    int64_t rec[2] = {b->chunks[i].start, b->chunks[i].end - b->chunks[i].start};
    if (b->chunks[i].logged) /* bytes whose fdatasync failed are never in a log: a restart fetches them */
      ok = write(fd, rec, sizeof rec) == (ssize_t)sizeof rec;
  }
  if (fd >= 0) ok = fdatasync(fd) == 0 && close(fd) == 0 && ok;
  ok = ok && rename(tmp, log) == 0;
  if (!ok && fd >= 0) unlink(tmp);
  int nfd = ok && fsync_dir(bs->dir) == 0 ? open(log, O_RDWR | O_APPEND | O_CLOEXEC) : -1;
  free(log);
  if (nfd < 0) return -1;
  close(b->log_fd);
  b->log_fd = nfd;
  return 0;
}

/* Evicts V[0..n) of blob V[0].b that are still there, unleased and unused since chosen: bytes dropped. */
static int64_t evict_chunks(const victim *v, size_t n) {
  blob *b = v[0].b;
  int64_t dropped = 0;
  size_t k = 0;
  victim *gone = malloc(n * sizeof *gone);
  if (!gone) return 0;
  pthread_mutex_lock(&b->lock);
  for (size_t i = 0; i < n; i++) {
    size_t at = chunk_at(b, v[i].start);
    chunk *c = at < b->n_chunks ? &b->chunks[at] : NULL;
    if (!c || c->start != v[i].start || c->end != v[i].end || c->leases || c->stamp != v[i].stamp ||
        ts_ranges_remove(&b->have, c->start, c->end) != 0)
      continue;
    gone[k++] = v[i];
    dropped += c->end - c->start;
    memmove(c, c + 1, (b->n_chunks - at - 1) * sizeof *c);
    b->n_chunks--;
  }
  struct stat st; /* a blob deleted while open (its object no longer listed): its log is never read again */
  int deleted = fstat(b->fd, &st) == 0 && st.st_nlink == 0;
  if (k && !deleted && rewrite_log(b) != 0) {
    /* The old log may still list them: their bytes stay (they are right), fetched again if needed. */
    ts_log(TS_WARN, "remote_cache_log_failed", TS_S("blob", b->name), TS_S("error", strerror(errno)), NULL);
    k = 0;
  }
  for (size_t i = 0; i < k; i++)
    if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, gone[i].start, gone[i].end - gone[i].start) != 0) {
      ts_log(TS_WARN, "remote_cache_punch_failed", TS_S("blob", b->name), TS_S("error", strerror(errno)), NULL);
      break;
    }
  b->held -= dropped;
  atomic_fetch_sub(&b->owner->held, dropped);
  pthread_mutex_unlock(&b->lock);
  free(gone);
  return dropped;
}

/* Collects the unleased chunks of the open blobs (each blob referenced in BLOBS); -1 when out of memory. */
static int collect(ts_rblobs *bs, blob ***blobs, size_t *nb, victim **v, size_t *nv) {
  size_t cap = 0;
  *blobs = NULL, *nb = 0, *v = NULL, *nv = 0;
  pthread_mutex_lock(&bs->lock);
  for (blob *b = bs->open; b; b = b->next) (*nb)++;
  *blobs = malloc((*nb ? *nb : 1) * sizeof **blobs);
  size_t k = 0;
  for (blob *b = bs->open; b && *blobs; b = b->next) b->refs++, (*blobs)[k++] = b;
  pthread_mutex_unlock(&bs->lock);
  *nb = k;
  int rc = *blobs ? 0 : -1;
  for (size_t i = 0; i < k && rc == 0; i++) {
    blob *b = (*blobs)[i];
    pthread_mutex_lock(&b->lock);
    for (size_t j = 0; j < b->n_chunks && rc == 0; j++) {
      const chunk *c = &b->chunks[j];
      if (c->leases) continue;
      if (*nv == cap) {
        victim *g = realloc(*v, (cap = cap ? cap * 2 : 256) * sizeof *g);
        if (!g) {
          rc = -1;
          break;
        }
        *v = g;
      }
      (*v)[(*nv)++] = (victim){b, c->start, c->end, c->stamp};
    }
    pthread_mutex_unlock(&b->lock);
  }
  return rc;
}

static int cmp_blob_then_start(const void *x, const void *y) {
  const victim *a = x, *b = y;
  if (a->b != b->b) return (uintptr_t)a->b < (uintptr_t)b->b ? -1 : 1;
  return (a->start > b->start) - (a->start < b->start);
}

/* FORCE: even when nothing was fetched since the last trim (which may have left only leased chunks). */
static void trim(ts_rblobs *bs, int force) {
  int64_t budget = atomic_load(&bs->budget), held = atomic_load(&bs->held);
  if (budget < 0 || held <= budget || (!force && held <= atomic_load(&bs->trimmed_at)) ||
      pthread_mutex_trylock(&bs->trim_lock) != 0)
    return;
  blob **blobs;
  victim *v;
  size_t nb, nv;
  if (collect(bs, &blobs, &nb, &v, &nv) == 0) {
    /* Down to 7/8 of the budget, so that a cache at its budget is not trimmed at every fetch. */
    int64_t target = budget - budget / 8, over = atomic_load(&bs->held) - target, chosen = 0;
    size_t n = 0;
    if (nv) qsort(v, nv, sizeof *v, cmp_victim);
    while (n < nv && chosen < over) chosen += v[n].end - v[n].start, n++;
    if (n) qsort(v, n, sizeof *v, cmp_blob_then_start);
    int64_t dropped = 0;
    for (size_t i = 0, j; i < n; i = j) {
      for (j = i + 1; j < n && v[j].b == v[i].b;) j++;
      dropped += evict_chunks(v + i, j - i);
    }
    atomic_fetch_add(&bs->evicted, (uint64_t)dropped);
    if (dropped) ts_log(TS_DEBUG, "remote_cache_trimmed", TS_I("bytes", dropped), NULL);
    if (atomic_load(&bs->held) > budget && !bs->warned) {
      bs->warned = 1;
      ts_log(TS_WARN, "remote_cache_over_budget", TS_I("held_bytes", atomic_load(&bs->held)),
             TS_I("budget_bytes", budget), TS_S("reason", "the rest is in use (leased by reads or file metadata)"),
             NULL);
    }
  }
  atomic_store(&bs->trimmed_at, atomic_load(&bs->held));
  pthread_mutex_unlock(&bs->trim_lock);
  for (size_t i = 0; i < nb; i++) blob_release(blobs[i]);
  free(blobs);
  free(v);
}

void ts_rblobs_trim(ts_rblobs *bs) { trim(bs, 1); }
