/* hash.c: see hash.h. Constants are from the published FNV and SplitMix64 definitions. */
#include "hash.h"

uint64_t ts_fnv1a64(const void *p, size_t n, uint64_t h) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t ts_mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void ts_rng_seed(ts_rng *r, uint64_t seed) { r->state = seed; }

uint64_t ts_rng_next(ts_rng *r) {
  r->state += 0x9e3779b97f4a7c15ULL;
  return ts_mix64(r->state);
}

uint64_t ts_rng_below(ts_rng *r, uint64_t n) {
  unsigned __int128 m = (unsigned __int128)ts_rng_next(r) * n;
  uint64_t low = (uint64_t)m;
  if (low < n) {
    uint64_t threshold = -n % n;
    while (low < threshold) {
      m = (unsigned __int128)ts_rng_next(r) * n;
      low = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}
