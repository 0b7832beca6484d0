/* fuzz_wire: libtablecar's gRPC deframer (client/grpc_frame.c) and response decoders (client/wire.c).
 *
 * Input: one selector byte, one chunking byte, then the bytes of an HTTP/2 stream's DATA (gRPC
 * length-prefixed messages). The bytes are fed to the deframer in chunks (as DATA frames would split
 * them), and every complete message is decoded as a Batch, TableInfo, TableList or Batch in a shared-memory slot (by the selector); what
 * decodes is read in full, as a user of the public structs would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"

static volatile uint8_t g_sink;

static void touch(const void *p, size_t n) {
  const uint8_t *b = p;
  uint8_t x = 0;
  for (size_t i = 0; i < n; i++) x ^= b[i];
  g_sink ^= x;
}

static void walk_field(const tc_field *f) {
  touch(f->name, strlen(f->name));
  if (f->timezone) touch(f->timezone, strlen(f->timezone));
  for (size_t i = 0; i < f->n_metadata; i++) {
    touch(f->metadata[i].key, strlen(f->metadata[i].key));
    touch(f->metadata[i].value, strlen(f->metadata[i].value));
  }
  if (f->ndim) touch(f->shape, f->ndim * sizeof *f->shape);
  for (size_t i = 0; i < f->n_children; i++) walk_field(&f->children[i]);
}

static void walk_schema(const tc_schema *s) {
  for (size_t i = 0; i < s->n_fields; i++) walk_field(&s->fields[i]);
  for (size_t i = 0; i < s->n_metadata; i++) touch(s->metadata[i].key, strlen(s->metadata[i].key));
}

static void walk_column(const tc_column *c) {
  touch(c->name, strlen(c->name));
  touch(c->validity, c->validity_size);
  touch(c->offsets, c->offsets_size);
  touch(c->values, c->values_size);
  for (size_t i = 0; i < c->n_children; i++) walk_column(&c->children[i]);
}

/* Kind 3: a Batch answering a request that named a shared-memory slot, whose spans point into it. */
static uint8_t slot[4096];

static void decode(int kind, tc__msg *m) {
  char err[256];
  if (kind == 0 || kind == 3) {
    tc_batch *b;
    int rc = kind == 0 ? tc__batch_parse(m, &b, err, sizeof err)
                       : tc__batch_parse_shm(m, slot, sizeof slot, &b, err, sizeof err);
    if (rc != TC_OK) return;
    touch(b->table, strlen(b->table));
    touch(b->row_ids, b->row_ids_size);
    for (size_t i = 0; i < b->n_columns; i++) {
      walk_column(&b->columns[i]);
      tc_batch_column(b, b->columns[i].name);
    }
    tc_batch_free(b);
  } else if (kind == 1) {
    tc_table_info *t;
    if (tc__table_info_parse(m, &t, err, sizeof err) != TC_OK) return;
    walk_schema(&t->schema);
    tc_table_info_free(t);
  } else {
    tc_table_list *l;
    if (tc__table_list_parse(m, &l, err, sizeof err) != TC_OK) return;
    for (size_t i = 0; i < l->n_tables; i++) walk_schema(&l->tables[i].schema);
    tc_table_list_free(l);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int kind = data[0] % 4;
  size_t chunk = (size_t)data[1] * 16 + 1;
  data += 2;
  size -= 2;
  tc__deframer d;
  tc__msgq q = {0};
  tc__deframer_init(&d, 1 << 20);
  for (size_t off = 0; off < size;) {
    size_t n = size - off < chunk ? size - off : chunk;
    if (tc__deframe(&d, data + off, n, &q) != TC_OK) break;
    off += n;
    tc__msg *m;
    while ((m = tc__msgq_pop(&q))) decode(kind, m);
  }
  tc__msgq_free(&q);
  tc__deframer_free(&d);
  return 0;
}
