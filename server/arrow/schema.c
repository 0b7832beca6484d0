/* arrow/schema.c: the schema: Arrow's Schema flatbuffer into an at_field tree, with a parallel tree of private field
 * descriptors (fdesc) that says how each field is laid out in a record batch. */
#include "internal.h"

#include "names.h"

#include <stdlib.h>

/* ------------------------------------------------------------------------------------------------------ */
/* Schema */

static int parse_field(pctx *p, const fb_table *ft, const char *parent, at_field *o, fdesc *d, int depth, int in_dict);

static int parse_kvs(pctx *p, const fb_table *t, int id, const char *field, size_t *n_out, at_kv **out) {
  fb_vec v;
  int bad = 0;
  size_t n = fb_vector(t, id, 4, &v, &bad);
  if (bad) return ar_ffail(&p->c, field, "corrupt metadata");
  if (n > p->budget) return ar_fail(&p->c, "too many fields or metadata entries");
  p->budget -= n;
  *n_out = 0;
  *out = n ? ar_calloc(&p->f->ar, n, sizeof(at_kv)) : NULL;
  if (n && !*out) return ar_fail(&p->c, "out of memory");
  for (size_t i = 0; i < n; i++) {
    fb_table kv;
    const char *k, *val;
    size_t kn, vn;
    fb_vec_table(&v, i, &kv, &bad);
    fb_string(&kv, 0, &k, &kn, &bad);
    fb_string(&kv, 1, &val, &vn, &bad);
    if (bad) return ar_ffail(&p->c, field, "corrupt metadata entry %zu", i);
    /* Served in proto3 `string` fields, which must be UTF-8: other decoders refuse the whole message. */
    if (!ts_utf8_valid(k, kn) || !ts_utf8_valid(val, vn))
      return ar_ffail(&p->c, field, "metadata entry %zu is not valid UTF-8", i);
    at_kv *e = &(*out)[i];
    e->key = ar_strdup(&p->f->ar, k, kn);
    e->value = ar_strdup(&p->f->ar, val, vn);
    if (!e->key || !e->value) return ar_fail(&p->c, "out of memory");
    e->key_len = kn;
    e->value_len = vn;
  }
  *n_out = n;
  return 0;
}

static int set_int_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  static const at_type sgn[] = {AT_INT8, AT_INT16, AT_INT32, AT_INT64};
  static const at_type uns[] = {AT_UINT8, AT_UINT16, AT_UINT32, AT_UINT64};
  int bad = 0;
  int32_t bits = fb_i32(tt, 0, 0, &bad);
  int is_signed = fb_u8(tt, 1, 0, &bad) != 0;
  int k = bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : bits == 64 ? 3 : -1;
  if (bad || k < 0) return ar_ffail(&p->c, d->path, "invalid Int bit width %d", (int)bits);
  o->type = is_signed ? sgn[k] : uns[k];
  d->phys = P_FIXED;
  d->width = bits / 8;
  return 0;
}

static int set_float_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  int16_t prec = fb_i16(tt, 0, 0, &bad);
  if (bad || prec < 0 || prec > 2) return ar_ffail(&p->c, d->path, "invalid FloatingPoint precision %d", prec);
  o->type = prec == 0 ? AT_FLOAT16 : prec == 1 ? AT_FLOAT32 : AT_FLOAT64;
  d->phys = P_FIXED;
  d->width = 2 << prec;
  return 0;
}

static int set_timestamp_type(pctx *p, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  const char *tz;
  size_t tzn;
  int16_t unit = fb_i16(tt, 0, 0, &bad);
  fb_string(tt, 1, &tz, &tzn, &bad);
  if (bad || unit < 0 || unit > 3) return ar_ffail(&p->c, d->path, "invalid Timestamp type");
  o->type = AT_TIMESTAMP;
  o->time_unit = unit;
  if (!ts_utf8_valid(tz, tzn)) return ar_ffail(&p->c, d->path, "timezone is not valid UTF-8");
  if (tzn) { /* an empty timezone means naive, as an absent one */
    o->timezone = ar_strdup(&p->f->ar, tz, tzn);
    if (!o->timezone) return ar_fail(&p->c, "out of memory");
  }
  d->phys = P_FIXED;
  d->width = 8;
  return 0;
}

