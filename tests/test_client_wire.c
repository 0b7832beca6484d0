/* libtablecar: the protobuf reader and the Batch / TableInfo parsers (client/wire.c). Messages are made with
 * protobuf-c (an independent encoder) and by hand for the encodings it does not produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

static tc__msg *msg_of(const void *p, size_t n) {
  tc__msg *m = malloc(sizeof *m + n + 1);
  m->next = NULL;
  m->len = n;
  memcpy(m->data, p, n);
  return m;
}

static tc__msg *pack(const ProtobufCMessage *pm) {
  size_t n = protobuf_c_message_get_packed_size(pm);
  tc__msg *m = malloc(sizeof *m + n + 1);
  m->next = NULL;
  m->len = protobuf_c_message_pack(pm, m->data);
  return m;
}

static int inside(const tc__msg *m, const void *p, size_t n) {
  const uint8_t *b = p;
  return b >= m->data && b + n <= m->data + m->len;
}

/* A batch like the sidecar sends: id int64, name utf8 with a null, vec fixed_size_list<float32, 2>. */
typedef struct fixture {
  int64_t ids[3], rowids[3];
  float vec[6];
  int32_t offs[4];
  uint8_t validity;
  int64_t shape[1];
  Tablecar__V1__DataType t_id, t_name, t_vec, t_item;
  Tablecar__V1__KeyValue kv;
  Tablecar__V1__KeyValue *kvs[1];
  Tablecar__V1__Field f_id, f_name, f_vec, f_item;
  Tablecar__V1__Field *fields[3], *vec_children[1];
  Tablecar__V1__Array a_id, a_name, a_vec, a_item;
  Tablecar__V1__Array *arrays[3], *vec_arrays[1];
  Tablecar__V1__Batch b;
} fixture;

static void make_fixture(fixture *x) {
  memset(x, 0, sizeof *x);
  for (int i = 0; i < 3; i++) {
    x->ids[i] = 10 + i;
    x->rowids[i] = 1000 + i;
  }
  for (int i = 0; i < 6; i++) x->vec[i] = (float)i;
  int32_t offs[4] = {0, 3, 6, 6};
  memcpy(x->offs, offs, sizeof offs);
  x->validity = 0x3;
  x->shape[0] = 2;
  Tablecar__V1__DataType dt = TABLECAR__V1__DATA_TYPE__INIT;
  x->t_id = x->t_name = x->t_vec = x->t_item = dt;
  x->t_id.id = TABLECAR__V1__TYPE_ID__TYPE_INT64;
  x->t_name.id = TABLECAR__V1__TYPE_ID__TYPE_UTF8;
  x->t_vec.id = TABLECAR__V1__TYPE_ID__TYPE_FIXED_SIZE_LIST;
  x->t_vec.list_size = 2;
  x->t_item.id = TABLECAR__V1__TYPE_ID__TYPE_FLOAT32;
  Tablecar__V1__KeyValue kv = TABLECAR__V1__KEY_VALUE__INIT;
  x->kv = kv;
  x->kv.key = "unit";
  x->kv.value = "count";
  x->kvs[0] = &x->kv;
  Tablecar__V1__Field f = TABLECAR__V1__FIELD__INIT;
  x->f_id = x->f_name = x->f_vec = x->f_item = f;
  x->f_id.name = "id";
  x->f_id.type = &x->t_id;
  x->f_id.n_metadata = 1;
  x->f_id.metadata = x->kvs;
  x->f_name.name = "name";
  x->f_name.type = &x->t_name;
  x->f_name.nullable = 1;
  x->f_item.name = "item";
  x->f_item.type = &x->t_item;
  x->vec_children[0] = &x->f_item;
  x->f_vec.name = "vec";
  x->f_vec.type = &x->t_vec;
  x->f_vec.n_children = 1;
  x->f_vec.children = x->vec_children;
  x->f_vec.n_shape = 1;
  x->f_vec.shape = x->shape;
  x->f_vec.element_type = TABLECAR__V1__TYPE_ID__TYPE_FLOAT32;
  x->fields[0] = &x->f_id;
  x->fields[1] = &x->f_name;
  x->fields[2] = &x->f_vec;
  Tablecar__V1__Array a = TABLECAR__V1__ARRAY__INIT;
  x->a_id = x->a_name = x->a_vec = x->a_item = a;
  x->a_id.length = 3;
  x->a_id.values = (ProtobufCBinaryData){sizeof x->ids, (uint8_t *)x->ids};
  x->a_name.length = 3;
  x->a_name.null_count = 1;
  x->a_name.validity = (ProtobufCBinaryData){1, &x->validity};
  x->a_name.offsets = (ProtobufCBinaryData){sizeof x->offs, (uint8_t *)x->offs};
  x->a_name.values = (ProtobufCBinaryData){6, (uint8_t *)"annbob"};
  x->a_item.length = 6;
  x->a_item.values = (ProtobufCBinaryData){sizeof x->vec, (uint8_t *)x->vec};
  x->vec_arrays[0] = &x->a_item;
  x->a_vec.length = 3;
  x->a_vec.n_children = 1;
  x->a_vec.children = x->vec_arrays;
  x->arrays[0] = &x->a_id;
  x->arrays[1] = &x->a_name;
  x->arrays[2] = &x->a_vec;
  Tablecar__V1__Batch b = TABLECAR__V1__BATCH__INIT;
  x->b = b;
  x->b.table = "people";
  x->b.version = "v1";
  x->b.num_rows = 3;
  x->b.row_ids = (ProtobufCBinaryData){sizeof x->rowids, (uint8_t *)x->rowids};
  x->b.n_fields = 3;
  x->b.fields = x->fields;
  x->b.n_columns = 3;
  x->b.columns = x->arrays;
  x->b.offset = 42;
}

