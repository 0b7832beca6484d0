/* flatbuf.c: bounds-checked flatbuffer accessors (see flatbuf.h). */
#include "flatbuf.h"

#include <string.h>

/* [pos, pos + n) lies inside a buffer of LEN bytes. */
static int fits(size_t len, size_t pos, size_t n) { return pos <= len && n <= len - pos; }

static int table_at(const uint8_t *buf, size_t len, size_t pos, fb_table *t) {
  memset(t, 0, sizeof *t);
  if (!fits(len, pos, 4)) return -1;
  /* The soffset is subtracted: a positive one puts the vtable before the table. */
  int64_t vt = (int64_t)pos - (int64_t)(int32_t)fb_load_u32(buf + pos);
  if (vt < 0 || !fits(len, (size_t)vt, 4)) return -1;
  uint16_t vt_len = fb_load_u16(buf + vt), tbl_len = fb_load_u16(buf + vt + 2);
  if (vt_len < 4 || (vt_len & 1) || !fits(len, (size_t)vt, vt_len)) return -1;
  if (tbl_len < 4 || !fits(len, pos, tbl_len)) return -1;
  t->buf = buf;
  t->len = len;
  t->pos = pos;
  t->vt = (size_t)vt;
  t->vt_len = vt_len;
  t->tbl_len = tbl_len;
  return 0;
}

int fb_root(const uint8_t *buf, size_t len, fb_table *t) {
  if (!fits(len, 0, 4)) {
    memset(t, 0, sizeof *t);
    return -1;
  }
  return table_at(buf, len, fb_load_u32(buf), t);
}

/* Offset of field ID from the table start, 0 when absent. */
static size_t slot(const fb_table *t, int id) {
  if (!t->buf || id < 0) return 0;
  size_t at = 4 + 2 * (size_t)id;
  if (at + 2 > t->vt_len) return 0;
  return fb_load_u16(t->buf + t->vt + at);
}

int fb_has(const fb_table *t, int id) { return slot(t, id) != 0; }

/* Position of a present field of SIZE bytes, or 0 (absent, or corrupt with *bad set). */
static size_t field_pos(const fb_table *t, int id, size_t size, int *bad) {
  size_t off = slot(t, id);
  if (off == 0) return 0;
  if (off < 4 || off > t->tbl_len || size > (size_t)t->tbl_len - off) {
    *bad = 1;
    return 0;
  }
  return t->pos + off;
}

uint8_t fb_u8(const fb_table *t, int id, uint8_t def, int *bad) {
  size_t p = field_pos(t, id, 1, bad);
  return p ? t->buf[p] : def;
}

int16_t fb_i16(const fb_table *t, int id, int16_t def, int *bad) {
  size_t p = field_pos(t, id, 2, bad);
  return p ? (int16_t)fb_load_u16(t->buf + p) : def;
}

int32_t fb_i32(const fb_table *t, int id, int32_t def, int *bad) {
  size_t p = field_pos(t, id, 4, bad);
  return p ? (int32_t)fb_load_u32(t->buf + p) : def;
}

int64_t fb_i64(const fb_table *t, int id, int64_t def, int *bad) {
  size_t p = field_pos(t, id, 8, bad);
  return p ? (int64_t)fb_load_u64(t->buf + p) : def;
}

/* Follows the uoffset stored at P (inside the buffer). Returns the target, or 0 when out of range. */
static size_t deref(const uint8_t *buf, size_t len, size_t p, int *bad) {
  if (!fits(len, p, 4)) {
    *bad = 1;
    return 0;
  }
  size_t target = p + fb_load_u32(buf + p);
  if (!fits(len, target, 4)) {
    *bad = 1;
    return 0;
  }
  return target;
}

int fb_table_field(const fb_table *t, int id, fb_table *out, int *bad) {
  memset(out, 0, sizeof *out);
  size_t p = field_pos(t, id, 4, bad);
  if (!p) return 0;
  size_t target = deref(t->buf, t->len, p, bad);
  if (!target) return 0;
  if (table_at(t->buf, t->len, target, out) != 0) {
    *bad = 1;
    return 0;
  }
  return 1;
}

/* Reads the vector header at TARGET: N elements of SIZE bytes must follow. */
static size_t vec_at(const uint8_t *buf, size_t len, size_t target, size_t size, fb_vec *v, int *bad) {
  size_t n = fb_load_u32(buf + target);
  if (size && n > (len - target - 4) / size) {
    *bad = 1;
    return 0;
  }
  v->buf = buf;
  v->len = len;
  v->pos = target + 4;
  v->n = n;
  return n;
}

size_t fb_vector(const fb_table *t, int id, size_t elem_size, fb_vec *v, int *bad) {
  memset(v, 0, sizeof *v);
  size_t p = field_pos(t, id, 4, bad);
  if (!p) return 0;
  size_t target = deref(t->buf, t->len, p, bad);
  if (!target) return 0;
  return vec_at(t->buf, t->len, target, elem_size, v, bad);
}

int fb_string(const fb_table *t, int id, const char **s, size_t *n, int *bad) {
  fb_vec v;
  size_t len = fb_vector(t, id, 1, &v, bad);
  *s = v.buf ? (const char *)v.buf + v.pos : "";
  *n = v.buf ? len : 0;
  return v.buf != NULL;
}

int fb_vec_table(const fb_vec *v, size_t i, fb_table *out, int *bad) {
  memset(out, 0, sizeof *out);
  if (i >= v->n) {
    *bad = 1;
    return 0;
  }
  size_t target = deref(v->buf, v->len, v->pos + 4 * i, bad);
  if (!target) return 0;
  if (table_at(v->buf, v->len, target, out) != 0) {
    *bad = 1;
    return 0;
  }
  return 1;
}

const uint8_t *fb_vec_elem(const fb_vec *v, size_t i, size_t elem_size) {
  if (i >= v->n) return NULL;
  return v->buf + v->pos + i * elem_size;
}
