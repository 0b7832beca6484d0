/* test_arrow_corrupt.c: the Arrow IPC reader against corrupt files: truncations and byte flips of the
 * apache-arrow fixtures, crafted record batches, schemas and file footers, non-UTF-8 names, and corrupt
 * compressed files of the project's own writer. Each must fail with a message naming the file, never crash:
 * every read that succeeds is walked byte by byte (support/arrow_testutil.c) so ASan sees a wrong buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow_file.h"
#include "arrow_testutil.h"
#include "arrow_writer.h"
#include "fb_builder.h"
#include "fixtures.h"
#include "flatbuf.h"
#include "json.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Corrupt files */

static void test_truncated(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"small.file.arrow", "small.stream.arrow"};
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *data = slurp(path_in(fx, names[k]), &len);
    assert_non_null(data);
    const char *cut = path_in(fx, "truncated.arrow");
    int ok = 0;
    for (size_t n = 0; n < len; n++) {
      spit(cut, data, n);
      int64_t rows = -1;
      if (try_read(cut, &rows) == 0) {
        /* A stream may legally end after any message: fewer rows, never garbage. */
        if (k == 0) fail_msg("%s cut at %zu bytes opened", names[k], n);
        assert_true(rows >= 0 && rows <= 6);
        ok++;
      }
    }
    print_message("  %s: %zu truncations, %d of them at a message boundary\n", names[k], len, ok);
    free(data);
  }
}

static void test_byte_flips(void **state) {
  fixtures *fx = need_arrow(state);
  const char *names[] = {"small.file.arrow", "small.stream.arrow"};
  static const uint8_t masks[] = {0x01, 0x80, 0xFF, 0x10};
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *data = slurp(path_in(fx, names[k]), &len);
    assert_non_null(data);
    const char *bad = path_in(fx, "flipped.arrow");
    int opened = 0;
    for (size_t i = 0; i < len; i++) {
      for (size_t m = 0; m < sizeof masks; m++) {
        data[i] ^= masks[m];
        spit(bad, data, len);
        opened += try_read(bad, NULL) == 0;
        data[i] ^= masks[m];
      }
    }
    print_message("  %s: %zu flips, %d read without error\n", names[k], len * sizeof masks, opened);
    free(data);
  }
}

/* Positions (file offsets) of the structures of record batch BATCH of a stream-format file. */
typedef struct rb_pos {
  size_t nodes; /* first FieldNode {length, null_count} */
  size_t n_nodes;
  size_t bufs; /* first Buffer {offset, length} */
  size_t n_bufs;
  size_t body;
  size_t meta_len_at; /* the int32 metadata length */
  size_t body_len_at; /* Message.bodyLength, 0 if absent */
  size_t length_at;   /* RecordBatch.length, 0 if absent */
} rb_pos;

/* The same for message BATCH of header type TYPE (2: DictionaryBatch, whose data is a RecordBatch). */
static void find_message(const uint8_t *d, size_t len, int want, int batch, rb_pos *out) {
  /* fail_msg() does not return, but GCC cannot see it once this is inlined here (maybe-uninitialized) */
  *out = (rb_pos){0};
  size_t pos = 0;
  int seen = -1;
  while (pos + 8 <= len) {
    assert_int_equal(fb_load_u32(d + pos), 0xFFFFFFFFu);
    uint32_t mlen = fb_load_u32(d + pos + 4);
    assert_true(mlen > 0);
    const uint8_t *fb = d + pos + 8;
    fb_table t, h;
    int bad = 0;
    assert_int_equal(fb_root(fb, mlen, &t), 0);
    int type = fb_u8(&t, 1, 0, &bad);
    int64_t body_len = fb_i64(&t, 3, 0, &bad);
    fb_table_field(&t, 2, &h, &bad);
    assert_false(bad);
    if (type == want && want == 2) { /* DictionaryBatch.data */
      fb_table data;
      assert_true(fb_table_field(&h, 1, &data, &bad));
      h = data;
    }
    if (type == want && ++seen == batch) {
      fb_vec nodes, bufs;
      out->n_nodes = fb_vector(&h, 1, 16, &nodes, &bad);
      out->n_bufs = fb_vector(&h, 2, 16, &bufs, &bad);
      out->nodes = (size_t)(fb - d) + nodes.pos;
      out->bufs = (size_t)(fb - d) + bufs.pos;
      out->body = pos + 8 + mlen;
      out->meta_len_at = pos + 4;
      /* where bodyLength sits: its vtable slot */
      size_t slot = 4 + 2 * 3;
      out->body_len_at = slot + 2 <= t.vt_len && fb_load_u16(fb + t.vt + slot)
                             ? (size_t)(fb - d) + t.pos + fb_load_u16(fb + t.vt + slot)
                             : 0;
      out->length_at =
          6 <= h.vt_len && fb_load_u16(fb + h.vt + 4) ? (size_t)(fb - d) + h.pos + fb_load_u16(fb + h.vt + 4) : 0;
      return;
    }
    pos += 8 + mlen + (size_t)body_len;
  }
  fail_msg("no message %d of type %d", batch, want);
}

