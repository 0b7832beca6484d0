/* permutation.c: see permutation.h. */
#include "permutation.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define NO_SPLIT UINT16_MAX

struct ts_perm {
  int64_t num_rows;
  size_t n_splits;
  int64_t *start; /* n_splits + 1 positions into rows: split i is rows[start[i] .. start[i+1]) */
  int wide;       /* rows are int64_t (else uint32_t, half the memory for tables under 4G rows) */
  void *rows;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Exactly one of ratios, counts, fixed; returns the split count. */
static int check_sizes(const ts_perm_spec *s, int64_t num_rows, char *err, size_t errlen) {
  int given = (s->n_ratios > 0) + (s->n_counts > 0) + (s->fixed != 0);
  if (given != 1) return fail(err, errlen, "a split needs exactly one of ratios, counts or fixed");
  if (s->fixed != 0) {
    if (s->fixed < 1 || s->fixed > TS_PERM_MAX_SPLITS)
      return fail(err, errlen, "fixed must be between 1 and %d, not %d", TS_PERM_MAX_SPLITS, s->fixed);
    return s->fixed;
  }
  size_t n = s->n_ratios ? s->n_ratios : s->n_counts;
  if (n > TS_PERM_MAX_SPLITS) return fail(err, errlen, "at most %d splits, not %zu", TS_PERM_MAX_SPLITS, n);
  if (s->n_ratios) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
      double r = s->ratios[i];
      if (!(r > 0 && r <= 1)) /* also rejects NaN */
        return fail(err, errlen, "ratio %zu is %g: ratios must be in (0, 1]", i, r);
      sum += r;
    }
    if (sum > 1 + 1e-9) return fail(err, errlen, "ratios sum to %g, more than 1", sum);
    return (int)n;
  }
  int64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (s->counts[i] < 0) return fail(err, errlen, "count %zu is negative", i);
    if (s->counts[i] > num_rows - total)
      return fail(err, errlen, "counts sum to more than the table's %lld rows", (long long)num_rows);
    total += s->counts[i];
  }
  return (int)n;
}

int ts_perm_spec_check(const ts_perm_spec *s, int64_t num_rows, char *err, size_t errlen) {
  if (num_rows < 0) return fail(err, errlen, "negative row count");
  if (s->clump_size < 0) return fail(err, errlen, "clump_size must not be negative");
  switch (s->split) {
  case TC_SPLIT_NONE: return 1;
  case TC_SPLIT_RANDOM:
  case TC_SPLIT_SEQUENTIAL: return check_sizes(s, num_rows, err, errlen);
  case TC_SPLIT_HASH:
    if (s->n_weights == 0 || s->n_weights > TS_PERM_MAX_SPLITS)
      return fail(err, errlen, "a hash split needs 1 to %d weights", TS_PERM_MAX_SPLITS);
    for (size_t i = 0; i < s->n_weights; i++)
      if (s->weights[i] <= 0 || s->weights[i] > (INT64_C(1) << 40))
        return fail(err, errlen, "weight %zu must be between 1 and 2^40", i);
    return (int)s->n_weights;
  }
  return fail(err, errlen, "unknown split kind");
}

/* Rows per split for ratios/counts/fixed. Ratios that sum to 1 cover every row: the rows that flooring
 * leaves over go one each to the splits with the largest fractional parts (lowest index first on ties). */
static void split_sizes(const ts_perm_spec *s, int64_t n, size_t k, int64_t *size) {
  if (s->fixed) {
    for (size_t i = 0; i < k; i++) size[i] = n / (int64_t)k + ((int64_t)i < n % (int64_t)k);
    return;
  }
  if (s->n_counts) {
    memcpy(size, s->counts, k * sizeof *size);
    return;
  }
  double sum = 0;
  int64_t used = 0;
  for (size_t i = 0; i < k; i++) {
    sum += s->ratios[i];
    size[i] = (int64_t)floor(s->ratios[i] * (double)n);
    used += size[i];
  }
  /* Ratios a hair over 1 (within the tolerance) must still not ask for more rows than there are. */
  for (size_t i = k; used > n && i-- > 0;) {
    int64_t cut = used - n < size[i] ? used - n : size[i];
    size[i] -= cut;
    used -= cut;
  }
  if (fabs(sum - 1) > 1e-9) return;
  for (int64_t left = n - used; left > 0; left--) {
    size_t best = 0;
    double best_frac = -1;
    for (size_t i = 0; i < k; i++) {
      double frac = s->ratios[i] * (double)n - (double)size[i];
      if (frac > best_frac) {
        best = i;
        best_frac = frac;
      }
    }
    size[best]++;
  }
}

/* Fisher-Yates over 0..n-1, from the back, with ts_rng_below: the fixed algorithm of every shuffle here. */
static int64_t *shuffled_indices(int64_t n, uint64_t seed) {
  int64_t *a = malloc((size_t)(n ? n : 1) * sizeof *a);
  if (!a) return NULL;
  for (int64_t i = 0; i < n; i++) a[i] = i;
  ts_rng rng;
  ts_rng_seed(&rng, seed);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)ts_rng_below(&rng, (uint64_t)i + 1);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

