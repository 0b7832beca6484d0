/* shm.c: see shm.h. */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a pool must be sealed with: a shrink would turn the server's writes past the new end into SIGBUS,
 * a grow would make the size we checked a lie. Seals cannot be removed, and F_SEAL_WRITE cannot be added
 * while our writable mapping exists, so what is checked here holds for the mapping's life. */
#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

struct ts_shm_pool {
  uint8_t token[TS_SHM_TOKEN_BYTES];
  uint8_t *base;
  size_t size;
  int refs;  /* 1 for the registration, 1 per slot being written */
  int alive; /* registered: lookups find it */
  ts_shm_pool *next;
};

struct ts_shm {
  pthread_mutex_t lock;
  size_t total_max, pool_max;
  size_t mapped; /* bytes of every pool still mapped */
  size_t n_pools;
  ts_shm_pool *pools;
};

ts_shm *ts_shm_new(size_t total_bytes, size_t pool_bytes) {
  ts_shm *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutex_init(&s->lock, NULL);
  s->total_max = total_bytes;
  s->pool_max = pool_bytes;
  return s;
}

void ts_shm_free(ts_shm *s) {
  if (!s) return;
  while (s->pools) { /* only at exit, when no side connection or call is left */
    ts_shm_pool *p = s->pools;
    s->pools = p->next;
    munmap(p->base, p->size);
    free(p);
  }
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static ts_status check_fd(int fd, uint64_t size, ts_error *err) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool fd: %s", strerror(errno));
  if (!S_ISREG(st.st_mode)) return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool fd is not a memfd");
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool fd is not a memfd (it takes no seals)");
  if ((seals & REQUIRED_SEALS) != REQUIRED_SEALS)
    return ts_error_set(err, TC_EINVALID_ARGUMENT,
                        "pool memfd is not sealed against shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW)");
  if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool memfd is sealed against writing");
  if ((uint64_t)st.st_size != size)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool memfd has %lld bytes, not the %llu announced",
                        (long long)st.st_size, (unsigned long long)size);
  if (size == 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "pool memfd is empty");
  return TC_OK;
}

/* Every page of the pool must be in memory already: the client faults it in (tc_shm_pool_new does), so it is
 * charged to the client. Were the server the first to touch a page, shared memory would be charged to the
 * sidecar's cgroup: a client could move up to --shm-bytes of its memory onto us. Then our page tables are
 * filled once, so that no batch write faults. */
static ts_status check_resident(void *m, size_t size, ts_error *err) {
  size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = (size + ps - 1) / ps;
  unsigned char *vec = malloc(n ? n : 1);
  if (!vec) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  size_t missing = 0;
  if (mincore(m, size, vec) != 0) missing = n;
  for (size_t i = 0; i < n && !missing; i++) missing += !(vec[i] & 1);
  free(vec);
  if (missing)
    return ts_error_set(err, TC_EINVALID_ARGUMENT,
                        "pool memfd is not faulted in (%zu of %zu pages missing): its owner must fault every page "
                        "in before handing it over",
                        missing, n);
#ifdef MADV_POPULATE_WRITE
  (void)madvise(m, size, MADV_POPULATE_WRITE); /* resident pages: only our page tables */
#endif
  return TC_OK;
}

/* Under the lock: room for SIZE more bytes within the caps. */
static ts_status check_caps(ts_shm *s, uint64_t size, ts_error *err) {
  if (size > s->pool_max)
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "pool of %llu bytes is larger than the server's %zu per pool",
                        (unsigned long long)size, s->pool_max);
  if (size > s->total_max - s->mapped)
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED,
                        "pool of %llu bytes does not fit: %zu of the server's --shm-bytes %zu are mapped",
                        (unsigned long long)size, s->mapped, s->total_max);
  return TC_OK;
}