static void find_batch(const uint8_t *d, size_t len, int batch, rb_pos *out) { find_message(d, len, 3, batch, out); }

static void put64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static int64_t get64(const uint8_t *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}
static void put32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }

/* Buffer K's {offset, length} of batch at RB. */
static uint8_t *buf_desc(uint8_t *d, const rb_pos *rb, size_t k) { return d + rb->bufs + 16 * k; }

/* Layout of small.*.arrow (write_arrow_fixtures.mjs), nodes and buffers in depth-first order: i32 (node 0,
 * buffers 0-1), s (1; 2-4), fsl (2; 5), fsl.item (3; 6-7), lst (4; 8-9), lst.item (5; 10-11), st (6; 12),
 * st.x (7; 13-14), st.name (8; 15-17), st.v (9; 18), st.v.item (10; 19-20), dict (11; 21-22: validity, indices). */
enum { N_I32 = 0, N_FSL_ITEM = 3, N_LST_ITEM = 5, N_ST_X = 7, N_ST_NAME = 8 };
enum { B_S_OFFSETS = 3, B_S_DATA = 4, B_FSL_ITEM_VALUES = 7, B_LST_OFFSETS = 9, B_DICT_INDICES = 22 };

typedef struct mutation {
  const char *what;
  void (*apply)(uint8_t *d, size_t *len, const rb_pos *rb);
  const char *expect; /* substring of the error, beyond the file name; NULL: any */
} mutation;

static void m_fsl_child_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_FSL_ITEM, get64(d + rb->nodes + 16 * N_FSL_ITEM) + 1);
}
static void m_struct_child_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_ST_X, get64(d + rb->nodes + 16 * N_ST_X) - 1);
}
static void m_offsets_backward(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_S_OFFSETS);
  put32(d + rb->body + get64(b) + 4, 1000); /* offsets[1] above offsets[2] */
}
static void m_offsets_past_data(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_S_OFFSETS);
  put32(d + rb->body + get64(b) + 12, 1 << 30);
}
static void m_list_offsets_past_child(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_LST_OFFSETS);
  put32(d + rb->body + get64(b) + 12, 1000);
}
static void m_negative_first_offset(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_LST_OFFSETS);
  put32(d + rb->body + get64(b), -4);
}
static void m_buffer_past_body(uint8_t *d, size_t *len, const rb_pos *rb) { put64(buf_desc(d, rb, B_S_DATA), 1 << 20); }
static void m_buffer_huge_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(buf_desc(d, rb, B_S_DATA) + 8, INT64_MAX);
}
static void m_buffer_short(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(buf_desc(d, rb, B_FSL_ITEM_VALUES) + 8, 2);
}
static void m_node_huge(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_LST_ITEM, INT64_MAX / 2);
}
static void m_node_negative(uint8_t *d, size_t *len, const rb_pos *rb) { put64(d + rb->nodes + 16 * N_LST_ITEM, -1); }
static void m_nulls_gt_len(uint8_t *d, size_t *len, const rb_pos *rb) {
  put64(d + rb->nodes + 16 * N_LST_ITEM + 8, 1000);
}
static void m_top_len(uint8_t *d, size_t *len, const rb_pos *rb) { put64(d + rb->nodes + 16 * N_I32, 2); }
static void m_dict_index(uint8_t *d, size_t *len, const rb_pos *rb) {
  uint8_t *b = buf_desc(d, rb, B_DICT_INDICES);
  put32(d + rb->body + get64(b), 77);
}
static void m_meta_len_huge(uint8_t *d, size_t *len, const rb_pos *rb) { put32(d + rb->meta_len_at, 0x7FFFFFF0); }
static void m_body_len_huge(uint8_t *d, size_t *len, const rb_pos *rb) {
  assert_true(rb->body_len_at != 0);
  put64(d + rb->body_len_at, INT64_MAX);
}
static void m_node_count(uint8_t *d, size_t *len, const rb_pos *rb) {
  put32(d + rb->nodes - 4, (int32_t)rb->n_nodes - 1);
}
static void m_buffer_count(uint8_t *d, size_t *len, const rb_pos *rb) {
  put32(d + rb->bufs - 4, (int32_t)rb->n_bufs + 1);
}
static void m_bad_magic(uint8_t *d, size_t *len, const rb_pos *rb) { memcpy(d, "ARROW2", 6); }
static void m_no_continuation_garbage(uint8_t *d, size_t *len, const rb_pos *rb) { memset(d, 0x7F, 8); }