static int assign_splits(const ts_perm_spec *s, int64_t n, size_t k, const uint64_t *row_hash, uint16_t *split_of) {
  if (s->split == TC_SPLIT_NONE) {
    memset(split_of, 0, (size_t)n * sizeof *split_of);
    return 0;
  }
  if (s->split == TC_SPLIT_HASH) {
    uint64_t total = 0;
    for (size_t i = 0; i < k; i++) total += (uint64_t)s->weights[i];
    for (int64_t r = 0; r < n; r++) {
      uint64_t b = row_hash[r] % total, acc = 0;
      uint16_t i = 0;
      while (b >= acc + (uint64_t)s->weights[i]) acc += (uint64_t)s->weights[i++];
      split_of[r] = i;
    }
    return 0;
  }
  int64_t *size = calloc(k, sizeof *size);
  int64_t *order = s->split == TC_SPLIT_RANDOM ? shuffled_indices(n, s->split_seed) : NULL;
  if (!size || (s->split == TC_SPLIT_RANDOM && !order)) {
    free(size);
    free(order);
    return -1;
  }
  split_sizes(s, n, k, size);
  for (int64_t r = 0; r < n; r++) split_of[r] = NO_SPLIT;
  int64_t pos = 0;
  for (size_t i = 0; i < k; i++)
    for (int64_t j = 0; j < size[i]; j++, pos++) split_of[order ? order[pos] : pos] = (uint16_t)i;
  free(size);
  free(order);
  return 0;
}

static void put_row(ts_perm *p, int64_t at, int64_t row) {
  if (p->wide)
    ((int64_t *)p->rows)[at] = row;
  else
    ((uint32_t *)p->rows)[at] = (uint32_t)row;
}

/* Walks the rows in the chosen order and appends each to its split. */
static int fill_rows(ts_perm *p, const ts_perm_spec *s, const uint16_t *split_of) {
  int64_t n = p->num_rows;
  /* A clump longer than the table is the whole table (and n + clump - 1 below cannot overflow). */
  int64_t clump = s->clump_size > 1 ? (s->clump_size < n ? s->clump_size : (n > 1 ? n : 1)) : 1;
  int64_t n_clumps = s->shuffle ? (n + clump - 1) / clump : 0;
  int64_t *clumps = s->shuffle ? shuffled_indices(n_clumps, s->shuffle_seed) : NULL;
  int64_t *next = malloc((p->n_splits + 1) * sizeof *next);
  if ((s->shuffle && !clumps) || !next) {
    free(clumps);
    free(next);
    return -1;
  }
  for (int64_t r = 0; r < n; r++)
    if (split_of[r] != NO_SPLIT) p->start[split_of[r] + 1]++;
  for (size_t i = 0; i < p->n_splits; i++) p->start[i + 1] += p->start[i];
  memcpy(next, p->start, (p->n_splits + 1) * sizeof *next);
  for (int64_t c = 0; c < (s->shuffle ? n_clumps : 1); c++) {
    int64_t first = s->shuffle ? clumps[c] * clump : 0;
    int64_t last = s->shuffle ? first + clump : n;
    if (last > n) last = n;
    for (int64_t r = first; r < last; r++)
      if (split_of[r] != NO_SPLIT) put_row(p, next[split_of[r]]++, r);
  }
  free(clumps);
  free(next);
  return 0;
}

int ts_perm_build(const ts_perm_spec *s, int64_t n, const uint64_t *row_hash, ts_perm **out, char *err, size_t errlen) {
  int k = ts_perm_spec_check(s, n, err, errlen);
  if (k < 0) return -1;
  if (s->split == TC_SPLIT_HASH && n > 0 && !row_hash) return fail(err, errlen, "a hash split needs row hashes");
  ts_perm *p = calloc(1, sizeof *p);
  uint16_t *split_of = malloc((size_t)(n ? n : 1) * sizeof *split_of);
  if (p) {
    p->num_rows = n;
    p->n_splits = (size_t)k;
    p->wide = n > (int64_t)UINT32_MAX;
    p->start = calloc((size_t)k + 1, sizeof *p->start);
    p->rows = malloc((size_t)(n ? n : 1) * (p->wide ? 8 : 4));
  }
  if (!p || !split_of || !p->start || !p->rows || assign_splits(s, n, (size_t)k, row_hash, split_of) ||
      fill_rows(p, s, split_of)) {
    free(split_of);
    ts_perm_free(p);
    return fail(err, errlen, "out of memory building a permutation of %lld rows", (long long)n);
  }
  free(split_of);
  *out = p;
  return 0;
}

void ts_perm_free(ts_perm *p) {
  if (!p) return;
  free(p->start);
  free(p->rows);
  free(p);
}

size_t ts_perm_num_splits(const ts_perm *p) { return p->n_splits; }

int64_t ts_perm_split_len(const ts_perm *p, size_t split) { return p->start[split + 1] - p->start[split]; }

int64_t ts_perm_row(const ts_perm *p, size_t split, int64_t pos) {
  int64_t at = p->start[split] + pos;
  return p->wide ? ((const int64_t *)p->rows)[at] : (int64_t)((const uint32_t *)p->rows)[at];
}

size_t ts_perm_bytes(const ts_perm *p) {
  return sizeof *p + (p->n_splits + 1) * sizeof *p->start + (size_t)p->num_rows * (p->wide ? 8 : 4);
}