static void test_batch(void **state) {
  fixture x;
  make_fixture(&x);
  tc__msg *m = pack(&x.b.base);
  tc_batch *b = NULL;
  char err[256] = "";
  assert_int_equal(tc__batch_parse(m, &b, err, sizeof err), TC_OK);
  assert_string_equal(b->table, "people");
  assert_string_equal(b->version, "v1");
  assert_int_equal(b->num_rows, 3);
  assert_int_equal(b->offset, 42);
  assert_int_equal(b->row_ids_size, 24);
  assert_true(inside(m, b->row_ids, b->row_ids_size));
  assert_int_equal(tc_row_id(b, 0), 1000);
  assert_int_equal(tc_row_id(b, 2), 1002);
  assert_int_equal(b->n_columns, 3);

  const tc_column *id = &b->columns[0];
  assert_string_equal(id->name, "id");
  assert_int_equal(id->type, TC_TYPE_INT64);
  assert_int_equal(id->length, 3);
  assert_null(id->validity);
  assert_null(id->offsets);
  assert_int_equal(id->values_size, 24);
  assert_true(inside(m, id->values, id->values_size)); /* a view, not a copy */
  int64_t v;
  memcpy(&v, id->values + 8, 8);
  assert_int_equal(v, 11);
  assert_int_equal(id->field->n_metadata, 1);
  assert_string_equal(id->field->metadata[0].key, "unit");
  assert_string_equal(id->field->metadata[0].value, "count");
  assert_false(id->field->nullable);

  const tc_column *name = tc_batch_column(b, "name");
  assert_ptr_equal(name, &b->columns[1]);
  assert_int_equal(name->type, TC_TYPE_UTF8);
  assert_int_equal(name->null_count, 1);
  assert_int_equal(name->validity_size, 1);
  assert_int_equal(name->validity[0], 3);
  assert_int_equal(name->offsets_size, 16);
  assert_memory_equal(name->values, "annbob", 6);
  assert_true(name->field->nullable);

  const tc_column *vec = tc_batch_column(b, "vec");
  assert_int_equal(vec->type, TC_TYPE_FIXED_SIZE_LIST);
  assert_int_equal(vec->field->list_size, 2);
  assert_int_equal(vec->field->ndim, 1);
  assert_int_equal(vec->field->shape[0], 2);
  assert_int_equal(vec->field->element_type, TC_TYPE_FLOAT32);
  assert_null(vec->values);
  assert_int_equal(vec->n_children, 1);
  assert_string_equal(vec->children[0].name, "item");
  assert_int_equal(vec->children[0].type, TC_TYPE_FLOAT32);
  assert_ptr_equal(vec->children[0].field, &vec->field->children[0]);
  assert_int_equal(vec->children[0].length, 6);
  float f;
  memcpy(&f, vec->children[0].values + 20, 4);
  assert_true(f == 5.0f);
  assert_null(tc_batch_column(b, "nope"));
  tc_batch_free(b);
}