/* Scalar and string types: everything without children. Returns 1 when TYPE is not one of them. */
static int set_flat_type(pctx *p, int type, const fb_table *tt, at_field *o, fdesc *d) {
  int bad = 0;
  switch (type) {
  case T_INT: return set_int_type(p, tt, o, d);
  case T_FLOAT: return set_float_type(p, tt, o, d);
  case T_TIMESTAMP: return set_timestamp_type(p, tt, o, d);
  case T_NULL:
    o->type = AT_NULL;
    d->phys = P_NULL;
    return 0; /* no buffers: every value is null */
  case T_BOOL:
    o->type = AT_BOOL;
    d->phys = P_BOOL;
    return 0;
  case T_UTF8:
    o->type = AT_UTF8;
    d->phys = P_BIN32;
    return 0;
  case T_BINARY:
    o->type = AT_BINARY;
    d->phys = P_BIN32;
    return 0;
  case T_LARGE_UTF8:
    o->type = AT_LARGE_UTF8;
    d->phys = P_BIN64;
    return 0;
  case T_LARGE_BINARY:
    o->type = AT_LARGE_BINARY;
    d->phys = P_BIN64;
    return 0;
  case T_UTF8_VIEW:
    o->type = AT_LARGE_UTF8;
    d->phys = P_VIEW;
    return 0;
  case T_BINARY_VIEW:
    o->type = AT_LARGE_BINARY;
    d->phys = P_VIEW;
    return 0;
  case T_DATE: {
    int16_t unit = fb_i16(tt, 0, 1, &bad); /* Schema.fbs: unit defaults to MILLISECOND */
    if (bad || unit < 0 || unit > 1) return ar_ffail(&p->c, d->path, "invalid Date unit");
    o->type = unit == 0 ? AT_DATE32 : AT_DATE64;
    d->phys = P_FIXED;
    d->width = unit == 0 ? 4 : 8;
    return 0;
  }
  case T_FSB: {
    int32_t w = fb_i32(tt, 0, 0, &bad);
    if (bad || w < 1) return ar_ffail(&p->c, d->path, "invalid FixedSizeBinary width %d", (int)w);
    o->type = AT_FIXED_SIZE_BINARY;
    o->byte_width = w;
    d->phys = P_FIXED;
    d->width = w;
    return 0;
  }
  default: return 1;
  }
}

static int parse_children(pctx *p, const fb_table *ft, at_field *o, fdesc *d, int depth, int in_dict) {
  fb_vec v;
  int bad = 0;
  size_t n = fb_vector(ft, FLD_CHILDREN, 4, &v, &bad);
  if (bad) return ar_ffail(&p->c, d->path, "corrupt children");
  if ((d->phys == P_LIST32 || d->phys == P_LIST64 || d->phys == P_FSL) && n != 1)
    return ar_ffail(&p->c, d->path, "a list type needs exactly one child, has %zu", n);
  if (n > p->budget) return ar_fail(&p->c, "too many fields");
  if (n == 0) return 0;
  o->children = ar_calloc(&p->f->ar, n, sizeof(at_field));
  d->children = ar_calloc(&p->f->ar, n, sizeof(fdesc));
  if (!o->children || !d->children) return ar_fail(&p->c, "out of memory");
  o->n_children = d->n_children = n;
  for (size_t i = 0; i < n; i++) {
    fb_table ct;
    if (!fb_vec_table(&v, i, &ct, &bad)) return ar_ffail(&p->c, d->path, "corrupt child %zu", i);
    if (parse_field(p, &ct, d->path, &o->children[i], &d->children[i], depth + 1, in_dict) != 0) return -1;
  }
  return 0;
}

