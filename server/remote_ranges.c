/* remote_ranges.c: see remote_ranges.h. */
#include "remote_ranges.h"

#include <stdlib.h>
#include <string.h>

void ts_ranges_free(ts_ranges *r) {
  free(r->v);
  *r = (ts_ranges){0};
}

/* Index of the first span whose end is >= X (the first that X can touch). */
static size_t first_touching(const ts_ranges *r, int64_t x) {
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r->v[mid].end < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int reserve(ts_ranges *r, size_t n) {
  if (n <= r->cap) return 0;
  size_t cap = r->cap ? r->cap * 2 : 8;
  while (cap < n) cap *= 2;
  ts_span *v = realloc(r->v, cap * sizeof *v);
  if (!v) return -1;
  r->v = v;
  r->cap = cap;
  return 0;
}

int ts_ranges_add(ts_ranges *r, int64_t start, int64_t end) {
  if (start >= end) return 0;
  size_t i = first_touching(r, start), j = i;
  while (j < r->n && r->v[j].start <= end) j++; /* spans i..j-1 touch [start, end) */
  if (i < j) {
    if (r->v[i].start < start) start = r->v[i].start;
    if (r->v[j - 1].end > end) end = r->v[j - 1].end;
    r->v[i] = (ts_span){start, end};
    memmove(r->v + i + 1, r->v + j, (r->n - j) * sizeof *r->v);
    r->n -= j - i - 1;
    return 0;
  }
  if (reserve(r, r->n + 1) != 0) return -1;
  memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof *r->v);
  r->v[i] = (ts_span){start, end};
  r->n++;
  return 0;
}

int ts_ranges_has(const ts_ranges *r, int64_t start, int64_t end) {
  if (start >= end) return 1;
  size_t i = first_touching(r, start + 1);
  return i < r->n && r->v[i].start <= start && r->v[i].end >= end;
}

int ts_ranges_missing(const ts_ranges *r, int64_t start, int64_t end, ts_ranges *out) {
  int64_t at = start;
  for (size_t i = first_touching(r, start + 1); i < r->n && at < end && r->v[i].start < end; i++) {
    if (r->v[i].start > at) {
      if (reserve(out, out->n + 1) != 0) return -1;
      out->v[out->n++] = (ts_span){at, r->v[i].start};
    }
    if (r->v[i].end > at) at = r->v[i].end;
  }
  if (at < end) {
    if (reserve(out, out->n + 1) != 0) return -1;
    out->v[out->n++] = (ts_span){at, end};
  }
  return 0;
}

int ts_ranges_remove(ts_ranges *r, int64_t start, int64_t end) {
  if (start >= end) return 0;
  size_t i = first_touching(r, start + 1), j = i; /* spans i..j-1 overlap [start, end) */
  while (j < r->n && r->v[j].start < end) j++;
  if (i == j) return 0;
  ts_span head = {r->v[i].start, start}, tail = {end, r->v[j - 1].end};
  size_t keep = (head.start < head.end) + (tail.start < tail.end);
  if (keep > j - i && reserve(r, r->n + keep - (j - i)) != 0) return -1;
  memmove(r->v + i + keep, r->v + j, (r->n - j) * sizeof *r->v);
  r->n = r->n - (j - i) + keep;
  if (head.start < head.end) r->v[i++] = head;
  if (tail.start < tail.end) r->v[i] = tail;
  return 0;
}

int64_t ts_ranges_bytes(const ts_ranges *r) {
  int64_t n = 0;
  for (size_t i = 0; i < r->n; i++) n += r->v[i].end - r->v[i].start;
  return n;
}
