/* remote_ranges.h: the byte ranges of an object that are in the local cache, as a sorted list of disjoint,
 * non-adjacent [start, end) intervals. Pure logic, no locking: the owner (remote_blob.c) holds a lock. */
#ifndef TS_REMOTE_RANGES_H
#define TS_REMOTE_RANGES_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_span {
  int64_t start, end; /* [start, end) */
} ts_span;

typedef struct ts_ranges {
  ts_span *v;
  size_t n, cap;
} ts_ranges;

void ts_ranges_free(ts_ranges *r);
/* Adds [start, end), merging with what it touches. -1 when out of memory. */
int ts_ranges_add(ts_ranges *r, int64_t start, int64_t end);
/* Nonzero when [start, end) is all in R (an empty span always is). */
int ts_ranges_has(const ts_ranges *r, int64_t start, int64_t end);
/* Appends to OUT the parts of [start, end) that R lacks, in order. -1 when out of memory. */
int ts_ranges_missing(const ts_ranges *r, int64_t start, int64_t end, ts_ranges *out);
/* Removes [start, end) from R, splitting the span it falls inside. -1 when out of memory (R unchanged). */
int ts_ranges_remove(ts_ranges *r, int64_t start, int64_t end);
/* Total bytes in R. */
int64_t ts_ranges_bytes(const ts_ranges *r);

#endif