static void test_empty_batch(void **state) {
  tc__msg *m = msg_of("", 0);
  tc_batch *b = NULL;
  char err[256];
  assert_int_equal(tc__batch_parse(m, &b, err, sizeof err), TC_OK);
  assert_string_equal(b->table, "");
  assert_int_equal(b->num_rows, 0);
  assert_int_equal(b->n_columns, 0);
  assert_null(b->columns);
  assert_null(b->row_ids);
  tc_batch_free(b);
  tc_batch_free(NULL);
}

/* Encodings protobuf-c does not produce: unpacked repeated int64, unknown fields, fields out of order,
 * negative int32 as a 10-byte varint. */
static void test_hand_encoded(void **state) {
  const uint8_t field[] = {
      0x0a, 1,    'v',                                                                       /* name */
      0x30, 3,    0x30, 4,                                                                   /* shape 3, 4 unpacked */
      0x12, 13,   0x08, 4, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* int32, byte_width -1 */
      0xf8, 0x06, 7, /* field 111 varint: unknown */
  };
  uint8_t batch[96];
  size_t n = 0;
  const uint8_t col[] = {0x08, 2, 0x2a, 8, 1, 0, 0, 0, 2, 0, 0, 0}; /* Array{length 2, values int32 1, 2} */
  batch[n++] = 0x32;                                                /* columns first */
  batch[n++] = sizeof col;
  memcpy(batch + n, col, sizeof col);
  n += sizeof col;
  batch[n++] = 0x2a; /* then fields */
  batch[n++] = sizeof field;
  memcpy(batch + n, field, sizeof field);
  n += sizeof field;
  batch[n++] = 0x18; /* num_rows 2 */
  batch[n++] = 2;
  batch[n++] = 0x22; /* row_ids: 2 x int64 */
  batch[n++] = 16;
  memset(batch + n, 0, 16);
  n += 16;
  tc_batch *b;
  char err[256] = "";
  assert_int_equal(tc__batch_parse(msg_of(batch, n), &b, err, sizeof err), TC_OK);
  assert_int_equal(b->n_columns, 1);
  const tc_column *c = &b->columns[0];
  assert_string_equal(c->name, "v");
  assert_int_equal(c->length, 2);
  assert_int_equal(c->field->ndim, 2);
  assert_int_equal(c->field->shape[0], 3);
  assert_int_equal(c->field->shape[1], 4);
  assert_int_equal(c->type, TC_TYPE_INT32);
  assert_int_equal(c->field->byte_width, -1);
  tc_batch_free(b);
}

/* Buffers that do not match their type are refused, so that no consumer has to check them: the fixture,
 * spoiled in one place at a time. */
static void expect_refused(fixture *x, const char *what) {
  tc_batch *b = NULL;
  char err[256] = "";
  int rc = tc__batch_parse(pack(&x->b.base), &b, err, sizeof err);
  if (rc != TC_EPROTO) {
    tc_batch_free(b);
    fail_msg("%s: accepted (%d)", what, rc);
  }
  assert_non_null(strstr(err, "malformed Batch"));
}

static void test_inconsistent_buffers(void **state) {
  fixture x;
  int32_t bad[4];
  make_fixture(&x);
  x.b.row_ids = (ProtobufCBinaryData){0, NULL};
  expect_refused(&x, "rows without row ids");
  make_fixture(&x);
  x.b.num_rows = -1;
  expect_refused(&x, "negative row count");
  make_fixture(&x);
  x.a_id.values.len = 16;
  expect_refused(&x, "values too short");
  const int32_t cases[][4] = {{0, 3, 2, 6}, {-1, 3, 6, 6}, {0, 3, 6, 7}};
  for (size_t k = 0; k < 3; k++) { /* backwards, negative, past the data */
    make_fixture(&x);
    memcpy(bad, cases[k], sizeof bad);
    x.a_name.offsets = (ProtobufCBinaryData){sizeof bad, (uint8_t *)bad};
    expect_refused(&x, "bad offsets");
  }
  make_fixture(&x);
  x.a_name.offsets.len = 12;
  expect_refused(&x, "too few offsets");
  make_fixture(&x);
  x.a_name.validity = (ProtobufCBinaryData){0, NULL};
  expect_refused(&x, "nulls without a bitmap");
  make_fixture(&x);
  x.a_item.length = 5;
  expect_refused(&x, "fixed-size list child of the wrong length");
  make_fixture(&x);
  x.a_id.length = 2;
  expect_refused(&x, "a column shorter than the batch");
  make_fixture(&x);
  x.t_vec.list_size = -2;
  expect_refused(&x, "negative list size");
  make_fixture(&x); /* and the fixture itself is fine */
  tc_batch *b = NULL;
  char err[256] = "";
  assert_int_equal(tc__batch_parse(pack(&x.b.base), &b, err, sizeof err), TC_OK);
  tc_batch_free(b);
}

