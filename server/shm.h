/* shm.h: clients' shared-memory pools, which the server writes batches into (README, "Batches through
 * shared memory").
 *
 * A client hands the server a pool once, as a memfd over the side socket (shm_socket.c); the server checks
 * it, maps it and answers with a random token. Requests then name a slot of the pool by (token, offset,
 * size), and gather.c writes the batch there. The server trusts nothing of the client's memory: it maps
 * only memfds sealed against shrinking and growing (a file shrunk under the mapping would kill the server
 * with SIGBUS), of exactly the announced size and within the caps, checks every slot against the mapping,
 * and never reads what it did not write. A pool is unmapped once its side connection is gone and no call
 * is writing into it.
 *
 * Thread-safe: the side socket registers pools on the loop thread while gRPC's threads look slots up.
 */
#ifndef TS_SHM_H
#define TS_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define TS_SHM_TOKEN_BYTES 16

typedef struct ts_shm ts_shm;
typedef struct ts_shm_pool ts_shm_pool;

/* A slot being written: BASE, SIZE bytes, inside a pool kept mapped until ts_shm_slot_done. */
typedef struct ts_shm_slot {
  uint8_t *base;
  size_t size;
  ts_shm_pool *pool;
} ts_shm_slot;

/* TOTAL_BYTES: the most all pools together may map; POOL_BYTES: the most one pool may. */
ts_shm *ts_shm_new(size_t total_bytes, size_t pool_bytes);
/* Every pool must have been unregistered and every slot done. */
void ts_shm_free(ts_shm *shm);

/* Checks FD as a pool of SIZE bytes and maps it. FD is the caller's (dup'd here when kept). On TC_OK, *out
 * is registered under the token written to TOKEN. INVALID_ARGUMENT for an fd that is not a sealed memfd of
 * SIZE bytes; RESOURCE_EXHAUSTED past the caps. */
ts_status ts_shm_register(ts_shm *shm, int fd, uint64_t size, ts_shm_pool **out, uint8_t token[TS_SHM_TOKEN_BYTES],
                          ts_error *err);
/* The pool's owner is gone: new lookups fail, and the mapping goes once the last slot is done. */
void ts_shm_unregister(ts_shm *shm, ts_shm_pool *pool);

/* The slot [OFFSET, OFFSET + SIZE) of the pool with TOKEN, held in *out. For a token no pool has (its
 * owner gone, or the server restarted since) TC_OK with out->pool NULL: the batch goes in the message, as
 * for a batch too big for its slot. INVALID_ARGUMENT for a malformed token or a slot outside the pool. */
ts_status ts_shm_slot_get(ts_shm *shm, const uint8_t *token, size_t token_len, int64_t offset, int64_t size,
                          ts_shm_slot *out, ts_error *err);
void ts_shm_slot_done(ts_shm *shm, ts_shm_slot *slot);

/* Gauges: pools registered (or unregistered but still in use) and the bytes they map. */
void ts_shm_stats(ts_shm *shm, size_t *pools, size_t *bytes);

#endif
