/* fixtures.h: the deterministic tables tc-mkfixture writes and tests recompute.
 *
 * Every value is a function of the row's index i in the whole table (not in its batch), so a test can
 * recompute any cell without reading the file. The rules:
 *
 * Example table (fx_example_*), columns in this order:
 *   image   fixed_size_list<fixed_size_list<fixed_size_list<uint8, W>, H>, C> (shape [C, H, W]; default
 *           [3, 8, 8]), never null. Byte k of row i (k = (c * H + y) * W + x, row-major): (i * 31 + k) % 256.
 *   label   int64, never null: i % 10.
 *   caption utf8: "row <i>" (decimal i); null when i % 7 == 3.
 *   score   float32, never null: (i % 100) * 0.25 (exact in binary).
 *   Batches hold batch_rows rows (the last one the rest).
 *
 * All-types table (fx_all_types): FX_ALL_TYPES_ROWS rows in batches of 4, 0, 5 and 3 rows. Column c (its
 * index in the schema, 0-based) is null at row i when (i + c) % 4 == 0, except column 0. mix(i) below is
 * (uint64_t)i * 0x9E3779B97F4A7C15 (wrapping). Each column's rule is the v_* / s_* function or nested
 * builder named after it in fixtures.c (fixed_cols, var_cols, nested columns); tests compare with the
 * arrays that were built rather than recompute them. Column 0, "id" (int64, not nullable), is i.
 */
#ifndef TS_FIXTURES_H
#define TS_FIXTURES_H

#include "arrow_writer.h"

#include <stddef.h>
#include <stdint.h>

/* Allocations that live as long as a table or a batch. */
typedef struct fx_arena fx_arena;
fx_arena *fx_arena_new(void);
void *fx_alloc(fx_arena *a, size_t n); /* zeroed; NULL on failure */
void fx_arena_free(fx_arena *a);

typedef struct fx_table {
  at_schema schema;
  size_t n_batches;
  int64_t *batch_rows;
  const at_array **batches; /* batches[b]: schema.n_fields arrays */
  fx_arena *arena;          /* owns everything above */
} fx_table;

void fx_table_free(fx_table *t);
int fx_table_write(const char *path, const aw_options *opt, const fx_table *t);

typedef struct fx_shape {
  int64_t c, h, w;
} fx_shape;

#define FX_EXAMPLE_SHAPE ((fx_shape){3, 8, 8})

/* The example table's cells (see above). caption returns NULL for null, else a string in BUF (32 bytes). */
uint8_t fx_example_image_byte(int64_t i, int64_t k);
int64_t fx_example_label(int64_t i);
const char *fx_example_caption(int64_t i, char buf[32]);
float fx_example_score(int64_t i);

/* The example schema, allocated in A. */
int fx_example_schema(fx_arena *a, fx_shape shape, at_schema *out);
/* Rows [row0, row0 + n) of the example table as 4 arrays allocated in A. NULL on failure. */
at_array *fx_example_batch(fx_arena *a, fx_shape shape, int64_t row0, int64_t n);
/* The whole example table in memory. Returns 0 or -1 (errno). */
int fx_example(fx_table *t, fx_shape shape, int64_t rows, int64_t batch_rows);

#define FX_ALL_TYPES_ROWS 12
int fx_all_types(fx_table *t);

#endif
