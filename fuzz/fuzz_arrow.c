/* fuzz_arrow: the Arrow IPC reader (server/arrow_file.c) over arbitrary bytes, file and stream format.
 *
 * The input is written to a file (the reader maps files), opened, every batch of every column is decoded
 * and every byte the reader hands out is read (so ASan sees a view that runs past its buffer); then the
 * same file is opened as a table and its rows are gathered, in an order that crosses batches, and hashed,
 * through the code the server's TakeRows / ReadBatch / hash splits use. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "arrow_file.h"
#include "cache.h"
#include "gather.h"
#include "row_hash.h"
#include "schema.h"
#include "table.h"

static char g_dir[64];
static char g_path[96];
static ts_cache *g_cache;
static volatile uint8_t g_sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/fuzz_arrowXXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) abort();
  snprintf(g_path, sizeof g_path, "%s/in.arrow", g_dir);
  g_cache = ts_cache_new(4 << 20);
  return 0;
}

static void touch(const uint8_t *p, int64_t n) {
  uint8_t x = 0;
  for (int64_t i = 0; i < n; i++) x ^= p[i];
  g_sink ^= x;
}

static int is_large(at_type t) { return t == AT_LARGE_UTF8 || t == AT_LARGE_BINARY || t == AT_LARGE_LIST; }

/* Reads every byte that an array of field F promises: validity, offsets, values, children. */
static void walk(const at_field *f, const at_array *a) {
  if (a->validity) touch(a->validity, (a->length + 7) / 8);
  switch (f->type) {
  case AT_UTF8:
  case AT_BINARY:
  case AT_LARGE_UTF8:
  case AT_LARGE_BINARY:
  case AT_LIST:
  case AT_LARGE_LIST: {
    int w = is_large(f->type) ? 8 : 4;
    touch(a->offsets, (a->length + 1) * w);
    int64_t last = w == 8 ? ((const int64_t *)(const void *)a->offsets)[a->length]
                          : ((const int32_t *)(const void *)a->offsets)[a->length];
    if (f->type == AT_LIST || f->type == AT_LARGE_LIST) {
      if (last > a->children[0].length) abort(); /* the reader promised offsets within the child */
    } else {
      if (last > a->values_len) abort();
      touch(a->values, last);
    }
    break;
  }
  default:
    if (a->values) touch(a->values, a->values_len);
  }
  if (a->n_children != f->n_children && f->type != AT_NULL) abort();
  for (size_t i = 0; i < a->n_children; i++) walk(&f->children[i], &a->children[i]);
}

static void read_file(void) {
  at_file *f;
  char err[512];
  if (at_file_open(g_path, &f, err, sizeof err) != 0) {
    if (!strstr(err, g_path)) abort(); /* every error names the file */
    return;
  }
  const at_schema *s = at_file_schema(f);
  for (int i = 0; i < at_file_num_batches(f); i++) {
    at_batch *b;
    if (at_file_read_batch(f, i, &b, err, sizeof err) != 0) {
      if (!strstr(err, g_path)) abort();
      continue;
    }
    for (size_t c = 0; c < b->n_columns; c++) walk(&s->fields[c], &b->columns[c]);
    at_batch_free(b);
  }
  at_file_close(f);
}

/* Rows of the whole table through gather: the first and last rows, interleaved (crossing batches). */
static void gather_table(void) {
  char *files[] = {"in.arrow"};
  ts_table *t;
  ts_error err = {0};
  if (ts_table_open("t", g_dir, files, 1, g_cache, &t, &err) != TC_OK) return;
  int64_t n = ts_table_num_rows(t);
  int64_t rows[64];
  size_t k = 0;
  for (int64_t i = 0; i < n && k < 64; i++) {
    rows[k++] = n - 1 - i;
    if (k < 64 && i < n - 1 - i) rows[k++] = i;
  }
  const at_schema *s = ts_table_schema(t);
  size_t *cols = NULL, ncols = 0;
  if (ts_select_columns(s, NULL, 0, &cols, &ncols, &err) == TC_OK) {
    Tablecar__V1__Batch *out = NULL;
    if (ts_gather(t, rows, k, cols, ncols, 1 << 22, &out, &err) == TC_OK) ts_batch_msg_free(out);
    /* Hash splits read every row of the hashed columns: only for tables of a sane row count. */
    if (n <= (1 << 16)) {
      uint64_t *h = malloc((size_t)(n ? n : 1) * sizeof *h);
      for (size_t c = 0; h && c < ncols; c++) ts_row_hashes(t, &cols[c], 1, h, &err);
      free(h);
    }
  }
  free(cols);
  ts_table_unref(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *fp = fopen(g_path, "wb");
  if (!fp) abort();
  if (size && fwrite(data, 1, size, fp) != size) abort();
  fclose(fp);
  read_file();
  gather_table();
  return 0;
}