ts_status ts_shm_register(ts_shm *s, int fd, uint64_t size, ts_shm_pool **out, uint8_t token[TS_SHM_TOKEN_BYTES],
                          ts_error *err) {
  if (check_fd(fd, size, err) != TC_OK) return err->code;
  pthread_mutex_lock(&s->lock);
  ts_status st = check_caps(s, size, err);
  if (st == TC_OK) s->mapped += (size_t)size; /* reserved before the lock is dropped for mmap */
  pthread_mutex_unlock(&s->lock);
  if (st != TC_OK) return st;
  ts_shm_pool *p = calloc(1, sizeof *p);
  void *m = p ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (m == MAP_FAILED || getrandom(p->token, sizeof p->token, 0) != (ssize_t)sizeof p->token)
    st = ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "mapping the pool: %s", p ? strerror(errno) : "out of memory");
  else
    st = check_resident(m, (size_t)size, err);
  if (st != TC_OK) {
    if (m != MAP_FAILED) munmap(m, (size_t)size);
    free(p);
    pthread_mutex_lock(&s->lock);
    s->mapped -= (size_t)size;
    pthread_mutex_unlock(&s->lock);
    return st;
  }
  p->base = m;
  p->size = (size_t)size;
  p->refs = 1;
  p->alive = 1;
  memcpy(token, p->token, sizeof p->token);
  pthread_mutex_lock(&s->lock);
  p->next = s->pools;
  s->pools = p;
  s->n_pools++;
  pthread_mutex_unlock(&s->lock);
  *out = p;
  return TC_OK;
}

/* Under the lock: drops a reference; the last one unlinks the pool, returned for unmapping outside it. */
static ts_shm_pool *unref_locked(ts_shm *s, ts_shm_pool *p) {
  if (--p->refs > 0) return NULL;
  for (ts_shm_pool **pp = &s->pools; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  s->n_pools--;
  s->mapped -= p->size;
  return p;
}

static void unref(ts_shm *s, ts_shm_pool *p) {
  pthread_mutex_lock(&s->lock);
  ts_shm_pool *gone = unref_locked(s, p);
  pthread_mutex_unlock(&s->lock);
  if (gone) {
    munmap(gone->base, gone->size);
    free(gone);
  }
}

void ts_shm_unregister(ts_shm *s, ts_shm_pool *p) {
  pthread_mutex_lock(&s->lock);
  p->alive = 0;
  pthread_mutex_unlock(&s->lock);
  unref(s, p);
}

ts_status ts_shm_slot_get(ts_shm *s, const uint8_t *token, size_t token_len, int64_t offset, int64_t size,
                          ts_shm_slot *out, ts_error *err) {
  *out = (ts_shm_slot){0};
  if (token_len != TS_SHM_TOKEN_BYTES)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "shm.pool must be the %d-byte token of a pool", TS_SHM_TOKEN_BYTES);
  pthread_mutex_lock(&s->lock);
  ts_shm_pool *p = s->pools;
  while (p && !(p->alive && memcmp(p->token, token, TS_SHM_TOKEN_BYTES) == 0)) p = p->next;
  ts_status st = TC_OK;
  if (!p)
    ; /* gone (its side connection closed, or the server restarted): the batch goes in the message */
  else if (offset < 0 || size <= 0 || (uint64_t)offset > p->size || (uint64_t)size > p->size - (uint64_t)offset)
    st = ts_error_set(err, TC_EINVALID_ARGUMENT, "slot [%lld, +%lld) is outside the pool of %zu bytes",
                      (long long)offset, (long long)size, p->size);
  else
    p->refs++;
  pthread_mutex_unlock(&s->lock);
  if (st != TC_OK || !p) return st;
  *out = (ts_shm_slot){p->base + offset, (size_t)size, p};
  return TC_OK;
}

void ts_shm_slot_done(ts_shm *s, ts_shm_slot *slot) {
  if (!slot->pool) return;
  unref(s, slot->pool);
  *slot = (ts_shm_slot){0};
}

void ts_shm_stats(ts_shm *s, size_t *pools, size_t *bytes) {
  pthread_mutex_lock(&s->lock);
  *pools = s->n_pools;
  *bytes = s->mapped;
  pthread_mutex_unlock(&s->lock);
}