static void test_crafted_corruption(void **state) {
  fixtures *fx = need_arrow(state);
  static const mutation muts[] = {
      {"fixed-size list child length", m_fsl_child_len, "'fsl'"},
      {"struct child length", m_struct_child_len, "'st.x'"},
      {"offsets going backward", m_offsets_backward, "backward"},
      {"offsets past the data", m_offsets_past_data, "'s'"},
      {"list offsets past the child", m_list_offsets_past_child, "'lst'"},
      {"negative first offset", m_negative_first_offset, "negative offset"},
      {"buffer past the body", m_buffer_past_body, "outside"},
      {"buffer of huge length", m_buffer_huge_len, "outside"},
      {"buffer too short", m_buffer_short, "'fsl.item'"},
      {"huge node length", m_node_huge, NULL},
      {"negative node length", m_node_negative, "'lst.item'"},
      {"null count above length", m_nulls_gt_len, "'lst.item'"},
      {"column length differs from batch", m_top_len, "'i32'"},
      {"dictionary index out of range", m_dict_index, "out of range"},
      {"huge metadata length", m_meta_len_huge, "truncated"},
      {"huge body length", m_body_len_huge, "body"},
      {"one field node fewer", m_node_count, "field nodes"},
      {"one buffer more", m_buffer_count, "buffers"},
      {"bad magic", m_bad_magic, NULL},
      {"garbage prefix", m_no_continuation_garbage, NULL},
  };
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.stream.arrow"), &len);
  assert_non_null(orig);
  uint8_t *d = malloc(len);
  const char *out = path_in(fx, "crafted.arrow");
  for (size_t i = 0; i < sizeof muts / sizeof *muts; i++) {
    for (int batch = 0; batch < 2; batch++) {
      rb_pos rb;
      memcpy(d, orig, len);
      find_batch(d, len, batch, &rb);
      assert_int_equal(rb.n_bufs, 23);
      size_t n = len;
      muts[i].apply(d, &n, &rb);
      spit(out, d, n);
      print_message("  %s (batch %d):", muts[i].what, batch);
      expect_fail(out, muts[i].expect, (char *)NULL);
    }
  }
  free(d);
  free(orig);
}

/* A FieldNode length of INT64_MAX where the reader computes length + 1 offsets: a utf8 child of a struct
 * (when the batch is read) and a dictionary's utf8 values (at open), without nulls so that no bitmap is
 * checked first. A clean error, no overflow (the ASan + UBSan build of this test died here). */
