/* A bump allocator: the objects of one result (a batch's columns, a schema's fields and their names) are
 * many small pieces with one lifetime, so they are carved from a few chunks and freed together. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TC__CHUNK_MIN 4096
#define TC__ALIGN 16

struct tc__chunk {
  tc__chunk *next;
  size_t used, cap;
  _Alignas(TC__ALIGN) unsigned char data[];
};

static tc__chunk *chunk_new(size_t cap) {
  tc__chunk *c = malloc(sizeof *c + cap);
  if (!c) return NULL;
  c->next = NULL;
  c->used = 0;
  c->cap = cap;
  return c;
}

void *tc__arena_alloc(tc__arena *a, size_t size) {
  size = (size + TC__ALIGN - 1) & ~(size_t)(TC__ALIGN - 1);
  if (size == 0) size = TC__ALIGN;
  tc__chunk *c = a->head;
  if (!c || c->cap - c->used < size) {
    /* Chunks grow so that a result with many pieces needs few mallocs. */
    size_t cap = c ? c->cap * 2 : TC__CHUNK_MIN;
    if (cap < size) cap = size;
    tc__chunk *n = chunk_new(cap);
    if (!n) return NULL;
    n->next = c;
    a->head = c = n;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

char *tc__arena_strndup(tc__arena *a, const void *s, size_t n) {
  if (n >= SIZE_MAX - TC__ALIGN) return NULL;
  char *p = tc__arena_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void tc__arena_free(tc__arena *a) {
  /* The arena struct may live inside its own first chunk: read everything before freeing. */
  tc__chunk *c = a->head;
  while (c) {
    tc__chunk *next = c->next;
    free(c);
    c = next;
  }
}