static int set_type(pctx *p, const fb_table *ft, at_field *o, fdesc *d, int depth, int in_dict) {
  int bad = 0;
  int type = fb_u8(ft, FLD_TYPE_TYPE, 0, &bad);
  fb_table tt;
  fb_table_field(ft, FLD_TYPE, &tt, &bad); /* absent: every parameter takes its default */
  if (bad) return ar_ffail(&p->c, d->path, "corrupt type");
  int r = set_flat_type(p, type, &tt, o, d);
  if (r <= 0) return r;
  switch (type) {
  case T_LIST:
    o->type = AT_LIST;
    d->phys = P_LIST32;
    break;
  case T_LARGE_LIST:
    o->type = AT_LARGE_LIST;
    d->phys = P_LIST64;
    break;
  case T_STRUCT:
    o->type = AT_STRUCT;
    d->phys = P_STRUCT;
    break;
  case T_FSL:
    o->type = AT_FIXED_SIZE_LIST;
    o->list_size = fb_i32(&tt, 0, 0, &bad);
    if (bad || o->list_size < 0) return ar_ffail(&p->c, d->path, "invalid FixedSizeList size");
    d->phys = P_FSL;
    break;
  default:
    if (type > 0 && type < T_COUNT) return ar_ffail(&p->c, d->path, "unsupported type %s", ar_type_names[type]);
    return ar_ffail(&p->c, d->path, "unknown type id %d", type);
  }
  return parse_children(p, ft, o, d, depth, in_dict);
}

static int parse_dictionary(pctx *p, const fb_table *de, at_field *o, fdesc *d, int in_dict) {
  int bad = 0;
  if (in_dict) return ar_ffail(&p->c, d->path, "unsupported: a dictionary inside a dictionary's values");
  fb_table it;
  int has_it = fb_table_field(de, DE_INDEX_TYPE, &it, &bad);
  d->dict_id = fb_i64(de, DE_ID, 0, &bad);
  int32_t bits = has_it ? fb_i32(&it, 0, 0, &bad) : 32; /* Schema.fbs: absent means signed int32 */
  d->idx_signed = has_it ? fb_u8(&it, 1, 0, &bad) != 0 : 1;
  if (bad || (bits != 8 && bits != 16 && bits != 32 && bits != 64))
    return ar_ffail(&p->c, d->path, "invalid dictionary index type");
  d->idx_width = bits / 8;
  d->dict = 1;
  o->dictionary_encoded = 1;
  at_file *f = p->f;
  for (size_t i = 0; i < f->n_dict; i++)
    if (f->dict_fields[i]->dict_id == d->dict_id)
      return ar_ffail(&p->c, d->path, "dictionary id %lld is used by two fields", (long long)d->dict_id);
  if (f->n_dict % 16 == 0) { /* grow by 16 in the arena: the old array is simply left behind */
    fdesc **n = ar_calloc(&f->ar, f->n_dict + 16, sizeof *n);
    if (!n) return ar_fail(&p->c, "out of memory");
    if (f->n_dict) memcpy(n, f->dict_fields, f->n_dict * sizeof *n);
    f->dict_fields = n;
  }
  d->dict_slot = f->n_dict;
  f->dict_fields[f->n_dict++] = d;
  return 0;
}

static int parse_field(pctx *p, const fb_table *ft, const char *parent, at_field *o, fdesc *d, int depth, int in_dict) {
  int bad = 0;
  const char *name;
  size_t nlen;
  if (depth > MAX_DEPTH) return ar_ffail(&p->c, parent, "nested too deeply");
  if (p->budget == 0) return ar_fail(&p->c, "too many fields");
  p->budget--;
  fb_string(ft, FLD_NAME, &name, &nlen, &bad);
  o->nullable = fb_u8(ft, FLD_NULLABLE, 0, &bad) != 0;
  if (bad) return ar_ffail(&p->c, parent, "corrupt field");
  if (!ts_utf8_valid(name, nlen)) return ar_ffail(&p->c, parent, "a field name is not valid UTF-8");
  o->name = ar_strdup(&p->f->ar, name, nlen);
  size_t plen = parent ? strlen(parent) + 1 : 0;
  char *path = ar_calloc(&p->f->ar, plen + nlen + 1, 1);
  if (!o->name || !path) return ar_fail(&p->c, "out of memory");
  if (parent) {
    memcpy(path, parent, plen - 1);
    path[plen - 1] = '.';
  }
  memcpy(path + plen, name, nlen);
  d->field = o;
  d->path = path;
  fb_table de;
  int is_dict = fb_table_field(ft, FLD_DICTIONARY, &de, &bad);
  if (bad) return ar_ffail(&p->c, path, "corrupt dictionary encoding");
  if (set_type(p, ft, o, d, depth, in_dict || is_dict) != 0) return -1;
  if (is_dict && parse_dictionary(p, &de, o, d, in_dict) != 0) return -1;
  return parse_kvs(p, ft, FLD_METADATA, path, &o->n_meta, &o->meta);
}

