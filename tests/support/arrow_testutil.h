/* arrow_testutil.h: what test_arrow_file.c and test_arrow_corrupt.c share: the fixture files written by
 * apache-arrow and nodejs-polars (node, at test time) into a temporary directory, the walk that touches every
 * byte the reader promises (ASan checks it), and reading files expected to be corrupt. Uses cmocka. */
#ifndef TC_ARROW_TESTUTIL_H
#define TC_ARROW_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "arrow_file.h"
#include "json.h"

typedef struct fixtures {
  char dir[512];
  int arrow_ok;   /* apache-arrow fixtures written */
  int polars_ok;  /* nodejs-polars fixtures written */
  char why[1024]; /* why not, for skip messages */
  jv arrow, polars;
} fixtures;

/* PATH of NAME in FX's directory (a rotating thread-local buffer: valid for the next 7 calls). */
char *path_in(const fixtures *fx, const char *name);
/* The whole file (NUL-terminated, NULL if unreadable) and its length. */
uint8_t *slurp(const char *path, size_t *len);
/* Writes LEN bytes of DATA to PATH (asserts). */
void spit(const char *path, const void *data, size_t len);

/* cmocka group setup and teardown: write the fixtures (fixtures * in *STATE), remove them. */
int setup_fixtures(void **state);
int teardown_fixtures(void **state);
/* The fixtures, or skip the test when they could not be written. */
fixtures *need_arrow(void **state);
fixtures *need_polars(void **state);

int64_t bm_bytes(int64_t n);
int is_null(const at_array *a, int64_t i);
int64_t ld_off(const at_array *a, int large, int64_t i);
int is_large(at_type t);
uint64_t touch(const uint8_t *p, int64_t n);
uint64_t walk_array(const at_field *f, const at_array *a);
uint64_t walk_batch(const at_schema *s, const at_batch *b);

int try_read(const char *path, int64_t *rows);
void expect_fail(const char *path, ...);

/* Names of aw_format and aw_codec values, for messages. */
extern const char *const format_names[2];
extern const char *const codec_names[3];

#endif
