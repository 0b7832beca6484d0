/* permutation.h: a permutation of a table's rows, split into parts. A pure function of its inputs.
 *
 * Two independent steps, each seeded:
 *  1. membership: which split each row belongs to (random, sequential or hash split; or one split of all);
 *  2. order: the table order, or a seeded shuffle of rows or of clumps of consecutive rows.
 * Split i lists its member rows in the order of step 2. The algorithms (hash.h) are fixed forever: the same
 * spec and row count give the same permutation in every process and release.
 */
#ifndef TS_PERMUTATION_H
#define TS_PERMUTATION_H

#include <stddef.h>
#include <stdint.h>

#include "tablecar.h" /* tc_split_kind: the protocol's split kinds */

#define TS_PERM_MAX_SPLITS 1024

typedef struct ts_perm_spec {
  int shuffle; /* nonzero: shuffle the order with shuffle_seed */
  uint64_t shuffle_seed;
  int64_t clump_size; /* 0 or 1: shuffle rows; K > 1: shuffle runs of K consecutive rows */

  tc_split_kind split;
  /* RANDOM and SEQUENTIAL: exactly one of ratios, counts or fixed. */
  size_t n_ratios;
  const double *ratios;
  size_t n_counts;
  const int64_t *counts;
  int32_t fixed;
  uint64_t split_seed; /* RANDOM */
  /* HASH: one weight per split; row_hash (ts_perm_build) gives each row's hash. */
  size_t n_weights;
  const int64_t *weights;
} ts_perm_spec;

typedef struct ts_perm ts_perm;

/* Number of splits SPEC asks for, or -1 with a message in err when the spec is invalid for NUM_ROWS rows. */
int ts_perm_spec_check(const ts_perm_spec *spec, int64_t num_rows, char *err, size_t errlen);

/* Builds the permutation of NUM_ROWS rows. ROW_HASH (NUM_ROWS values) is needed for TC_SPLIT_HASH only.
 * Returns 0, or -1 with a message in err (invalid spec, or out of memory). Free with ts_perm_free. */
int ts_perm_build(const ts_perm_spec *spec, int64_t num_rows, const uint64_t *row_hash, ts_perm **out, char *err,
                  size_t errlen);
void ts_perm_free(ts_perm *p);

size_t ts_perm_num_splits(const ts_perm *p);
int64_t ts_perm_split_len(const ts_perm *p, size_t split);
/* Global row id at position POS of SPLIT; the caller checks POS < ts_perm_split_len. */
int64_t ts_perm_row(const ts_perm *p, size_t split, int64_t pos);
/* Heap bytes the permutation holds. */
size_t ts_perm_bytes(const ts_perm *p);

#endif
