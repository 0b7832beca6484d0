/* hash.h: the stable hashes and the random generator behind permutations.
 *
 * Everything here is part of the protocol's promise that the same inputs give the same permutation in every
 * process, on every machine and after a restart: never change an algorithm or a constant here.
 */
#ifndef TC_HASH_H
#define TC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TC_FNV64_OFFSET 0xcbf29ce484222325ULL

/* 64-bit FNV-1a of N bytes at P, continuing from H (start with TC_FNV64_OFFSET). */
uint64_t tc_fnv1a64(const void *p, size_t n, uint64_t h);

/* SplitMix64's finalizer: a bijective mix of all 64 bits. */
uint64_t tc_mix64(uint64_t x);

/* SplitMix64: small, fast, fully specified, and the same everywhere. */
typedef struct tc_rng {
  uint64_t state;
} tc_rng;

void tc_rng_seed(tc_rng *r, uint64_t seed);
uint64_t tc_rng_next(tc_rng *r);
/* Uniform in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject). */
uint64_t tc_rng_below(tc_rng *r, uint64_t n);

#endif