static void parse_bad(const uint8_t *p, size_t n, const char *what) {
  tc_batch *b = NULL;
  char err[256] = "";
  assert_int_equal(tc__batch_parse(msg_of(p, n), &b, err, sizeof err), TC_EPROTO);
  assert_null(b);
  if (!strstr(err, what)) fail_msg("error \"%s\" lacks \"%s\"", err, what);
}

static void test_malformed(void **state) {
  const uint8_t trunc_len[] = {0x0a, 10, 'a'};
  parse_bad(trunc_len, sizeof trunc_len, "malformed Batch");
  const uint8_t trunc_varint[] = {0x18, 0x80};
  parse_bad(trunc_varint, sizeof trunc_varint, "malformed Batch");
  const uint8_t wrong_wt[] = {0x1a, 1, 0}; /* num_rows as bytes */
  parse_bad(wrong_wt, sizeof wrong_wt, "wire type");
  const uint8_t group[] = {0x0b};
  parse_bad(group, sizeof group, "malformed");
  const uint8_t field0[] = {0x00, 1};
  parse_bad(field0, sizeof field0, "malformed");
  const uint8_t rows[] = {0x18, 2, 0x22, 8, 1, 2, 3, 4, 5, 6, 7, 8}; /* 2 rows, 1 row id */
  parse_bad(rows, sizeof rows, "row_ids");
  /* Arrays nested 100 deep, built from the inside out */
  uint8_t deep[400];
  size_t n = 0, end = sizeof deep;
  for (int i = 0; i < 100; i++) {
    size_t len = n;
    if (len >= 128) {
      deep[--end] = (uint8_t)(len >> 7);
      deep[--end] = (uint8_t)(len | 0x80);
    } else {
      deep[--end] = (uint8_t)len;
    }
    deep[--end] = 0x32;
    n = sizeof deep - end;
  }
  memmove(deep, deep + end, n);
  parse_bad(deep, n, "nested too deeply");
}

/* Every truncation and every single-byte corruption of a valid batch parses or fails cleanly (ASan). */
static void test_no_crash(void **state) {
  fixture x;
  make_fixture(&x);
  tc__msg *m = pack(&x.b.base);
  char err[256];
  for (size_t cut = 0; cut < m->len; cut++) {
    tc_batch *b = NULL;
    int rc = tc__batch_parse(msg_of(m->data, cut), &b, err, sizeof err);
    assert_true(rc == TC_OK || rc == TC_EPROTO);
    tc_batch_free(b);
  }
  for (size_t i = 0; i < m->len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      tc__msg *c = msg_of(m->data, m->len);
      c->data[i] ^= (uint8_t)(1 << bit);
      tc_batch *b = NULL;
      int rc = tc__batch_parse(c, &b, err, sizeof err);
      assert_true(rc == TC_OK || rc == TC_EPROTO);
      tc_batch_free(b);
    }
  }
  free(m);
}