static void test_huge_offsets_length(void **state) {
  fixtures *fx = need_arrow(state);
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.stream.arrow"), &len);
  assert_non_null(orig);
  uint8_t *d = malloc(len);
  const char *out = path_in(fx, "huge-offsets.arrow");
  for (int batch = 0; batch < 2; batch++) {
    rb_pos rb;
    memcpy(d, orig, len);
    find_batch(d, len, batch, &rb);
    put64(d + rb.nodes + 16 * N_ST_NAME, INT64_MAX);
    put64(d + rb.nodes + 16 * N_ST_NAME + 8, 0); /* no nulls: no bitmap to check first */
    spit(out, d, len);
    print_message("  struct child st.name (batch %d):", batch);
    expect_fail(out, "'st.name'", "length overflows", (char *)NULL);
  }
  rb_pos rb;
  memcpy(d, orig, len);
  find_message(d, len, 2, 0, &rb);
  assert_int_equal(rb.n_nodes, 1);
  assert_true(rb.length_at != 0);
  put64(d + rb.length_at, INT64_MAX);
  put64(d + rb.nodes, INT64_MAX);
  put64(d + rb.nodes + 8, 0);
  spit(out, d, len);
  print_message("  dictionary values:");
  expect_fail(out, "'dict'", "length overflows", (char *)NULL);
  free(d);
  free(orig);
}

/* Field names, metadata keys and values and timezones are served in proto3 `string` fields, which must
 * be UTF-8 (other languages' decoders refuse the whole message): a file with any of them not UTF-8 is
 * refused at open, naming the file and what is wrong. Each case is also written valid, which opens. */
enum { U_NAME, U_CHILD_NAME, U_FIELD_KEY, U_FIELD_VALUE, U_SCHEMA_KEY, U_SCHEMA_VALUE, U_TIMEZONE, U_COUNT };

static void write_utf8_case(const char *path, int which, int bad) {
  const char *s = bad ? "caf\xc3(" : "caf\xc3\xa9";
  fx_table t = {0};
  fx_arena *a = t.arena = fx_arena_new();
  at_field *f = fx_alloc(a, 2 * sizeof *f), *item = fx_alloc(a, sizeof *item);
  at_kv *kv = fx_alloc(a, 2 * sizeof *kv);
  kv[0] = (at_kv){.key = "k", .value = "v", .key_len = 1, .value_len = 1};
  kv[1] = kv[0];
  if (which == U_FIELD_KEY || which == U_SCHEMA_KEY)
    kv[which == U_SCHEMA_KEY].key = (char *)s, kv[which == U_SCHEMA_KEY].key_len = strlen(s);
  if (which == U_FIELD_VALUE || which == U_SCHEMA_VALUE)
    kv[which == U_SCHEMA_VALUE].value = (char *)s, kv[which == U_SCHEMA_VALUE].value_len = strlen(s);
  *item = (at_field){.name = which == U_CHILD_NAME ? (char *)s : "x", .type = AT_INT32};
  f[0] = (at_field){.name = which == U_NAME ? (char *)s : "a",
                    .type = AT_STRUCT,
                    .n_children = 1,
                    .children = item,
                    .n_meta = 1,
                    .meta = &kv[0]};
  f[1] = (at_field){
      .name = "t", .type = AT_TIMESTAMP, .time_unit = 1, .timezone = which == U_TIMEZONE ? (char *)s : "UTC"};
  t.schema = (at_schema){.n_fields = 2, .fields = f, .n_meta = 1, .meta = &kv[1]};
  static const int64_t vals[2] = {1, 2};
  at_array *arr = fx_alloc(a, 3 * sizeof *arr);
  arr[2] = (at_array){.length = 2, .values = (const uint8_t *)vals, .values_len = 8};
  arr[0] = (at_array){.length = 2, .n_children = 1, .children = &arr[2]};
  arr[1] = (at_array){.length = 2, .values = (const uint8_t *)vals, .values_len = 16};
  int64_t *br = fx_alloc(a, sizeof *br);
  const at_array **bs = fx_alloc(a, sizeof *bs);
  *br = 2;
  *bs = arr;
  t.n_batches = 1, t.batch_rows = br, t.batches = bs;
  aw_options opt = {.format = which % 2 ? AW_STREAM : AW_FILE};
  assert_int_equal(fx_table_write(path, &opt, &t), 0);
  fx_table_free(&t);
}

