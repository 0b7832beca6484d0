/* cache.h: a thread-safe LRU of decoded record batches, bounded in bytes (--cache-bytes).
 *
 * Entries are keyed by (owner, index), e.g. (table, batch number). A caller pins what it gets and releases
 * the pin when done; pinned entries are never evicted, so the budget can be exceeded while many calls hold
 * pins at once, and is restored as they release them.
 */
#ifndef TS_CACHE_H
#define TS_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_cache ts_cache;
typedef struct ts_cache_entry ts_cache_entry;

ts_cache *ts_cache_new(size_t max_bytes);
/* Frees every entry; none may be pinned. */
void ts_cache_free(ts_cache *c);

/* The value cached under (OWNER, INDEX), pinned in *pin; NULL on a miss. */
void *ts_cache_get(ts_cache *c, const void *owner, uint64_t index, ts_cache_entry **pin);

/* Caches VALUE (BYTES big, freed with DESTROY once evicted and unpinned) and returns it pinned. When
 * another thread cached the key first, VALUE is destroyed and the other value is returned. NULL only when
 * out of memory (VALUE is then destroyed too). */
void *ts_cache_put(ts_cache *c, const void *owner, uint64_t index, void *value, size_t bytes, void (*destroy)(void *),
                   ts_cache_entry **pin);

void ts_cache_release(ts_cache *c, ts_cache_entry *pin);

/* Evicts every unpinned entry of OWNER (an owner being freed has no pinned entries left). */
void ts_cache_drop_owner(ts_cache *c, const void *owner);

typedef struct ts_cache_stats {
  size_t bytes, max_bytes, entries;
  uint64_t hits, misses, evictions;
} ts_cache_stats;
void ts_cache_get_stats(ts_cache *c, ts_cache_stats *out);

#endif
