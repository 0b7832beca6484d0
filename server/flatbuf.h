/* flatbuf.h: bounds-checked reading of untrusted flatbuffers, just what the Arrow IPC reader needs.
 *
 * Every accessor checks that what it reads lies inside the buffer. Accessors take a "sticky" error flag:
 * on corruption they set *bad = 1 and return a harmless value (a default, an empty table or vector), so a
 * caller can read several fields and test the flag once. All reads go through memcpy: flatbuffers in a file
 * need not be aligned in memory. Multi-byte values are little-endian (only little-endian hosts are
 * supported, see arrow_file.c).
 */
#ifndef TS_FLATBUF_H
#define TS_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fb_table {
  const uint8_t *buf;
  size_t len;       /* bytes of the whole flatbuffer */
  size_t pos;       /* start of the table (its soffset to the vtable) */
  size_t vt;        /* start of its vtable */
  uint16_t vt_len;  /* vtable bytes */
  uint16_t tbl_len; /* table bytes, from pos */
} fb_table;

typedef struct fb_vec {
  const uint8_t *buf;
  size_t len;
  size_t pos; /* first element */
  size_t n;   /* element count */
} fb_vec;

/* The root table of BUF. Returns 0, or -1 when it does not fit. */
int fb_root(const uint8_t *buf, size_t len, fb_table *t);

/* Whether field ID is present in the table (its vtable slot is nonzero). */
int fb_has(const fb_table *t, int id);

/* Scalars: DEF when the field is absent. */
uint8_t fb_u8(const fb_table *t, int id, uint8_t def, int *bad);
int16_t fb_i16(const fb_table *t, int id, int16_t def, int *bad);
int32_t fb_i32(const fb_table *t, int id, int32_t def, int *bad);
int64_t fb_i64(const fb_table *t, int id, int64_t def, int *bad);

/* A sub-table (also a union's value). Returns 1 and fills *out when present, 0 when absent or corrupt. */
int fb_table_field(const fb_table *t, int id, fb_table *out, int *bad);

/* A string: *s points to its bytes (not necessarily NUL-terminated), *n its length. Returns 1 when
 * present; 0 with *s = "" and *n = 0 when absent or corrupt. */
int fb_string(const fb_table *t, int id, const char **s, size_t *n, int *bad);

/* A vector of ELEM_SIZE-byte elements (4 for tables and strings: they are offsets). Returns its length,
 * 0 (with an empty vector) when absent or corrupt. */
size_t fb_vector(const fb_table *t, int id, size_t elem_size, fb_vec *v, int *bad);

/* Element I of a vector of tables. Returns 1, or 0 when corrupt (I is the caller's to keep < v->n). */
int fb_vec_table(const fb_vec *v, size_t i, fb_table *out, int *bad);

/* Element I of a vector of structs or scalars of ELEM_SIZE bytes (the size given to fb_vector). */
const uint8_t *fb_vec_elem(const fb_vec *v, size_t i, size_t elem_size);

/* Little-endian loads from unaligned memory. */
static inline uint16_t fb_load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static inline uint32_t fb_load_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t fb_load_u64(const uint8_t *p) {
  return (uint64_t)fb_load_u32(p) | (uint64_t)fb_load_u32(p + 4) << 32;
}

#endif
