/* json.c: a small JSON parser for the tests (json.h). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

static const char *jp_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
}

static void put_utf8(char **o, unsigned cp) {
  unsigned char *u = (unsigned char *)*o;
  if (cp < 0x80) {
    *u++ = (unsigned char)cp;
  } else if (cp < 0x800) {
    *u++ = (unsigned char)(0xC0 | cp >> 6);
    *u++ = (unsigned char)(0x80 | (cp & 63));
  } else if (cp < 0x10000) {
    *u++ = (unsigned char)(0xE0 | cp >> 12);
    *u++ = (unsigned char)(0x80 | (cp >> 6 & 63));
    *u++ = (unsigned char)(0x80 | (cp & 63));
  } else {
    *u++ = (unsigned char)(0xF0 | cp >> 18);
    *u++ = (unsigned char)(0x80 | (cp >> 12 & 63));
    *u++ = (unsigned char)(0x80 | (cp >> 6 & 63));
    *u++ = (unsigned char)(0x80 | (cp & 63));
  }
  *o = (char *)u;
}

static const char *jp_string(const char *p, char **out, size_t *len) {
  const char *q = ++p;
  while (*q && *q != '"') q += *q == '\\' && q[1] ? 2 : 1;
  if (!*q) return NULL;
  char *s = malloc((size_t)(q - p) + 1), *o = s;
  while (p < q) {
    if (*p != '\\') {
      *o++ = *p++;
      continue;
    }
    char e = p[1];
    p += 2;
    if (e == 'u') {
      unsigned cp = (unsigned)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
      p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
        unsigned lo = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
      put_utf8(&o, cp);
    } else {
      *o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
    }
  }
  *o = 0;
  *out = s;
  *len = (size_t)(o - s);
  return q + 1;
}

static const char *jp_items(const char *p, jv *out, int obj) {
  char close = obj ? '}' : ']';
  size_t cap = 0;
  p = jp_ws(p + 1);
  if (*p == close) return p + 1;
  for (;;) {
    if (out->n == cap) {
      cap = cap ? cap * 2 : 8;
      out->v = realloc(out->v, cap * sizeof *out->v);
      if (obj) out->k = realloc(out->k, cap * sizeof *out->k);
    }
    if (obj) {
      size_t klen;
      p = jp_ws(p);
      if (*p != '"' || !(p = jp_string(p, &out->k[out->n], &klen))) return NULL;
      p = jp_ws(p);
      if (*p++ != ':') return NULL;
    }
    if (!(p = jv_parse(p, &out->v[out->n]))) return NULL;
    out->n++;
    p = jp_ws(p);
    if (*p == close) return p + 1;
    if (*p++ != ',') return NULL;
  }
}

const char *jv_parse(const char *p, jv *out) {
  memset(out, 0, sizeof *out);
  p = jp_ws(p);
  if (*p == '{' || *p == '[') {
    out->kind = *p == '{' ? J_OBJ : J_ARR;
    return jp_items(p, out, out->kind == J_OBJ);
  }
  if (*p == '"') {
    out->kind = J_STR;
    return jp_string(p, &out->s, &out->len);
  }
  if (!strncmp(p, "null", 4)) return out->kind = J_NULL, p + 4;
  if (!strncmp(p, "true", 4)) return out->kind = J_BOOL, out->b = 1, p + 4;
  if (!strncmp(p, "false", 5)) return out->kind = J_BOOL, p + 5;
  char *end;
  out->kind = J_NUM;
  out->num = strtod(p, &end);
  return end == p ? NULL : end;
}

void jv_free(jv *v) {
  for (size_t i = 0; i < v->n; i++) {
    jv_free(&v->v[i]);
    if (v->k) free(v->k[i]);
  }
  free(v->v);
  free(v->k);
  free(v->s);
}

const jv *jv_get(const jv *o, const char *key) {
  for (size_t i = 0; o->kind == J_OBJ && i < o->n; i++)
    if (!strcmp(o->k[i], key)) return &o->v[i];
  return NULL;
}
