/* fbb_builder.h: the smallest FlatBuffers builder the Arrow IPC writer needs (no schema compiler, no
 * flatbuffers library).
 *
 * Like the reference builder, it builds back to front: the buffer grows towards lower addresses, so every
 * object is complete before anything refers to it, and every uoffset points forward, as readers require.
 * A reference (fbb_ref) is an object's distance from the END of the buffer, which stays valid while the
 * buffer grows. Alignment is also counted from the end; fbb_finish pads the whole buffer to the largest
 * alignment used, so counted from the start it is the same.
 *
 * Errors (allocation failure, table misuse) are sticky: calls after one do nothing, fbb_finish returns NULL.
 * Scalars are written even when they equal the schema default (the reader sees them either way; writing
 * them spares us knowing each default).
 */
#ifndef TS_FB_BUILDER_H
#define TS_FB_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t fbb_ref; /* distance of an object from the buffer's end; 0 is never a valid object */

#define FB_MAX_FIELDS 16 /* the largest Arrow table we write (Field) has 7 */

typedef struct fbb_builder {
  uint8_t *buf; /* data lives in buf[cap - size, cap) */
  size_t cap, size;
  size_t minalign;
  int failed;
  /* the table being built (tables cannot nest: build children first, as in the reference builder) */
  int in_table;
  size_t table_start;                /* size when the table was started */
  uint32_t field_pos[FB_MAX_FIELDS]; /* where each field was written, as distance from end; 0: absent */
  int n_field_ids;                   /* highest field id + 1 */
} fbb_builder;

void fbb_init(fbb_builder *b);
void fbb_release(fbb_builder *b);

/* Objects outside tables. */
fbb_ref fbb_string(fbb_builder *b, const char *s, size_t len);
/* A vector of N inline structs of ELEM_SIZE bytes each, aligned to ALIGN (bytes are copied as given). */
fbb_ref fbb_struct_vector(fbb_builder *b, const void *elems, size_t elem_size, size_t n, size_t align);
/* A vector of N references to tables or strings. */
fbb_ref fbb_ref_vector(fbb_builder *b, const fbb_ref *refs, size_t n);

/* Tables: start, add fields (any order, each id once), end. */
void fbb_table_start(fbb_builder *b);
void fbb_add_u8(fbb_builder *b, int id, uint8_t v);
void fbb_add_i16(fbb_builder *b, int id, int16_t v);
void fbb_add_i32(fbb_builder *b, int id, int32_t v);
void fbb_add_i64(fbb_builder *b, int id, int64_t v);
void fbb_add_ref(fbb_builder *b, int id, fbb_ref r); /* r == 0: field left absent */
fbb_ref fbb_table_end(fbb_builder *b);

/* Writes the root offset; returns the finished buffer (owned by B, valid until fbb_release) and its size,
 * a multiple of 8. NULL on an earlier error. */
const uint8_t *fbb_finish(fbb_builder *b, fbb_ref root, size_t *size);

#endif