static void test_table_info(void **state) {
  fixture x;
  make_fixture(&x);
  Tablecar__V1__KeyValue kv = TABLECAR__V1__KEY_VALUE__INIT, *kvs[1] = {&kv};
  kv.key = "origin";
  kv.value = "test";
  Tablecar__V1__Schema s = TABLECAR__V1__SCHEMA__INIT;
  s.n_fields = 3;
  s.fields = x.fields;
  s.n_metadata = 1;
  s.metadata = kvs;
  char *files[2] = {"a.arrow", "b.arrow"};
  Tablecar__V1__TableInfo t = TABLECAR__V1__TABLE_INFO__INIT;
  t.name = "people";
  t.schema = &s;
  t.num_rows = 3;
  t.version = "v1";
  t.n_files = 2;
  t.files = files;
  t.num_bytes = 99;
  tc_table_info *info;
  char err[256];
  assert_int_equal(tc__table_info_parse(pack(&t.base), &info, err, sizeof err), TC_OK);
  assert_string_equal(info->name, "people");
  assert_int_equal(info->num_rows, 3);
  assert_string_equal(info->version, "v1");
  assert_int_equal(info->num_bytes, 99);
  assert_int_equal(info->n_files, 2);
  assert_string_equal(info->files[1], "b.arrow");
  assert_int_equal(info->schema.n_fields, 3);
  assert_string_equal(info->schema.fields[2].name, "vec");
  assert_string_equal(info->schema.fields[2].children[0].name, "item");
  assert_int_equal(info->schema.n_metadata, 1);
  assert_string_equal(info->schema.metadata[0].value, "test");
  tc_table_info_free(info);

  Tablecar__V1__TableInfo *tis[2] = {&t, &t};
  Tablecar__V1__ListTablesResponse l = TABLECAR__V1__LIST_TABLES_RESPONSE__INIT;
  l.n_tables = 2;
  l.tables = tis;
  tc_table_list *list;
  assert_int_equal(tc__table_list_parse(pack(&l.base), &list, err, sizeof err), TC_OK);
  assert_int_equal(list->n_tables, 2);
  assert_string_equal(list->tables[1].name, "people");
  assert_int_equal(list->tables[1].schema.n_fields, 3);
  tc_table_list_free(list);
}

static void test_varint(void **state) {
  const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  tc__pb r = {max, max + sizeof max};
  uint64_t v;
  assert_int_equal(tc__pb_varint(&r, &v), 0);
  assert_true(v == UINT64_MAX);
  const uint8_t too_long[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  r = (tc__pb){too_long, too_long + sizeof too_long};
  assert_int_equal(tc__pb_varint(&r, &v), -1);
  const uint8_t fixed[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 0, 0, 0};
  r = (tc__pb){fixed, fixed + sizeof fixed};
  tc__pb_field f;
  assert_int_equal(tc__pb_next(&r, &f), 1);
  assert_int_equal(f.wt, 1);
  assert_true(f.v == 0x0807060504030201ull);
  assert_int_equal(tc__pb_next(&r, &f), 1);
  assert_int_equal(f.num, 2);
  assert_int_equal(f.v, 1);
  assert_int_equal(tc__pb_next(&r, &f), 0);
}

/* Strings that are not UTF-8 (proto3 forbids them; results hand out text): TC_EPROTO, wherever they are. */
static void test_non_utf8_strings(void **state) {
  static const char *const bad[] = {"\xff", "caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  static const char *const good[] = {"", "caf\xc3\xa9", "\xf0\x9f\x98\x80", "\xef\xbf\xbf"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_false(tc__utf8_ok(bad[i], strlen(bad[i])));
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_true(tc__utf8_ok(good[i], strlen(good[i])));
  char err[256];
  for (int where = 0; where < 4; where++) {
    fixture x;
    make_fixture(&x);
    Tablecar__V1__KeyValue kv = TABLECAR__V1__KEY_VALUE__INIT, *kvs[1] = {&kv};
    kv.key = where == 0 ? "\xff" : "k";
    kv.value = where == 1 ? "v\xfe" : "v";
    Tablecar__V1__Schema s = TABLECAR__V1__SCHEMA__INIT;
    s.n_fields = 3, s.fields = x.fields, s.n_metadata = 1, s.metadata = kvs;
    if (where == 2)
      x.f_item.name = "it\x80"
                      "em";
    Tablecar__V1__TableInfo t = TABLECAR__V1__TABLE_INFO__INIT;
    t.name = where == 3 ? "t\xc3" : "t";
    t.schema = &s;
    tc_table_info *info = NULL;
    assert_int_equal(tc__table_info_parse(pack(&t.base), &info, err, sizeof err), TC_EPROTO);
    assert_non_null(strstr(err, "UTF-8"));
    assert_null(info);
  }
  fixture x;
  make_fixture(&x);
  x.f_name.name = "n\xff"
                  "ame";
  tc_batch *b = NULL;
  assert_int_equal(tc__batch_parse(pack(&x.b.base), &b, err, sizeof err), TC_EPROTO);
  assert_non_null(strstr(err, "UTF-8"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch),
      cmocka_unit_test(test_empty_batch),
      cmocka_unit_test(test_hand_encoded),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_no_crash),
      cmocka_unit_test(test_table_info),
      cmocka_unit_test(test_varint),
      cmocka_unit_test(test_non_utf8_strings),
      cmocka_unit_test(test_inconsistent_buffers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
