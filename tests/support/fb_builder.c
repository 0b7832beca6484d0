/* fbb_builder.c: see fbb_builder.h. Binary format (FlatBuffers "internals"): little-endian scalars; a table
 * starts with an int32 soffset to its vtable (vtable = table - soffset), the vtable is uint16 [vtable bytes,
 * table bytes, field offsets...]; strings, vectors and tables are referenced by uint32 offsets relative to
 * where the offset is stored; a vector is a uint32 count followed by its elements; a string is a vector of
 * bytes with a NUL after it. */
#include "fb_builder.h"

#include <stdlib.h>
#include <string.h>

void fbb_init(fbb_builder *b) {
  memset(b, 0, sizeof *b);
  b->minalign = 8; /* Arrow wants metadata padded to 8 bytes anyway */
}

void fbb_release(fbb_builder *b) {
  free(b->buf);
  memset(b, 0, sizeof *b);
}

/* Makes room for N more bytes in front of the data, moving the data to the end of a larger block. */
static int reserve(fbb_builder *b, size_t n) {
  if (b->failed) return -1;
  if (b->cap - b->size >= n) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->size < n) {
    if (cap > SIZE_MAX / 2 || cap >= UINT32_MAX / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  uint8_t *nb = malloc(cap);
  if (!nb) {
    b->failed = 1;
    return -1;
  }
  if (b->size) memcpy(nb + cap - b->size, b->buf + b->cap - b->size, b->size);
  free(b->buf);
  b->buf = nb;
  b->cap = cap;
  return 0;
}

static void push(fbb_builder *b, const void *p, size_t n) {
  if (!n || reserve(b, n)) return;
  b->size += n;
  memcpy(b->buf + b->cap - b->size, p, n);
}

static void push_zeros(fbb_builder *b, size_t n) {
  if (!n || reserve(b, n)) return;
  b->size += n;
  memset(b->buf + b->cap - b->size, 0, n);
}

/* Pads so that, once ADDITIONAL more bytes are pushed, the data is aligned to ALIGN (a power of two). */
static void prep(fbb_builder *b, size_t align, size_t additional) {
  if (align > b->minalign) b->minalign = align;
  push_zeros(b, (0 - (b->size + additional)) & (align - 1));
}

static void push_le(fbb_builder *b, uint64_t v, size_t n) {
  uint8_t tmp[8];
  for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
  push(b, tmp, n);
}

/* Pushes a uoffset to R: relative to the offset's own position, which is size + 4 from the end. */
static void push_uoffset(fbb_builder *b, fbb_ref r) {
  prep(b, 4, 0);
  push_le(b, (uint32_t)(b->size + 4 - r), 4);
}

fbb_ref fbb_string(fbb_builder *b, const char *s, size_t len) {
  if (b->in_table || len > UINT32_MAX / 2) {
    b->failed = 1;
    return 0;
  }
  prep(b, 4, len + 1);
  push_zeros(b, 1);
  push(b, s, len);
  push_le(b, len, 4);
  return b->failed ? 0 : (fbb_ref)b->size;
}

fbb_ref fbb_struct_vector(fbb_builder *b, const void *elems, size_t elem_size, size_t n, size_t align) {
  if (b->in_table || (n && elem_size > UINT32_MAX / 2 / n)) {
    b->failed = 1;
    return 0;
  }
  prep(b, 4, n * elem_size);     /* the count, right before the elements */
  prep(b, align, n * elem_size); /* the elements themselves */
  if (n) push(b, elems, n * elem_size);
  push_le(b, n, 4);
  return b->failed ? 0 : (fbb_ref)b->size;
}

fbb_ref fbb_ref_vector(fbb_builder *b, const fbb_ref *refs, size_t n) {
  if (b->in_table || n > UINT32_MAX / 8) {
    b->failed = 1;
    return 0;
  }
  prep(b, 4, n * 4);
  for (size_t i = n; i-- > 0;) /* back to front, so element 0 ends up first */
    push_uoffset(b, refs[i]);
  push_le(b, n, 4);
  return b->failed ? 0 : (fbb_ref)b->size;
}

void fbb_table_start(fbb_builder *b) {
  if (b->in_table) b->failed = 1;
  b->in_table = 1;
  b->table_start = b->size;
  memset(b->field_pos, 0, sizeof b->field_pos);
  b->n_field_ids = 0;
}

/* Records that field ID starts at the current front of the buffer. */
static void mark_field(fbb_builder *b, int id) {
  if (!b->in_table || id < 0 || id >= FB_MAX_FIELDS || b->field_pos[id]) {
    b->failed = 1;
    return;
  }
  b->field_pos[id] = (uint32_t)b->size;
  if (id + 1 > b->n_field_ids) b->n_field_ids = id + 1;
}

static void add_scalar(fbb_builder *b, int id, uint64_t v, size_t n) {
  prep(b, n, 0);
  push_le(b, v, n);
  mark_field(b, id);
}

void fbb_add_u8(fbb_builder *b, int id, uint8_t v) { add_scalar(b, id, v, 1); }
void fbb_add_i16(fbb_builder *b, int id, int16_t v) { add_scalar(b, id, (uint16_t)v, 2); }
void fbb_add_i32(fbb_builder *b, int id, int32_t v) { add_scalar(b, id, (uint32_t)v, 4); }
void fbb_add_i64(fbb_builder *b, int id, int64_t v) { add_scalar(b, id, (uint64_t)v, 8); }

void fbb_add_ref(fbb_builder *b, int id, fbb_ref r) {
  if (!r) return;
  push_uoffset(b, r);
  mark_field(b, id);
}

fbb_ref fbb_table_end(fbb_builder *b) {
  if (!b->in_table) {
    b->failed = 1;
    return 0;
  }
  b->in_table = 0;
  prep(b, 4, 0);
  push_zeros(b, 4); /* soffset to the vtable, patched below */
  size_t table_pos = b->size;
  size_t object_size = table_pos - b->table_start;
  /* The vtable goes right in front of the table; fields are pushed last-first so they read in id order. */
  for (int id = b->n_field_ids; id-- > 0;) {
    uint32_t pos = b->field_pos[id];
    push_le(b, pos ? table_pos - pos : 0, 2);
  }
  push_le(b, object_size, 2);
  push_le(b, 4 + 2 * (size_t)b->n_field_ids, 2);
  if (b->failed || object_size > UINT16_MAX) return b->failed = 1, 0;
  int32_t soff = (int32_t)(b->size - table_pos); /* positive: the vtable lies before the table */
  uint8_t *t = b->buf + b->cap - table_pos;
  for (int i = 0; i < 4; i++) t[i] = (uint8_t)((uint32_t)soff >> (8 * i));
  return (fbb_ref)table_pos;
}

const uint8_t *fbb_finish(fbb_builder *b, fbb_ref root, size_t *size) {
  if (b->in_table) b->failed = 1;
  prep(b, b->minalign, 4);
  push_uoffset(b, root);
  if (b->failed || !root) return NULL;
  *size = b->size;
  return b->buf + b->cap - b->size;
}