static void test_non_utf8_strings(void **state) {
  static const char *const expect[U_COUNT] = {"field name", "field name", "metadata", "metadata",
                                              "metadata",   "metadata",   "timezone"};
  char path[] = "/tmp/tc_utf8XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  for (int which = 0; which < U_COUNT; which++) {
    write_utf8_case(path, which, 0);
    assert_int_equal(try_read(path, NULL), 0);
    write_utf8_case(path, which, 1);
    print_message("  case %d:", which);
    expect_fail(path, "not valid UTF-8", expect[which], (char *)NULL);
  }
  unlink(path);
}

/* Schemas no writer we run would produce, built with the project's flatbuffer builder: a stream holding
 * one Schema message with one field "f" (children "c", int32), then the end-of-stream marker. */
typedef struct fspec {
  int type_type;
  int has_param;
  int32_t param; /* the type table's field 0 (bitWidth, precision, unit, byteWidth, listSize) */
  int n_children;
  int depth; /* wrap in this many fixed_size_list<.., 1> levels */
  int16_t endianness;
  int dict_bits; /* nonzero: dictionary-encoded with an index of this width */
} fspec;

static fbb_ref int_field(fbb_builder *b, const char *name) {
  fbb_table_start(b);
  fbb_add_i32(b, 0, 32);
  fbb_add_u8(b, 1, 1);
  fbb_ref type = fbb_table_end(b);
  fbb_ref nm = fbb_string(b, name, strlen(name));
  fbb_table_start(b);
  fbb_add_ref(b, 0, nm);
  fbb_add_u8(b, 1, 1);
  fbb_add_u8(b, 2, 2);
  fbb_add_ref(b, 3, type);
  return fbb_table_end(b);
}

static fbb_ref spec_field(fbb_builder *b, const fspec *s, int depth) {
  fbb_ref kids[8];
  int n = depth > 0 ? 1 : s->n_children;
  for (int i = 0; i < n; i++) kids[i] = depth > 0 ? spec_field(b, s, depth - 1) : int_field(b, "c");
  fbb_ref vec = n ? fbb_ref_vector(b, kids, (size_t)n) : 0, de = 0;
  if (s->dict_bits && depth == 0) {
    fbb_table_start(b);
    fbb_add_i32(b, 0, s->dict_bits);
    fbb_add_u8(b, 1, 1);
    fbb_ref it = fbb_table_end(b);
    fbb_table_start(b);
    fbb_add_i64(b, 0, 5);
    fbb_add_ref(b, 1, it);
    de = fbb_table_end(b);
  }
  fbb_table_start(b);
  if (depth > 0 || s->has_param) fbb_add_i32(b, 0, depth > 0 ? 1 : s->param);
  fbb_ref type = fbb_table_end(b);
  fbb_ref nm = fbb_string(b, "f", 1);
  fbb_table_start(b);
  fbb_add_ref(b, 0, nm);
  fbb_add_u8(b, 1, 1);
  fbb_add_u8(b, 2, (uint8_t)(depth > 0 ? 16 : s->type_type));
  fbb_add_ref(b, 3, type);
  fbb_add_ref(b, 4, de);
  fbb_add_ref(b, 5, vec);
  return fbb_table_end(b);
}

static void write_schema_stream(const char *path, const fspec *s) {
  fbb_builder b;
  fbb_init(&b);
  fbb_ref field = spec_field(&b, s, s->depth);
  fbb_ref fields = fbb_ref_vector(&b, &field, 1);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, s->endianness);
  fbb_add_ref(&b, 1, fields);
  fbb_ref schema = fbb_table_end(&b);
  fbb_table_start(&b);
  fbb_add_i16(&b, 0, 4);
  fbb_add_u8(&b, 1, 1);
  fbb_add_ref(&b, 2, schema);
  fbb_add_i64(&b, 3, 0);
  fbb_ref msg = fbb_table_end(&b);
  size_t n;
  const uint8_t *fb = fbb_finish(&b, msg, &n);
  assert_non_null(fb);
  uint8_t *out = malloc(n + 16);
  put32(out, -1);
  put32(out + 4, (int32_t)n);
  memcpy(out + 8, fb, n);
  put32(out + 8 + n, -1);
  put32(out + 12 + n, 0);
  spit(path, out, n + 16);
  free(out);
  fbb_release(&b);
}

