/* schema.c: see schema.h. */
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static int is_fixed_leaf(at_type t) {
  return (t >= AT_INT8 && t <= AT_FLOAT64) || t == AT_DATE32 || t == AT_DATE64 || t == AT_TIMESTAMP ||
         t == AT_FIXED_SIZE_BINARY;
}

/* Shape of one row for a chain of fixed-size lists ending in a fixed-width type; 0 if not such a chain. */
static size_t fixed_shape(const at_field *f, int64_t *shape, size_t max, at_type *leaf) {
  size_t n = 0;
  while (f->type == AT_FIXED_SIZE_LIST && f->n_children == 1 && n < max) {
    shape[n++] = f->list_size;
    f = &f->children[0];
  }
  if (n == 0 || f->type == AT_FIXED_SIZE_LIST || !is_fixed_leaf(f->type)) return 0;
  *leaf = f->type;
  return n;
}

static Tablecar__V1__KeyValue **meta_to_proto(const at_kv *kv, size_t n) {
  Tablecar__V1__KeyValue **out = calloc(n ? n : 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++) {
    out[i] = malloc(sizeof **out);
    if (!out[i]) return out; /* caller notices the NULL slot */
    tablecar__v1__key_value__init(out[i]);
    out[i]->key = strdup(kv[i].key);
    out[i]->value = strdup(kv[i].value);
  }
  return out;
}

static int meta_ok(Tablecar__V1__KeyValue **m, size_t n) {
  if (!m) return 0;
  for (size_t i = 0; i < n; i++)
    if (!m[i] || !m[i]->key || !m[i]->value) return 0;
  return 1;
}

Tablecar__V1__Field *ts_field_to_proto(const at_field *f) {
  Tablecar__V1__Field *p = malloc(sizeof *p);
  Tablecar__V1__DataType *t = malloc(sizeof *t);
  if (!p || !t) {
    free(p);
    free(t);
    return NULL;
  }
  tablecar__v1__field__init(p);
  tablecar__v1__data_type__init(t);
  p->type = t;
  t->id = (Tablecar__V1__TypeId)f->type;
  t->byte_width = f->byte_width;
  t->list_size = f->list_size;
  t->unit = (Tablecar__V1__TimeUnit)f->time_unit;
  int ok = 1;
  if (f->timezone) ok &= (t->timezone = strdup(f->timezone)) != NULL;
  ok &= (p->name = strdup(f->name ? f->name : "")) != NULL;
  p->nullable = f->nullable != 0;
  p->dictionary_encoded = f->dictionary_encoded != 0;
  p->n_metadata = f->n_meta;
  p->metadata = meta_to_proto(f->meta, f->n_meta);
  ok &= meta_ok(p->metadata, f->n_meta);
  p->children = calloc(f->n_children ? f->n_children : 1, sizeof *p->children);
  for (size_t i = 0; p->children && i < f->n_children; i++, p->n_children++)
    ok &= (p->children[i] = ts_field_to_proto(&f->children[i])) != NULL;
  ok &= p->children != NULL;
  int64_t shape[32];
  at_type leaf;
  size_t dims = fixed_shape(f, shape, 32, &leaf);
  if (dims > 0 && (p->shape = malloc(dims * sizeof *p->shape)) != NULL) {
    memcpy(p->shape, shape, dims * sizeof *shape);
    p->n_shape = dims;
    p->element_type = (Tablecar__V1__TypeId)leaf;
  }
  if (!ok) {
    protobuf_c_message_free_unpacked(&p->base, NULL);
    return NULL;
  }
  return p;
}

Tablecar__V1__Schema *ts_schema_to_proto(const at_schema *s) {
  Tablecar__V1__Schema *p = malloc(sizeof *p);
  if (!p) return NULL;
  tablecar__v1__schema__init(p);
  int ok = 1;
  p->fields = calloc(s->n_fields ? s->n_fields : 1, sizeof *p->fields);
  for (size_t i = 0; p->fields && i < s->n_fields; i++, p->n_fields++)
    ok &= (p->fields[i] = ts_field_to_proto(&s->fields[i])) != NULL;
  ok &= p->fields != NULL;
  p->n_metadata = s->n_meta;
  p->metadata = meta_to_proto(s->meta, s->n_meta);
  ok &= meta_ok(p->metadata, s->n_meta);
  if (!ok) {
    protobuf_c_message_free_unpacked(&p->base, NULL);
    return NULL;
  }
  return p;
}

int ts_schema_find(const at_schema *s, const char *name) {
  for (size_t i = 0; i < s->n_fields; i++)
    if (strcmp(s->fields[i].name, name) == 0) return (int)i;
  return -1;
}

ts_status ts_select_columns(const at_schema *s, char *const *names, size_t n, size_t **out, size_t *n_out,
                            ts_error *err) {
  size_t count = n ? n : s->n_fields;
  size_t *idx = malloc((count ? count : 1) * sizeof *idx);
  if (!idx) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < count; i++) {
    if (n == 0) {
      idx[i] = i;
      continue;
    }
    int c = ts_schema_find(s, names[i]);
    if (c < 0) {
      ts_error_set(err, TC_EINVALID_ARGUMENT, "unknown column '%.200s'", names[i]);
      free(idx);
      return TC_EINVALID_ARGUMENT;
    }
    for (size_t j = 0; j < i; j++)
      if (idx[j] == (size_t)c) {
        ts_error_set(err, TC_EINVALID_ARGUMENT, "column '%.200s' is asked for twice", names[i]);
        free(idx);
        return TC_EINVALID_ARGUMENT;
      }
    idx[i] = (size_t)c;
  }
  *out = idx;
  *n_out = count;
  return TC_OK;
}
