/* remote.c: see remote.h. */
#define _XOPEN_SOURCE 700
#include "remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "remote_blob.h"
#include "s3.h"
#include "s3_util.h"

#define PART_BYTES ((int64_t)8 << 20)
#define MAX_INFLIGHT 8

struct ts_remote {
  char *bucket, *prefix;
  char *blobs, *tree; /* CACHE/blobs, CACHE/tree-HASH (one mirror per bucket and prefix) */
  size_t cache_bytes;
  int64_t timeout_ms;
  ts_s3 *s3;
  ts_rblobs *open; /* the Arrow blobs files are open over */
  ts_table_io io;
  pthread_mutex_t lock; /* one sync at a time */
  atomic_uint counter;  /* unique temp names */
};

typedef struct wanted {
  const ts_s3_object *o;
  const char *rel; /* key below the prefix */
  char blob[33];
  int arrow; /* read on demand (remote_blob.h); other files are fetched whole */
  int have;  /* the blob is in the cache */
  int fd;    /* while fetching */
  char tmp[PATH_MAX];
} wanted;

static char *fmt(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", a, b);
  return p;
}

static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      int rc = mkdir(path, 0755);
      *p = '/';
      if (rc != 0 && errno != EEXIST) return -1;
    }
  return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* A mirror entry is a link to a blob whose name hashes the bucket, key, ETag and size: the link's target
 * is the version (the blob's own mtime moves as ranges are written into it). */
static int facts(void *arg, const char *path, int64_t fact[5]) {
  char target[PATH_MAX];
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return -1;
  uint64_t h = ts_fnv1a64(target, (size_t)n, TS_FNV64_OFFSET);
  fact[0] = (int64_t)h, fact[1] = (int64_t)ts_mix64(h), fact[2] = fact[3] = fact[4] = 0;
  return 0;
}

static int open_file(void *arg, const char *path, at_file **out, char *err, size_t errlen) {
  return ts_rblobs_open(((ts_remote *)arg)->open, path, out, err, errlen);
}

ts_remote *ts_remote_new(const char *url, const char *cache_dir, size_t cache_bytes, int64_t timeout_ms,
                         const char *(*get)(const char *), char *err, size_t errlen) {
  ts_remote *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  r->cache_bytes = cache_bytes;
  r->timeout_ms = timeout_ms;
  pthread_mutex_init(&r->lock, NULL);
  if (ts_s3_parse_url(url, &r->bucket, &r->prefix, err, errlen) != 0 ||
      !(r->s3 = ts_s3_new(r->bucket, get, err, errlen))) {
    ts_remote_free(r);
    return NULL;
  }
  char abs[PATH_MAX], name[64];
  if (mkdir(cache_dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "--remote-cache-dir %s cannot be made: %s", cache_dir, strerror(errno));
    ts_remote_free(r);
    return NULL;
  }
  uint64_t h = ts_fnv1a64(r->bucket, strlen(r->bucket) + 1, TS_FNV64_OFFSET);
  h = ts_fnv1a64(r->prefix, strlen(r->prefix), h);
  snprintf(name, sizeof name, "tree-%016" PRIx64, ts_mix64(h));
  if (!realpath(cache_dir, abs) || !(r->blobs = fmt(abs, "blobs")) || !(r->tree = fmt(abs, name)) ||
      mkdirs(r->blobs) != 0 || mkdirs(r->tree) != 0) {
    snprintf(err, errlen, "--remote-cache-dir %s is not usable: %s", cache_dir, strerror(errno));
    ts_remote_free(r);
    return NULL;
  }
  if (!(r->open = ts_rblobs_new(r->s3, r->bucket, r->blobs, timeout_ms))) {
    snprintf(err, errlen, "out of memory");
    ts_remote_free(r);
    return NULL;
  }
  ts_rblobs_set_budget(r->open, cache_bytes > INT64_MAX ? INT64_MAX : (int64_t)cache_bytes);
  r->io = (ts_table_io){.facts = facts, .open = open_file, .arg = r};
  return r;
}

void ts_remote_free(ts_remote *r) {
  if (!r) return;
  ts_rblobs_free(r->open);
  ts_s3_free(r->s3);
  pthread_mutex_destroy(&r->lock);
  free(r->bucket), free(r->prefix), free(r->blobs), free(r->tree);
  free(r);
}

const char *ts_remote_dir(const ts_remote *r) { return r->tree; }
const ts_table_io *ts_remote_io(const ts_remote *r) { return &r->io; }
uint64_t ts_remote_fetched_bytes(const ts_remote *r) { return ts_rblobs_fetched_bytes(r->open); }
uint64_t ts_remote_requests(const ts_remote *r) { return ts_s3_requests(r->s3); }
uint64_t ts_remote_cache_bytes(const ts_remote *r) {
  int64_t n = ts_rblobs_held_bytes(r->open);
  return n > 0 ? (uint64_t)n : 0;
}
uint64_t ts_remote_evicted_bytes(const ts_remote *r) { return ts_rblobs_evicted_bytes(r->open); }

/* The objects the catalog can use: Arrow files and Hugging Face's JSON files, under names that stay
 * inside the mirror (no empty, ".", ".." or hidden components, no control bytes). */
static int is_arrow(const char *rel) {
  const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel, *dot = strrchr(base, '.');
  return dot && dot != base && (!strcmp(dot, ".arrow") || !strcmp(dot, ".feather") || !strcmp(dot, ".ipc"));
}

static int usable(const char *rel) {
  size_t n = strlen(rel);
  if (n == 0 || n > 1024 || rel[n - 1] == '/') return 0;
  for (const char *c = rel; *c;) {
    const char *slash = strchr(c, '/');
    size_t len = slash ? (size_t)(slash - c) : strlen(c);
    if (len == 0 || c[0] == '.') return 0;
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)c[i] < 0x20 || c[i] == '\\') return 0;
    c += len + (slash ? 1 : 0);
  }
  const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
  return is_arrow(rel) || !strcmp(base, "state.json") || !strcmp(base, "dataset_info.json") ||
         !strcmp(base, "dataset_dict.json");
}

