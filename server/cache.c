/* cache.c: see cache.h. One mutex guards a chained hash table and an LRU list; the work under it is a few
 * pointer updates (decoding happens outside, in the caller). */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>

#include "hash.h"

struct ts_cache_entry {
  const void *owner;
  uint64_t index;
  void *value;
  size_t bytes;
  void (*destroy)(void *);
  int pins;
  ts_cache_entry *hnext;         /* hash chain */
  ts_cache_entry *newer, *older; /* LRU list */
};

struct ts_cache {
  pthread_mutex_t lock;
  size_t max_bytes, bytes, count, n_buckets;
  ts_cache_entry **buckets;
  ts_cache_entry *newest, *oldest;
  uint64_t hits, misses, evictions;
};

ts_cache *ts_cache_new(size_t max_bytes) {
  ts_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->max_bytes = max_bytes;
  c->n_buckets = 1024;
  c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->lock, NULL);
  return c;
}

static size_t bucket_of(const ts_cache *c, const void *owner, uint64_t index) {
  return (size_t)(ts_mix64((uint64_t)(uintptr_t)owner * 31 + index) & (c->n_buckets - 1));
}

static ts_cache_entry **find(ts_cache *c, const void *owner, uint64_t index) {
  ts_cache_entry **p = &c->buckets[bucket_of(c, owner, index)];
  while (*p && ((*p)->owner != owner || (*p)->index != index)) p = &(*p)->hnext;
  return p;
}

static void lru_unlink(ts_cache *c, ts_cache_entry *e) {
  if (e->newer)
    e->newer->older = e->older;
  else
    c->newest = e->older;
  if (e->older)
    e->older->newer = e->newer;
  else
    c->oldest = e->newer;
  e->newer = e->older = NULL;
}

static void lru_push(ts_cache *c, ts_cache_entry *e) {
  e->older = c->newest;
  e->newer = NULL;
  if (c->newest) c->newest->newer = e;
  c->newest = e;
  if (!c->oldest) c->oldest = e;
}

static void evict(ts_cache *c, ts_cache_entry *e) {
  ts_cache_entry **p = find(c, e->owner, e->index);
  *p = e->hnext;
  lru_unlink(c, e);
  c->bytes -= e->bytes;
  c->count--;
  e->destroy(e->value);
  free(e);
}

/* Evicts unpinned entries from the old end until the budget holds. */
static void shrink(ts_cache *c) {
  ts_cache_entry *e = c->oldest;
  while (c->bytes > c->max_bytes && e) {
    ts_cache_entry *next = e->newer;
    if (e->pins == 0) {
      evict(c, e);
      c->evictions++;
    }
    e = next;
  }
}

/* Doubles the bucket array when chains grow long; failure to grow is harmless (chains get longer). */
static void maybe_grow(ts_cache *c) {
  if (c->count < c->n_buckets * 2) return;
  size_t n = c->n_buckets * 2;
  ts_cache_entry **b = calloc(n, sizeof *b);
  if (!b) return;
  ts_cache_entry **old = c->buckets;
  size_t old_n = c->n_buckets;
  c->buckets = b;
  c->n_buckets = n;
  for (size_t i = 0; i < old_n; i++)
    for (ts_cache_entry *e = old[i], *next; e; e = next) {
      next = e->hnext;
      size_t k = bucket_of(c, e->owner, e->index);
      e->hnext = b[k];
      b[k] = e;
    }
  free(old);
}

void *ts_cache_get(ts_cache *c, const void *owner, uint64_t index, ts_cache_entry **pin) {
  pthread_mutex_lock(&c->lock);
  ts_cache_entry *e = *find(c, owner, index);
  if (e) {
    e->pins++;
    lru_unlink(c, e);
    lru_push(c, e);
    c->hits++;
  } else {
    c->misses++;
  }
  pthread_mutex_unlock(&c->lock);
  *pin = e;
  return e ? e->value : NULL;
}

void *ts_cache_put(ts_cache *c, const void *owner, uint64_t index, void *value, size_t bytes, void (*destroy)(void *),
                   ts_cache_entry **pin) {
  ts_cache_entry *fresh = malloc(sizeof *fresh);
  pthread_mutex_lock(&c->lock);
  ts_cache_entry *e = *find(c, owner, index);
  if (e || !fresh) {
    if (e) e->pins++;
    pthread_mutex_unlock(&c->lock);
    free(fresh);
    destroy(value);
    *pin = e;
    return e ? e->value : NULL;
  }
  *fresh =
      (ts_cache_entry){.owner = owner, .index = index, .value = value, .bytes = bytes, .destroy = destroy, .pins = 1};
  ts_cache_entry **slot = find(c, owner, index);
  *slot = fresh;
  lru_push(c, fresh);
  c->bytes += bytes;
  c->count++;
  shrink(c);
  maybe_grow(c);
  pthread_mutex_unlock(&c->lock);
  *pin = fresh;
  return value;
}

void ts_cache_release(ts_cache *c, ts_cache_entry *pin) {
  if (!pin) return;
  pthread_mutex_lock(&c->lock);
  pin->pins--;
  if (pin->pins == 0 && c->bytes > c->max_bytes) shrink(c);
  pthread_mutex_unlock(&c->lock);
}

void ts_cache_drop_owner(ts_cache *c, const void *owner) {
  pthread_mutex_lock(&c->lock);
  for (ts_cache_entry *e = c->oldest, *next; e; e = next) {
    next = e->newer;
    if (e->owner == owner && e->pins == 0) evict(c, e);
  }
  pthread_mutex_unlock(&c->lock);
}

void ts_cache_get_stats(ts_cache *c, ts_cache_stats *out) {
  pthread_mutex_lock(&c->lock);
  *out = (ts_cache_stats){.bytes = c->bytes,
                          .max_bytes = c->max_bytes,
                          .entries = c->count,
                          .hits = c->hits,
                          .misses = c->misses,
                          .evictions = c->evictions};
  pthread_mutex_unlock(&c->lock);
}

void ts_cache_free(ts_cache *c) {
  if (!c) return;
  while (c->oldest) evict(c, c->oldest);
  free(c->buckets);
  pthread_mutex_destroy(&c->lock);
  free(c);
}