int ar_parse_schema(pctx *p, const fb_table *st) {
  at_file *f = p->f;
  int bad = 0;
  if (fb_i16(st, SCH_ENDIANNESS, 0, &bad) != 0 && !bad) return ar_fail(&p->c, "big-endian files are not supported");
  fb_vec v;
  size_t n = fb_vector(st, SCH_FIELDS, 4, &v, &bad);
  if (bad) return ar_fail(&p->c, "corrupt schema");
  if (n > p->budget) return ar_fail(&p->c, "too many fields");
  f->schema.fields = n ? ar_calloc(&f->ar, n, sizeof(at_field)) : NULL;
  f->cols = n ? ar_calloc(&f->ar, n, sizeof(fdesc)) : NULL;
  if (n && (!f->schema.fields || !f->cols)) return ar_fail(&p->c, "out of memory");
  f->schema.n_fields = n;
  for (size_t i = 0; i < n; i++) {
    fb_table ft;
    if (!fb_vec_table(&v, i, &ft, &bad)) return ar_fail(&p->c, "corrupt schema field %zu", i);
    if (parse_field(p, &ft, NULL, &f->schema.fields[i], &f->cols[i], 0, 0) != 0) return -1;
  }
  if (parse_kvs(p, st, SCH_METADATA, NULL, &f->schema.n_meta, &f->schema.meta) != 0) return -1;
  f->dicts = f->n_dict ? ar_calloc(&f->ar, f->n_dict, sizeof(at_array *)) : NULL;
  if (f->n_dict && !f->dicts) return ar_fail(&p->c, "out of memory");
  return 0;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Comparing schemas */

static int field_equal(const at_field *a, const at_field *b, int compare_name) {
  if (compare_name && strcmp(a->name, b->name) != 0) return 0;
  if (a->type != b->type || a->n_children != b->n_children) return 0;
  if (a->type == AT_FIXED_SIZE_BINARY && a->byte_width != b->byte_width) return 0;
  if (a->type == AT_FIXED_SIZE_LIST && a->list_size != b->list_size) return 0;
  if (a->type == AT_TIMESTAMP) {
    if (a->time_unit != b->time_unit || !a->timezone != !b->timezone) return 0;
    if (a->timezone && strcmp(a->timezone, b->timezone) != 0) return 0;
  }
  /* A list's item name differs between writers ("item", "element") and means nothing. */
  int names = a->type == AT_STRUCT;
  for (size_t i = 0; i < a->n_children; i++)
    if (!field_equal(&a->children[i], &b->children[i], names)) return 0;
  return 1;
}

int at_schema_equal(const at_schema *a, const at_schema *b) {
  if (a->n_fields != b->n_fields) return 0;
  for (size_t i = 0; i < a->n_fields; i++)
    if (!field_equal(&a->fields[i], &b->fields[i], 1)) return 0;
  return 1;
}

int at_type_fixed_width(const at_field *f) {
  if (f->type == AT_BOOL) return 0;
  if (f->type == AT_FIXED_SIZE_BINARY) return f->byte_width;
  switch (f->type) {
/* clang-format off */
#define AT_XX(sym, code, name, width) \
  case code: return width ? width : -1;
    TC_TYPE_MAP(AT_XX)
#undef AT_XX
    /* clang-format on */
  default: return -1;
  }
}