static void test_crafted_schemas(void **state) {
  fixtures *fx = *state;
  static const struct {
    fspec s;
    const char *expect;
  } cases[] = {
      {{.type_type = 2, .has_param = 1, .param = 32}, NULL}, /* valid: checks the builder */
      {{.type_type = 2, .has_param = 1, .param = 32, .endianness = 1}, "big-endian"},
      {{.type_type = 99}, "unknown type id 99"},
      {{.type_type = 2, .has_param = 1, .param = 12}, "Int bit width 12"},
      {{.type_type = 3, .has_param = 1, .param = 5}, "FloatingPoint"},
      {{.type_type = 10, .has_param = 1, .param = 7}, "Timestamp"},
      {{.type_type = 8, .has_param = 1, .param = 2}, "Date"},
      {{.type_type = 15, .has_param = 1, .param = 0}, "FixedSizeBinary width 0"},
      {{.type_type = 16, .has_param = 1, .param = -1, .n_children = 1}, "FixedSizeList size"},
      {{.type_type = 12, .n_children = 2}, "exactly one child"},
      {{.type_type = 16, .has_param = 1, .param = 2, .n_children = 0}, "exactly one child"},
      {{.type_type = 2, .has_param = 1, .param = 32, .depth = 70}, "nested too deeply"},
      {{.type_type = 5, .dict_bits = 12}, "dictionary index type"},
      {{.type_type = 25, .n_children = 1}, "unsupported type ListView"},
      {{.type_type = 22, .n_children = 2}, "unsupported type RunEndEncoded"},
      {{.type_type = 11, .has_param = 1, .param = 0}, "unsupported type Interval"},
  };
  const char *path = path_in(fx, "schema.arrow");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_schema_stream(path, &cases[i].s);
    if (!cases[i].expect) {
      at_file *f;
      char err[512];
      if (at_file_open(path, &f, err, sizeof err) != 0) fail_msg("%s", err);
      assert_int_equal(at_file_schema(f)->fields[0].type, AT_UINT32); /* is_signed left at its default */
      assert_int_equal(at_file_num_batches(f), 0);
      at_file_close(f);
      continue;
    }
    print_message("  case %zu:", i);
    expect_fail(path, cases[i].expect, (char *)NULL);
  }
}

static void test_file_format_corruption(void **state) {
  fixtures *fx = need_arrow(state);
  size_t len;
  uint8_t *orig = slurp(path_in(fx, "small.file.arrow"), &len);
  uint8_t *d = malloc(len + 64);
  const char *out = path_in(fx, "crafted.arrow");
  /* Footer length pointing before the file, past it, zero. */
  int32_t bad_lens[] = {0, -1, (int32_t)len, (int32_t)len - 17, 0x7FFFFFFF};
  for (size_t i = 0; i < sizeof bad_lens / sizeof *bad_lens; i++) {
    memcpy(d, orig, len);
    put32(d + len - 10, bad_lens[i]);
    spit(out, d, len);
    expect_fail(out, (char *)NULL);
  }
  /* Trailing magic gone. */
  memcpy(d, orig, len);
  d[len - 1] = 'X';
  spit(out, d, len);
  expect_fail(out, "footer", (char *)NULL);
  /* Not an Arrow file at all, too short, empty, missing, a directory. */
  spit(out, "hello world, this is text\n", 26);
  expect_fail(out, (char *)NULL);
  spit(out, "ARROW1", 6);
  expect_fail(out, (char *)NULL);
  spit(out, "", 0);
  expect_fail(out, (char *)NULL);
  expect_fail(path_in(fx, "does-not-exist.arrow"), (char *)NULL);
  expect_fail(fx->dir, (char *)NULL);
  /* An empty stream: only the end-of-stream marker. */
  spit(out, "\xff\xff\xff\xff\0\0\0\0", 8);
  expect_fail(out, "schema", (char *)NULL);
  free(d);
  free(orig);
}