static void blob_name(const ts_remote *r, const ts_s3_object *o, char out[33]) {
  uint64_t a = TS_FNV64_OFFSET, b = TS_FNV64_OFFSET ^ 0x9e3779b97f4a7c15ULL;
  const char *parts[] = {r->bucket, o->key, o->etag};
  for (size_t i = 0; i < 3; i++) {
    a = ts_fnv1a64(parts[i], strlen(parts[i]) + 1, a);
    b = ts_fnv1a64(parts[i], strlen(parts[i]) + 1, b ^ i);
  }
  a = ts_fnv1a64(&o->size, sizeof o->size, a);
  snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, ts_mix64(a), ts_mix64(b));
}

/* Marks a blob used now (its access time is the LRU clock; its mtime never changes, so the table
 * version, made from the file's identity, stays the same). */
static void touch(const char *path) {
  struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
  utimensat(AT_FDCWD, path, ts, 0);
}

static int open_tmp(ts_remote *r, wanted *w) {
  snprintf(w->tmp, sizeof w->tmp, "%s/.tmp-%s-%ld-%u", r->blobs, w->blob, (long)getpid(),
           atomic_fetch_add(&r->counter, 1));
  w->fd = open(w->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (w->fd < 0) return -1;
  if (ftruncate(w->fd, w->o->size) != 0) {
    close(w->fd);
    unlink(w->tmp);
    w->fd = -1;
    return -1;
  }
  return 0;
}

/* Fetches every blob not in the cache: ranged parts, several in flight. The first failure is returned;
 * blobs fetched whole are kept either way. */
static ts_status fetch(ts_remote *r, wanted *ws, size_t n, ts_error *err) {
  size_t n_parts = 0;
  ts_status st = TC_OK;
  for (size_t i = 0; i < n; i++)
    if (!ws[i].have && !ws[i].arrow) n_parts += (size_t)((ws[i].o->size + PART_BYTES - 1) / PART_BYTES);
  ts_s3_part *parts = calloc(n_parts ? n_parts : 1, sizeof *parts);
  size_t *owner = calloc(n_parts ? n_parts : 1, sizeof *owner);
  if (!parts || !owner) {
    free(parts), free(owner);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    wanted *w = &ws[i];
    w->fd = -1;
    if (w->have || w->arrow) continue;
    if (open_tmp(r, w) != 0) {
      if (st == TC_OK) st = ts_error_set(err, TC_EUNAVAILABLE, "remote cache %s: %s", r->blobs, strerror(errno));
      continue;
    }
    for (int64_t off = 0; off < w->o->size; off += PART_BYTES, k++) {
      int64_t len = w->o->size - off < PART_BYTES ? w->o->size - off : PART_BYTES;
      parts[k] = (ts_s3_part){.key = w->o->key, .etag = w->o->etag, .start = off, .len = len, .fd = w->fd};
      owner[k] = i;
    }
  }
  ts_s3_get_parts(r->s3, parts, k, MAX_INFLIGHT, r->timeout_ms);
  for (size_t j = 0; j < k; j++)
    if (parts[j].status != TC_OK && ws[owner[j]].fd >= 0) {
      wanted *w = &ws[owner[j]];
      close(w->fd);
      unlink(w->tmp);
      w->fd = -1;
      if (st == TC_OK) *err = parts[j].error, st = parts[j].status;
    }
  for (size_t i = 0; i < n; i++) {
    wanted *w = &ws[i];
    if (w->have || w->fd < 0) continue;
    char *blob = fmt(r->blobs, w->blob);
    int ok = blob && fdatasync(w->fd) == 0 && rename(w->tmp, blob) == 0;
    close(w->fd);
    if (!ok) unlink(w->tmp);
    w->have = ok;
    if (ok) ts_log(TS_DEBUG, "remote_fetched", TS_S("key", w->o->key), TS_I("bytes", w->o->size), NULL);
    free(blob);
  }
  free(parts);
  free(owner);
  return st;
}

/* TREE/REL -> BLOBS/BLOB, replaced atomically when it pointed elsewhere. */
static int link_one(ts_remote *r, const wanted *w) {
  char *path = fmt(r->tree, w->rel), *target = fmt(r->blobs, w->blob), cur[PATH_MAX], tmp[PATH_MAX];
  int rc = -1;
  if (!path || !target) goto out;
  ssize_t n = readlink(path, cur, sizeof cur - 1);
  if (n >= 0 && (cur[n] = '\0', strcmp(cur, target) == 0)) {
    rc = 0;
    goto out;
  }
  char *slash = strrchr(path, '/');
  *slash = '\0';
  int made = mkdirs(path);
  *slash = '/';
  snprintf(tmp, sizeof tmp, "%s/.tmp-link-%ld-%u", r->tree, (long)getpid(), atomic_fetch_add(&r->counter, 1));
  if (made == 0 && symlink(target, tmp) == 0) {
    rc = rename(tmp, path);
    if (rc != 0) unlink(tmp);
  }
out:
  free(path);
  free(target);
  return rc;
}

static int cmp_wanted(const void *key, const void *elem) { return strcmp(key, ((const wanted *)elem)->rel); }

/* nftw has no argument: the sync in progress (one at a time, under pruning_lock). */
static pthread_mutex_t pruning_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  const ts_remote *r;
  const wanted *ws;
  size_t n;
} pruning;

