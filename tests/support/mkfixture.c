/* tc-mkfixture: writes the deterministic Arrow IPC fixtures of fixtures.h.
 *
 *   tc-mkfixture example OUT.arrow [--rows N] [--batch-rows N] [--stream] [--codec none|lz4|zstd]
 *       the example table (image [3,8,8] uint8, label, caption, score); default 100 rows, batches of 64
 *   tc-mkfixture all-types OUTDIR
 *       every type, with nulls and an empty batch, once per format x codec:
 *       OUTDIR/all-types-{file,stream}-{none,lz4,zstd}.{arrow,arrows}
 *   tc-mkfixture big OUT.arrow --rows N [--image CxHxW] [--batch-rows N] [--stream] [--codec ...]
 *       the example table with a bigger image (default 3x64x64, batches of 1024), written one batch at a
 *       time so it never holds more than a batch in memory
 *
 * Cell values follow the rules in fixtures.h, so tests recompute them from the row index.
 */
#include "fixtures.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
  const char *cmd, *out;
  int64_t rows, batch_rows;
  fx_shape shape;
  aw_options opt;
} args;

static int usage(void) {
  fputs("usage: tc-mkfixture example OUT.arrow [--rows N] [--batch-rows N] [--stream] [--codec none|lz4|zstd]\n"
        "       tc-mkfixture all-types OUTDIR\n"
        "       tc-mkfixture big OUT.arrow --rows N [--image CxHxW] [--batch-rows N] [--stream] [--codec C]\n",
        stderr);
  return 2;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0) return -1;
  *out = v;
  return 0;
}

static int parse_shape(const char *s, fx_shape *out) {
  long long c, h, w;
  char tail;
  if (sscanf(s, "%lldx%lldx%lld%c", &c, &h, &w, &tail) != 3 || c <= 0 || h <= 0 || w <= 0) return -1;
  *out = (fx_shape){c, h, w};
  return 0;
}

static int parse_codec(const char *s, enum aw_codec *out) {
  static const char *names[] = {"none", "lz4", "zstd"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, names[i])) return *out = (enum aw_codec)i, 0;
  return -1;
}

/* One option at argv[*i] (and its value); -1 when unknown or malformed. */
static int parse_option(args *a, int argc, char **argv, int *i) {
  const char *o = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (!strcmp(o, "--stream")) return a->opt.format = AW_STREAM, 0;
  if (!v) return -1;
  ++*i;
  if (!strcmp(o, "--rows")) return parse_i64(v, &a->rows);
  if (!strcmp(o, "--batch-rows")) return parse_i64(v, &a->batch_rows) || a->batch_rows == 0 ? -1 : 0;
  if (!strcmp(o, "--image")) return parse_shape(v, &a->shape);
  if (!strcmp(o, "--codec")) return parse_codec(v, &a->opt.codec);
  return -1;
}

static int parse_args(args *a, int argc, char **argv) {
  if (argc < 3) return -1;
  a->cmd = argv[1];
  a->out = argv[2];
  int big = !strcmp(a->cmd, "big");
  a->rows = big ? -1 : 100;
  a->batch_rows = big ? 1024 : 64;
  a->shape = big ? (fx_shape){3, 64, 64} : FX_EXAMPLE_SHAPE;
  for (int i = 3; i < argc; i++)
    if (parse_option(a, argc, argv, &i)) return -1;
  return big && a->rows < 0 ? -1 : 0;
}

static int fail(const char *what, const char *path) {
  fprintf(stderr, "tc-mkfixture: %s %s: %s\n", what, path, strerror(errno));
  return 1;
}

static int cmd_example(const args *a) {
  fx_table t;
  if (fx_example(&t, a->shape, a->rows, a->batch_rows)) return fail("building", a->out);
  int rc = fx_table_write(a->out, &a->opt, &t);
  fx_table_free(&t);
  return rc ? fail("writing", a->out) : 0;
}

static int cmd_all_types(const args *a) {
  static const char *codecs[] = {"none", "lz4", "zstd"};
  fx_table t;
  if (fx_all_types(&t)) return fail("building", "all-types");
  int rc = 0;
  for (int f = 0; f < 2 && !rc; f++)
    for (int c = 0; c < 3 && !rc; c++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/all-types-%s-%s.%s", a->out, f ? "stream" : "file", codecs[c],
               f ? "arrows" : "arrow");
      aw_options opt = {.format = (enum aw_format)f, .codec = (enum aw_codec)c};
      if (fx_table_write(path, &opt, &t)) rc = fail("writing", path);
    }
  fx_table_free(&t);
  return rc;
}

/* Writes one batch at a time: each batch's memory is freed before the next is built. */
static int cmd_big(const args *a) {
  fx_arena *schema_arena = fx_arena_new();
  at_schema schema;
  if (!schema_arena || fx_example_schema(schema_arena, a->shape, &schema)) {
    fx_arena_free(schema_arena);
    return fail("building", a->out);
  }
  aw_writer *w = aw_open(a->out, &a->opt, &schema);
  int rc = w ? 0 : -1;
  for (int64_t row0 = 0; !rc && row0 < a->rows; row0 += a->batch_rows) {
    int64_t n = a->rows - row0 < a->batch_rows ? a->rows - row0 : a->batch_rows;
    fx_arena *ba = fx_arena_new();
    at_array *cols = ba ? fx_example_batch(ba, a->shape, row0, n) : NULL;
    rc = cols ? aw_write_batch(w, n, cols) : (errno = ENOMEM, -1);
    fx_arena_free(ba);
  }
  if (w && rc)
    aw_abort(w);
  else if (w)
    rc = aw_close(w);
  fx_arena_free(schema_arena);
  return rc ? fail("writing", a->out) : 0;
}

int main(int argc, char **argv) {
  args a = {0};
  if (parse_args(&a, argc, argv)) return usage();
  if (!strcmp(a.cmd, "example")) return cmd_example(&a);
  if (!strcmp(a.cmd, "all-types")) return cmd_all_types(&a);
  if (!strcmp(a.cmd, "big")) return cmd_big(&a);
  return usage();
}
