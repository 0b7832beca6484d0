/* permutation.h: a permutation of a table's rows, split into parts. A pure function of its inputs.
 *
 * Two independent steps, each seeded:
 *  1. membership: which split each row belongs to (random, sequential or hash split; or one split of all);
 *  2. order: the table order, or a seeded shuffle of rows or of clumps of consecutive rows.
 * Split i lists its member rows in the order of step 2. The algorithms (hash.h) are fixed forever: the same
 * spec and row count give the same permutation in every process and release.
 */
#ifndef TC_PERMUTATION_H
#define TC_PERMUTATION_H

#include <stddef.h>
#include <stdint.h>

#define TC_PERM_MAX_SPLITS 1024

typedef enum tc_split_kind {
  TC_SPLIT_NONE = 0,  /* one split of every row */
  TC_SPLIT_RANDOM,
  TC_SPLIT_SEQUENTIAL,
  TC_SPLIT_HASH,
} tc_split_kind;

typedef struct tc_perm_spec {
  int shuffle;           /* nonzero: shuffle the order with shuffle_seed */
  uint64_t shuffle_seed;
  int64_t clump_size;    /* 0 or 1: shuffle rows; K > 1: shuffle runs of K consecutive rows */

  tc_split_kind split;
  /* RANDOM and SEQUENTIAL: exactly one of ratios, counts or fixed. */
  size_t n_ratios;
  const double *ratios;
  size_t n_counts;
  const int64_t *counts;
  int32_t fixed;
  uint64_t split_seed;   /* RANDOM */
  /* HASH: one weight per split; row_hash (tc_perm_build) gives each row's hash. */
  size_t n_weights;
  const int64_t *weights;
} tc_perm_spec;

typedef struct tc_perm tc_perm;

/* Number of splits SPEC asks for, or -1 with a message in err when the spec is invalid for NUM_ROWS rows. */
int tc_perm_spec_check(const tc_perm_spec *spec, int64_t num_rows, char *err, size_t errlen);

/* Builds the permutation of NUM_ROWS rows. ROW_HASH (NUM_ROWS values) is needed for TC_SPLIT_HASH only.
 * Returns 0, or -1 with a message in err (invalid spec, or out of memory). Free with tc_perm_free. */
int tc_perm_build(const tc_perm_spec *spec, int64_t num_rows, const uint64_t *row_hash, tc_perm **out,
                  char *err, size_t errlen);
void tc_perm_free(tc_perm *p);

size_t tc_perm_num_splits(const tc_perm *p);
int64_t tc_perm_split_len(const tc_perm *p, size_t split);
/* Global row id at position POS of SPLIT; the caller checks POS < tc_perm_split_len. */
int64_t tc_perm_row(const tc_perm *p, size_t split, int64_t pos);
/* Heap bytes the permutation holds. */
size_t tc_perm_bytes(const tc_perm *p);

#endif
