/* arrow/util.c: the reader's error messages and arenas. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *const ar_type_names[T_COUNT] = {"NONE",          "Null",      "Int",           "FloatingPoint",
                                            "Binary",        "Utf8",      "Bool",          "Decimal",
                                            "Date",          "Time",      "Timestamp",     "Interval",
                                            "List",          "Struct",    "Union",         "FixedSizeBinary",
                                            "FixedSizeList", "Map",       "Duration",      "LargeBinary",
                                            "LargeUtf8",     "LargeList", "RunEndEncoded", "BinaryView",
                                            "Utf8View",      "ListView",  "LargeListView"};

const uint8_t ar_zero_offsets[8];

/* ------------------------------------------------------------------------------------------------------ */
/* Errors */

__attribute__((format(printf, 3, 0))) static int vfail(const ctx *c, const char *field, const char *fmt, va_list ap) {
  if (!c->err || c->errlen == 0) return -1;
  int n = field ? snprintf(c->err, c->errlen, "%s: field '%s': ", c->path, field)
                : snprintf(c->err, c->errlen, "%s: ", c->path);
  if (n >= 0 && (size_t)n < c->errlen) vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
  return -1;
}

/* Writes "PATH: message" and returns -1. */
int ar_fail(const ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, NULL, fmt, ap);
  va_end(ap);
  return -1;
}

/* Writes "PATH: field 'NAME': message" and returns -1. */
int ar_ffail(const ctx *c, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, field, fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Arenas: one for the file's metadata, one per decoded batch. Blocks are individual mallocs in a list. */

ablk *ar_blk_new(size_t n) {
  if (n > SIZE_MAX - sizeof(ablk)) return NULL;
  return malloc(sizeof(ablk) + (n ? n : 1));
}

void *ar_blk_adopt(arena *a, ablk *b, size_t data_bytes) {
  b->next = a->head;
  a->head = b;
  a->data_bytes += data_bytes;
  return b->data;
}

/* Zeroed memory for structs and arrays of them; NULL on overflow or exhaustion. */
void *ar_calloc(arena *a, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  ablk *b = ar_blk_new(n * size);
  if (!b) return NULL;
  memset(b->data, 0, n * size);
  return ar_blk_adopt(a, b, 0);
}

/* Uninitialised buffer memory, counted in data_bytes. */
uint8_t *ar_buffer(arena *a, int64_t n) {
  if (n < 0 || n > MAX_BUFFER) return NULL;
  ablk *b = ar_blk_new((size_t)n);
  return b ? ar_blk_adopt(a, b, (size_t)n) : NULL;
}

char *ar_strdup(arena *a, const char *s, size_t n) {
  char *p = ar_calloc(a, n + 1, 1);
  if (p) memcpy(p, s, n);
  return p;
}

void ar_free(arena *a) {
  for (ablk *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  a->head = NULL;
  a->data_bytes = 0;
}
