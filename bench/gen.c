/* tablecar-bench-gen: the benchmark's data, the same rows in every form the methods read.
 *
 *   tablecar-bench-gen DIR [--rows N] [--image CxHxW] [--batch-rows N] [--codec none|lz4|zstd]
 *
 * DIR/data/bench.arrow   Arrow IPC file (image fixed_size_list uint8 [C,H,W], label int64, caption utf8),
 *                        what tablecar serves; the cells follow tests/support/fixtures.h
 * DIR/raw/images.u8      N * C*H*W bytes, row-major: the fixed-width file of the in-process baselines
 * DIR/raw/labels.i64     N int64
 * DIR/raw/captions.off   N + 1 int64 offsets into captions.bin (a null caption is empty)
 * DIR/raw/captions.bin
 * DIR/raw/meta.json      {"rows": N, "shape": [C, H, W]}
 * With --codec, the Arrow file is written with that buffer codec instead (the server then decompresses
 * into its cache: what the RSS-vs-cache-size figures need).
 */
#include "fixtures.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct raw {
  FILE *images, *labels, *off, *bin;
  int64_t at;
} raw;

static FILE *open_in(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) fprintf(stderr, "tablecar-bench-gen: %s: %s\n", path, strerror(errno));
  return f;
}

/* Appends rows of one batch (cols: the example arrays) to the raw files. */
static int write_raw(raw *r, const at_array *cols, int64_t n) {
  const at_array *leaf = &cols[0];
  while (leaf->n_children) leaf = &leaf->children[0];
  if (fwrite(leaf->values, 1, (size_t)leaf->values_len, r->images) != (size_t)leaf->values_len ||
      fwrite(cols[1].values, 8, (size_t)n, r->labels) != (size_t)n)
    return -1;
  const int32_t *o = (const int32_t *)(const void *)cols[2].offsets;
  for (int64_t j = 0; j < n; j++) {
    int64_t len = o[j + 1] - o[j];
    if (fwrite(cols[2].values + o[j], 1, (size_t)len, r->bin) != (size_t)len) return -1;
    r->at += len;
    if (fwrite(&r->at, 8, 1, r->off) != 1) return -1;
  }
  return 0;
}

static int usage(void) {
  fputs("usage: tablecar-bench-gen DIR [--rows N] [--image CxHxW] [--batch-rows N] [--codec none|lz4|zstd]\n", stderr);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *dir = argv[1];
  int64_t rows = 100000, batch_rows = 1024;
  fx_shape shape = {3, 64, 64};
  aw_options opt = {0};
  for (int i = 2; i < argc; i += 2) { /* --flag value pairs */
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    if (!strcmp(argv[i], "--rows"))
      rows = atoll(v);
    else if (!strcmp(argv[i], "--batch-rows"))
      batch_rows = atoll(v);
    else if (!strcmp(argv[i], "--image")) {
      long long c, h, w;
      if (sscanf(v, "%lldx%lldx%lld", &c, &h, &w) != 3) return usage();
      shape = (fx_shape){c, h, w};
    } else if (!strcmp(argv[i], "--codec"))
      opt.codec = !strcmp(v, "lz4") ? AW_LZ4 : !strcmp(v, "zstd") ? AW_ZSTD : AW_NONE;
    else
      return usage();
  }
  if (rows <= 0 || batch_rows <= 0) return usage();
  char sub[4096], path[4200];
  mkdir(dir, 0755);
  snprintf(sub, sizeof sub, "%s/data", dir);
  mkdir(sub, 0755);
  snprintf(path, sizeof path, "%s/bench.arrow", sub);
  snprintf(sub, sizeof sub, "%s/raw", dir);
  mkdir(sub, 0755);

  fx_arena *schema_arena = fx_arena_new();
  at_schema schema;
  if (!schema_arena || fx_example_schema(schema_arena, shape, &schema)) return perror("schema"), 1;
  schema.n_fields = 3; /* image, label, caption: the example's score column is left out */
  aw_writer *w = aw_open(path, &opt, &schema);
  raw r = {open_in(sub, "images.u8"), open_in(sub, "labels.i64"), open_in(sub, "captions.off"),
           open_in(sub, "captions.bin"), 0};
  if (!w || !r.images || !r.labels || !r.off || !r.bin) return perror(path), 1;
  if (fwrite(&r.at, 8, 1, r.off) != 1) return perror("captions.off"), 1;
  for (int64_t row0 = 0; row0 < rows; row0 += batch_rows) {
    int64_t n = rows - row0 < batch_rows ? rows - row0 : batch_rows;
    fx_arena *a = fx_arena_new();
    at_array *cols = a ? fx_example_batch(a, shape, row0, n) : NULL;
    if (!cols || aw_write_batch(w, n, cols) || write_raw(&r, cols, n)) return perror("write"), 1;
    fx_arena_free(a);
  }
  if (aw_close(w) || fclose(r.images) || fclose(r.labels) || fclose(r.off) || fclose(r.bin)) return perror("close"), 1;
  FILE *m = open_in(sub, "meta.json");
  if (!m) return 1;
  fprintf(m, "{\"rows\": %lld, \"shape\": [%lld, %lld, %lld]}\n", (long long)rows, (long long)shape.c,
          (long long)shape.h, (long long)shape.w);
  fclose(m);
  fx_arena_free(schema_arena);
  return 0;
}