static int prune_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  size_t tl = strlen(pruning.r->tree);
  if (strlen(path) <= tl) return 0;
  const char *rel = path + tl + 1;
  if (type == FTW_DP)
    rmdir(path); /* only succeeds when empty */
  else if (!bsearch(rel, pruning.ws, pruning.n, sizeof *pruning.ws, cmp_wanted))
    unlink(path);
  return 0;
}

typedef struct blob_info {
  char name[64];
  off_t size;
  int open; /* a file is open over it */
  struct timespec atime;
} blob_info;

static int cmp_atime(const void *a, const void *b) {
  const blob_info *x = a, *y = b;
  if (x->atime.tv_sec != y->atime.tv_sec) return x->atime.tv_sec < y->atime.tv_sec ? -1 : 1;
  return (x->atime.tv_nsec > y->atime.tv_nsec) - (x->atime.tv_nsec < y->atime.tv_nsec);
}

static int in_use(const wanted *ws, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (ws[i].have && !strcmp(ws[i].blob, name)) return 1;
  return 0;
}

/* Deletes blobs no listed object uses, least recently used first, while the cache is over budget; then
 * bounds the open blobs by what is left of it (remote.h). */
static void evict(ts_remote *r, const wanted *ws, size_t n) {
  DIR *d = opendir(r->blobs);
  if (!d) return;
  blob_info *v = NULL;
  size_t nv = 0, cap = 0;
  unsigned long long total = 0, outside = 0; /* outside: of the blobs no file has open */
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    if (de->d_name[0] == '.' || strlen(de->d_name) != 32 || /* not a temporary file, nor a blob's .meta or .have */
        fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    total += (unsigned long long)st.st_blocks * 512; /* what is on disk: Arrow blobs are sparse */
    int is_open = ts_rblobs_is_open(r->open, de->d_name);
    if (!is_open) outside += (unsigned long long)st.st_blocks * 512;
    if (nv == cap) {
      blob_info *g = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *v);
      if (!g) break;
      v = g;
    }
    memcpy(v[nv].name, de->d_name, 33); /* 32 characters (checked above) and the NUL */
    v[nv].size = (off_t)st.st_blocks * 512;
    v[nv].open = is_open;
    v[nv++].atime = st.st_atim;
  }
  if (total > r->cache_bytes && nv) qsort(v, nv, sizeof *v, cmp_atime);
  for (size_t i = 0; i < nv && total > r->cache_bytes; i++)
    if (!in_use(ws, n, v[i].name) && unlinkat(dirfd(d), v[i].name, 0) == 0) {
      char side[80];
      snprintf(side, sizeof side, "%s.meta", v[i].name), unlinkat(dirfd(d), side, 0);
      snprintf(side, sizeof side, "%s.have", v[i].name), unlinkat(dirfd(d), side, 0);
      total -= (unsigned long long)v[i].size;
      if (!v[i].open) outside -= (unsigned long long)v[i].size;
      ts_log(TS_DEBUG, "remote_evicted", TS_S("blob", v[i].name), TS_I("bytes", v[i].size), NULL);
    }
  closedir(d);
  free(v);
  unsigned long long left = outside < r->cache_bytes ? r->cache_bytes - outside : 0;
  ts_rblobs_set_budget(r->open, left > INT64_MAX ? INT64_MAX : (int64_t)left);
  ts_rblobs_trim(r->open);
}

