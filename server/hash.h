/* hash.h: the stable hashes and the random generator behind permutations.
 *
 * Everything here is part of the protocol's promise that the same inputs give the same permutation in every
 * process, on every machine and after a restart: never change an algorithm or a constant here.
 */
#ifndef TS_HASH_H
#define TS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TS_FNV64_OFFSET 0xcbf29ce484222325ULL

/* 64-bit FNV-1a of N bytes at P, continuing from H (start with TS_FNV64_OFFSET). */
uint64_t ts_fnv1a64(const void *p, size_t n, uint64_t h);

/* SplitMix64's finalizer: a bijective mix of all 64 bits. */
uint64_t ts_mix64(uint64_t x);

/* SplitMix64: small, fast, fully specified, and the same everywhere. */
typedef struct ts_rng {
  uint64_t state;
} ts_rng;

void ts_rng_seed(ts_rng *r, uint64_t seed);
uint64_t ts_rng_next(ts_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject). */
uint64_t ts_rng_below(ts_rng *r, uint64_t n);

#endif
