/* fb_builder.h: the smallest FlatBuffers builder the Arrow IPC writer needs (no schema compiler, no
 * flatbuffers library).
 *
 * Like the reference builder, it builds back to front: the buffer grows towards lower addresses, so every
 * object is complete before anything refers to it, and every uoffset points forward, as readers require.
 * A reference (fb_ref) is an object's distance from the END of the buffer, which stays valid while the
 * buffer grows. Alignment is also counted from the end; fb_finish pads the whole buffer to the largest
 * alignment used, so counted from the start it is the same.
 *
 * Errors (allocation failure, table misuse) are sticky: calls after one do nothing, fb_finish returns NULL.
 * Scalars are written even when they equal the schema default (the reader sees them either way; writing
 * them spares us knowing each default).
 */
#ifndef TC_FB_BUILDER_H
#define TC_FB_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t fb_ref; /* distance of an object from the buffer's end; 0 is never a valid object */

#define FB_MAX_FIELDS 16 /* the largest Arrow table we write (Field) has 7 */

typedef struct fb_builder {
  uint8_t *buf;  /* data lives in buf[cap - size, cap) */
  size_t cap, size;
  size_t minalign;
  int failed;
  /* the table being built (tables cannot nest: build children first, as in the reference builder) */
  int in_table;
  size_t table_start;               /* size when the table was started */
  uint32_t field_pos[FB_MAX_FIELDS]; /* where each field was written, as distance from end; 0: absent */
  int n_field_ids;                  /* highest field id + 1 */
} fb_builder;

void fb_init(fb_builder *b);
void fb_release(fb_builder *b);

/* Objects outside tables. */
fb_ref fb_string(fb_builder *b, const char *s, size_t len);
/* A vector of N inline structs of ELEM_SIZE bytes each, aligned to ALIGN (bytes are copied as given). */
fb_ref fb_struct_vector(fb_builder *b, const void *elems, size_t elem_size, size_t n, size_t align);
/* A vector of N references to tables or strings. */
fb_ref fb_ref_vector(fb_builder *b, const fb_ref *refs, size_t n);

/* Tables: start, add fields (any order, each id once), end. */
void fb_table_start(fb_builder *b);
void fb_add_u8(fb_builder *b, int id, uint8_t v);
void fb_add_i16(fb_builder *b, int id, int16_t v);
void fb_add_i32(fb_builder *b, int id, int32_t v);
void fb_add_i64(fb_builder *b, int id, int64_t v);
void fb_add_ref(fb_builder *b, int id, fb_ref r); /* r == 0: field left absent */
fb_ref fb_table_end(fb_builder *b);

/* Writes the root offset; returns the finished buffer (owned by B, valid until fb_release) and its size,
 * a multiple of 8. NULL on an earlier error. */
const uint8_t *fb_finish(fb_builder *b, fb_ref root, size_t *size);

#endif