static ts_status sync_locked(ts_remote *r, ts_error *err) {
  ts_s3_page all;
  ts_status st = ts_s3_list(r->s3, r->prefix, r->timeout_ms, &all, err);
  if (st != TC_OK) return st;
  size_t plen = strlen(r->prefix), n = 0;
  wanted *ws = calloc(all.n ? all.n : 1, sizeof *ws);
  if (!ws) {
    ts_s3_page_free(&all);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  for (size_t i = 0; i < all.n; i++) {
    const ts_s3_object *o = &all.objects[i];
    if (strncmp(o->key, r->prefix, plen) != 0 || !usable(o->key + plen)) continue;
    wanted *w = &ws[n++];
    w->o = o;
    w->rel = o->key + plen;
    blob_name(r, o, w->blob);
    w->arrow = is_arrow(w->rel);
    char *blob = fmt(r->blobs, w->blob);
    struct stat sb;
    if (w->arrow) /* made now, its bytes fetched when read */
      w->have = ts_rblob_create(r->blobs, w->blob, o->key, o->etag, o->size) == 0;
    else
      w->have = blob && stat(blob, &sb) == 0 && sb.st_size == o->size;
    if (w->have) touch(blob);
    free(blob);
  }
  /* S3 lists keys in UTF-8 byte order, which is strcmp's: the array is sorted by rel for bsearch. */
  st = fetch(r, ws, n, err);
  for (size_t i = 0; i < n && st == TC_OK; i++)
    if (ws[i].arrow && !ws[i].have)
      st = ts_error_set(err, TC_EUNAVAILABLE, "remote cache %s: cannot make the blob of %s: %s", r->blobs, ws[i].rel,
                        strerror(errno));
  for (size_t i = 0; i < n; i++)
    if (ws[i].have && link_one(r, &ws[i]) != 0 && st == TC_OK)
      st = ts_error_set(err, TC_EUNAVAILABLE, "remote cache %s: cannot link %s", r->tree, ws[i].rel);
  /* Entries of objects no longer listed go; those that failed to fetch keep their last version. */
  pthread_mutex_lock(&pruning_lock);
  pruning.r = r, pruning.ws = ws, pruning.n = n;
  nftw(r->tree, prune_one, 16, FTW_PHYS | FTW_DEPTH);
  pthread_mutex_unlock(&pruning_lock);
  evict(r, ws, n);
  free(ws);
  ts_s3_page_free(&all);
  return st;
}

ts_status ts_remote_sync(ts_remote *r, ts_error *err) {
  pthread_mutex_lock(&r->lock);
  ts_status st = sync_locked(r, err);
  pthread_mutex_unlock(&r->lock);
  return st;
}