/* Truncations and byte flips of small compressed files (the apache-arrow ones cover uncompressed files). */
static void test_writer_compressed_corruption(void **state) {
  fixtures *fx = *state;
  fx_table all;
  assert_int_equal(fx_all_types(&all), 0);
  static const uint8_t masks[] = {0x01, 0xFF};
  const char *src = path_in(fx, "compressed.arrow"), *bad = path_in(fx, "compressed_bad.arrow");
  for (int fmt = 0; fmt < 2; fmt++)
    for (int codec = 1; codec < 3; codec++) {
      aw_options opt = {(enum aw_format)fmt, (enum aw_codec)codec, 16};
      assert_int_equal(fx_table_write(src, &opt, &all), 0);
      size_t len;
      uint8_t *data = slurp(src, &len);
      assert_non_null(data);
      /* Every third cut and one flip per byte (masks taking turns) keep this under a minute with ASan. */
      int opened = 0;
      for (size_t n = 0; n < len; n += 3) {
        spit(bad, data, n);
        if (try_read(bad, NULL) == 0 && fmt == AW_FILE) fail_msg("file cut at %zu bytes opened", n);
      }
      for (size_t i = 0; i < len; i++) {
        data[i] ^= masks[i % sizeof masks];
        spit(bad, data, len);
        opened += try_read(bad, NULL) == 0;
        data[i] ^= masks[i % sizeof masks];
      }
      print_message("  %s/%s: %zu bytes, %zu flips, %d read without error\n", format_names[fmt], codec_names[codec],
                    len, len, opened);
      free(data);
    }
  fx_table_free(&all);
}

/* The first buffer of batch RB that holds compressed data (a length prefix other than -1). */
static uint8_t *first_compressed(uint8_t *d, const rb_pos *rb, int64_t *prefix_at, int64_t *len) {
  for (size_t k = 0; k < rb->n_bufs; k++) {
    uint8_t *b = buf_desc(d, rb, k);
    if (get64(b + 8) >= 16 && get64(d + rb->body + get64(b)) > 0) {
      *prefix_at = (int64_t)rb->body + get64(b);
      *len = get64(b + 8);
      return b;
    }
  }
  fail_msg("no compressed buffer");
  return NULL;
}

static void test_writer_crafted_compression(void **state) {
  fixtures *fx = *state;
  fx_table all;
  assert_int_equal(fx_all_types(&all), 0);
  const char *src = path_in(fx, "compressed.arrow"), *bad = path_in(fx, "compressed_bad.arrow");
  for (int codec = 1; codec < 3; codec++) {
    aw_options opt = {AW_STREAM, (enum aw_codec)codec, 0};
    assert_int_equal(fx_table_write(src, &opt, &all), 0);
    size_t len;
    uint8_t *orig = slurp(src, &len), *d = malloc(len);
    rb_pos rb;
    int64_t at = 0, blen = 0;
    for (int k = 0; k < 5; k++) {
      memcpy(d, orig, len);
      find_batch(d, len, 0, &rb);
      uint8_t *b = first_compressed(d, &rb, &at, &blen);
      const char *expect = "uncompressed length";
      switch (k) {
      case 0: put64(d + at, 0); break;                /* says empty, the node needs bytes */
      case 1: put64(d + at, -7); break;               /* negative, not -1 */
      case 2: put64(d + at, (int64_t)1 << 50); break; /* absurd */
      case 3:
        put64(b + 8, 9);
        expect = "decompress";
        break; /* payload cut to one byte */
      case 4:
        memset(d + at + 8, 0x5A, (size_t)blen - 8);
        expect = "decompress";
        break; /* garbage payload */
      }
      spit(bad, d, len);
      print_message("  %s case %d:", codec_names[codec], k);
      expect_fail(bad, expect, (char *)NULL);
    }
    /* A prefix larger than the data needs is harmless: only what the node needs is decompressed. */
    free(orig);
    free(d);
  }
  fx_table_free(&all);
}

/* ------------------------------------------------------------------------------------------------------ */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crafted_corruption),
      cmocka_unit_test(test_huge_offsets_length),
      cmocka_unit_test(test_non_utf8_strings),
      cmocka_unit_test(test_file_format_corruption),
      cmocka_unit_test(test_crafted_schemas),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_byte_flips),
      cmocka_unit_test(test_writer_crafted_compression),
      cmocka_unit_test(test_writer_compressed_corruption),
  };
  return cmocka_run_group_tests(tests, setup_fixtures, teardown_fixtures);
}
