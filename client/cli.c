/* tablecar: the command-line client of the sidecar, over libtablecar (include/tablecar.h).
 *
 *   tablecar [--target T] [--timeout SECONDS] [--json] COMMAND ...     (tablecar --help for the commands)
 *
 * Output is for a person by default (aligned tables, long values cut short) and, with --json, one compact
 * JSON document per command for scripts (every value, nothing cut). Errors are one line on stderr,
 * "tablecar: STATUS: message"; the exit code is 0, 1 (the call failed, or health is not SERVING) or 2
 * (usage). Everything a command prints is built in memory first, so a failure never leaves half a document
 * on stdout. No global mutable state: the parsed arguments travel in a `cli` struct. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tablecar.h"

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_TARGET "unix:/tmp/tablecar.sock"
#define DEFAULT_TIMEOUT_MS 10000 /* a person waits this long for a sidecar that is down or restarting */
#define CELL_MAX 60              /* readable output: display width of one cell at most */
#define ITEMS_MAX 8              /* readable output: items shown of a list */
#define TENSOR_ITEMS_MAX 6       /* readable output: values shown of a fixed-shape tensor */
#define TEXT_MAX 40              /* readable output: bytes shown of a string or binary value */

/* ------------------------------------------------------------------------------------------------------ */
/* Memory and strings. A CLI has nothing to save when memory runs out: it says so and exits. */

static void die_oom(void) {
  fputs("tablecar: out of memory\n", stderr);
  exit(EXIT_FAIL);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die_oom();
  return p;
}

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(sbuf *b, char c) { sb_putn(b, &c, 1); }

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = xrealloc(NULL, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

/* Takes the buffer's string (the caller frees it) and empties the buffer. */
static char *sb_take(sbuf *b) {
  char *s = b->p ? b->p : xrealloc(NULL, 1);
  if (!b->p) s[0] = '\0';
  *b = (sbuf){0};
  return s;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))) return 0; /* overlong, surrogate */
  if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
  return len;
}

/* Display width, counted in code points (continuation bytes do not count). */
static size_t display_width(const char *s) {
  size_t w = 0;
  for (; *s; s++) w += ((uint8_t)*s & 0xc0) != 0x80;
  return w;
}

/* Cuts s to at most max code points, the last one an ellipsis, in place: the ellipsis (3 bytes) only ever
 * replaces at least 3 bytes of s, so it never writes past the string's own terminator. */
static void cut_display(char *s, size_t max) {
  if (max == 0 || display_width(s) <= max) return;
  char *end = s + strlen(s), *p = s;
  for (size_t w = 0; *p; p++)  /* p: where code point max - 1 starts (there are at least two from it) */
    if (((uint8_t)*p & 0xc0) != 0x80 && w++ == max - 1) break;
  while (end - p < 3 && p > s) /* give up whole code points until the ellipsis fits */
    do p--; while (p > s && ((uint8_t)*p & 0xc0) == 0x80);
  if (end - p >= 3) memcpy(p, "\xe2\x80\xa6", 4);
}

/* ------------------------------------------------------------------------------------------------------ */
/* JSON */

static void json_str(sbuf *b, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  sb_putc(b, '"');
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    size_t len = utf8_seq(p + i, n - i);
    if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
    else if (c == '\n') sb_puts(b, "\\n");
    else if (c == '\t') sb_puts(b, "\\t");
    else if (c == '\r') sb_puts(b, "\\r");
    else if (c < 0x20) sb_printf(b, "\\u%04x", c);
    else if (len == 0) sb_puts(b, "\\ufffd"); /* JSON text must be UTF-8: a bad byte becomes U+FFFD */
    else sb_putn(b, s + i, len);
    i += len ? len : 1;
  }
  sb_putc(b, '"');
}

static void json_cstr(sbuf *b, const char *s) { json_str(b, s, strlen(s)); }

/* `"key":` after a comma unless first. */
static void json_key(sbuf *b, const char *key, int first) {
  if (!first) sb_putc(b, ',');
  json_cstr(b, key);
  sb_putc(b, ':');
}

static void json_kv_object(sbuf *b, const tc_kv *kv, size_t n) {
  sb_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    json_key(b, kv[i].key, i == 0);
    json_cstr(b, kv[i].value);
  }
  sb_putc(b, '}');
}

static void json_str_array(sbuf *b, const char *const *v, size_t n) {
  sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) sb_putc(b, ',');
    json_cstr(b, v[i]);
  }
  sb_putc(b, ']');
}

static void base64(sbuf *b, const uint8_t *p, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=', i + 2 < n ? abc[v & 63] : '='};
    sb_putn(b, q, 4);
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Aligned text tables */

typedef struct grid {
  size_t ncols, n;     /* n cells so far, row-major */
  char **cells;
  unsigned right_mask; /* bit c: right-align column c (numbers) */
  const char *indent;
} grid;

static void grid_add(grid *g, char *owned) {
  g->cells = xrealloc(g->cells, (g->n + 1) * sizeof *g->cells);
  g->cells[g->n++] = owned;
}

static void grid_addf(grid *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void grid_addf(grid *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  if (!s) die_oom();
  grid_add(g, s);
}

static void grid_print(grid *g, sbuf *out) {
  size_t *w = xrealloc(NULL, g->ncols * sizeof *w);
  for (size_t c = 0; c < g->ncols; c++) w[c] = 0;
  for (size_t i = 0; i < g->n; i++) {
    size_t dw = display_width(g->cells[i]);
    if (dw > w[i % g->ncols]) w[i % g->ncols] = dw;
  }
  for (size_t i = 0; i < g->n; i++) {
    size_t c = i % g->ncols, pad = w[c] - display_width(g->cells[i]);
    int right = c < 32 && (g->right_mask >> c & 1), last = c + 1 == g->ncols || i + 1 == g->n;
    if (c == 0 && g->indent) sb_puts(out, g->indent);
    for (size_t k = 0; right && k < pad; k++) sb_putc(out, ' ');
    sb_puts(out, g->cells[i]);
    for (size_t k = 0; !right && !last && k < pad; k++) sb_putc(out, ' ');
    if (!last) {
      sb_puts(out, "  ");
      continue;
    }
    while (out->len && out->p[out->len - 1] == ' ') out->p[--out->len] = '\0'; /* empty last cells */
    sb_putc(out, '\n');
  }
  free(w);
  for (size_t i = 0; i < g->n; i++) free(g->cells[i]);
  free(g->cells);
  *g = (grid){0};
}

/* ------------------------------------------------------------------------------------------------------ */
/* Types, spelled as Arrow does (with the element type first in fixed-size-list chains, and the shape) */

/* A type spelled by its name alone (the types without parameters), or NULL. Dates carry their unit, as
 * Arrow prints them. */
static const char *simple_type_name(int type) {
  switch (type) {
  case TC_TYPE_DATE32: return "date32[day]";
  case TC_TYPE_DATE64: return "date64[ms]";
  case TC_TYPE_UNSPECIFIED:
  case TC_TYPE_FIXED_SIZE_BINARY:
  case TC_TYPE_TIMESTAMP:
  case TC_TYPE_LIST:
  case TC_TYPE_LARGE_LIST:
  case TC_TYPE_FIXED_SIZE_LIST:
  case TC_TYPE_STRUCT: return NULL;
  default: return tc_type_name(type);
  }
}

static const char *const kUnits[] = {"s", "ms", "us", "ns"};

static void spell_type(sbuf *b, const tc_field *f) {
  const char *simple = simple_type_name(f->type);
  if (simple) {
    sb_puts(b, simple);
    return;
  }
  switch (f->type) {
  case TC_TYPE_FIXED_SIZE_BINARY: sb_printf(b, "fixed_size_binary[%" PRId32 "]", f->byte_width); return;
  case TC_TYPE_TIMESTAMP:
    sb_printf(b, "timestamp[%s%s%s]", f->unit >= 0 && f->unit < 4 ? kUnits[f->unit] : "?", *f->timezone ? ", " : "",
              f->timezone);
    return;
  case TC_TYPE_LIST:
  case TC_TYPE_LARGE_LIST:
    sb_puts(b, f->type == TC_TYPE_LIST ? "list<" : "large_list<");
    if (f->n_children) spell_type(b, &f->children[0]);
    sb_putc(b, '>');
    return;
  case TC_TYPE_FIXED_SIZE_LIST:
    sb_puts(b, "fixed_size_list<");
    if (f->ndim > 0 && simple_type_name(f->element_type)) { /* a chain: the leaf type and the whole shape */
      sb_puts(b, simple_type_name(f->element_type));
      sb_putc(b, '>');
      for (size_t i = 0; i < f->ndim; i++) sb_printf(b, "%c%" PRId64, i ? ',' : '[', f->shape[i]);
      sb_putc(b, ']');
      return;
    }
    if (f->n_children) spell_type(b, &f->children[0]);
    sb_printf(b, ">[%" PRId32 "]", f->list_size);
    return;
  case TC_TYPE_STRUCT:
    sb_puts(b, "struct<");
    for (size_t i = 0; i < f->n_children; i++) {
      sb_printf(b, "%s%s: ", i ? ", " : "", f->children[i].name);
      spell_type(b, &f->children[i]);
    }
    sb_putc(b, '>');
    return;
  default: sb_printf(b, "unknown(%d)", f->type); return;
  }
}

static char *type_string(const tc_field *f) {
  sbuf b = {0};
  spell_type(&b, f);
  return sb_take(&b);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Cell values. A batch's buffers come from the network: every read is bounds-checked. */

typedef struct style {
  int json;
  size_t max_items; /* of a list */
  size_t max_text;  /* bytes of a string or binary */
} style;

static const style kJson = {1, SIZE_MAX, SIZE_MAX};
static const style kHuman = {0, ITEMS_MAX, TEXT_MAX};

/* A value the batch's buffers do not hold (a malformed batch). */
static void put_missing(sbuf *b, const style *st) { sb_puts(b, st->json ? "null" : "?"); }

/* Without a bitmap a value is valid, unless the array is all null (a null-type array has no buffers). */
static int is_valid(const tc_column *c, int64_t i) {
  if (!c->validity) return c->null_count == 0;
  if (c->null_count == 0) return 1;
  size_t byte = (size_t)i / 8;
  return byte >= c->validity_size || (c->validity[byte] >> (i % 8) & 1);
}

/* Bytes per value of a fixed-width type; 0 for the others (and for bool, which is bit-packed). */
static size_t value_width(const tc_column *c) {
  if (c->type == TC_TYPE_FIXED_SIZE_BINARY) return c->field && c->field->byte_width > 0 ? (size_t)c->field->byte_width : 0;
  return (size_t)tc_type_fixed_width(c->type);
}

/* Little-endian unsigned value i of width w (1..8); -1 if the buffer is too short. */
static int load_le(const tc_column *c, int64_t i, size_t w, uint64_t *out) {
  if (i < 0 || !c->values || ((size_t)i + 1) * w > c->values_size) return -1;
  const uint8_t *p = c->values + (size_t)i * w;
  uint64_t v = 0;
  for (size_t k = w; k-- > 0;) v = v << 8 | p[k];
  *out = v;
  return 0;
}

static int64_t sign_extend(uint64_t v, size_t w) {
  if (w == 8) return (int64_t)v;
  uint64_t m = UINT64_C(1) << (8 * w - 1);
  return (int64_t)((v ^ m) - m);
}

static double half_to_double(uint16_t h) {
  int e = h >> 10 & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return h >> 15 ? -v : v;
}

/* The shortest %g that reads back as the same float (float32) or double. */
static void put_float(sbuf *b, double v, int is_f32, const style *st) {
  if (!isfinite(v)) { /* JSON has no NaN or infinities: strings, as protobuf's JSON mapping does */
    const char *s = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    sb_printf(b, st->json ? "\"%s\"" : "%s", s);
    return;
  }
  char tmp[40];
  for (int prec = is_f32 ? 6 : 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (is_f32 ? (double)strtof(tmp, NULL) == v : strtod(tmp, NULL) == v) break;
  }
  sb_puts(b, tmp);
}

/* Seconds since the epoch as ISO 8601, with `frac_digits` digits of `frac`. */
static void put_iso_time(sbuf *b, int64_t secs, int64_t frac, int frac_digits, int date_only, int utc) {
  time_t t = (time_t)secs;
  struct tm tm;
  char tmp[64];
  if (!gmtime_r(&t, &tm) || !strftime(tmp, sizeof tmp, date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S", &tm)) {
    sb_printf(b, "%" PRId64, secs);
    return;
  }
  sb_puts(b, tmp);
  if (!date_only && frac_digits) sb_printf(b, ".%0*" PRId64, frac_digits, frac);
  if (!date_only && utc) sb_putc(b, 'Z');
}

static int64_t floor_div(int64_t a, int64_t d) { return a / d - (a % d != 0 && (a < 0) != (d < 0)); }

/* Readable dates and timestamps (a timestamp with a time zone is an instant: shown in UTC). */
static void put_time(sbuf *b, const tc_column *c, int64_t v) {
  static const int64_t per_sec[] = {1, 1000, 1000000, 1000000000};
  static const int digits[] = {0, 3, 6, 9};
  if (c->type == TC_TYPE_DATE32) {
    put_iso_time(b, v * 86400, 0, 0, 1, 0);
  } else if (c->type == TC_TYPE_DATE64) {
    put_iso_time(b, floor_div(v, 86400000) * 86400, 0, 0, 1, 0);
  } else {
    int u = c->field && c->field->unit >= 0 && c->field->unit < 4 ? c->field->unit : 0;
    int64_t s = floor_div(v, per_sec[u]);
    put_iso_time(b, s, v - s * per_sec[u], digits[u], 0, c->field && *c->field->timezone);
  }
}

static void put_number(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  size_t w = value_width(c);
  uint64_t v;
  if (load_le(c, i, w, &v)) {
    put_missing(b, st);
    return;
  }
  switch (c->type) {
  case TC_TYPE_UINT8: case TC_TYPE_UINT16: case TC_TYPE_UINT32: case TC_TYPE_UINT64:
    sb_printf(b, "%" PRIu64, v);
    return;
  case TC_TYPE_FLOAT16: put_float(b, half_to_double((uint16_t)v), 1, st); return;
  case TC_TYPE_FLOAT32: {
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, 4);
    put_float(b, f, 1, st);
    return;
  }
  case TC_TYPE_FLOAT64: {
    double d;
    memcpy(&d, &v, 8);
    put_float(b, d, 0, st);
    return;
  }
  case TC_TYPE_DATE32: case TC_TYPE_DATE64: case TC_TYPE_TIMESTAMP:
    if (!st->json) {
      put_time(b, c, sign_extend(v, w));
      return;
    }
    break; /* JSON: the stored integer, exactly; the unit is in the schema */
  default: break;
  }
  sb_printf(b, "%" PRId64, sign_extend(v, w));
}

/* Offsets [*lo, *hi) of row i of a utf8/binary/list column; -1 if malformed. */
static int row_range(const tc_column *c, int64_t i, int64_t *lo, int64_t *hi) {
  int wide = c->type == TC_TYPE_LARGE_UTF8 || c->type == TC_TYPE_LARGE_BINARY || c->type == TC_TYPE_LARGE_LIST;
  size_t w = wide ? 8 : 4;
  if (i < 0 || !c->offsets || ((size_t)i + 2) * w > c->offsets_size) return -1;
  uint64_t a = 0, z = 0;
  for (size_t k = w; k-- > 0;) {
    a = a << 8 | c->offsets[(size_t)i * w + k];
    z = z << 8 | c->offsets[((size_t)i + 1) * w + k];
  }
  *lo = sign_extend(a, w);
  *hi = sign_extend(z, w);
  return *lo < 0 || *hi < *lo ? -1 : 0;
}

/* A readable string: quoted, escaped, cut at st->max_text bytes. */
static void put_text_human(sbuf *b, const uint8_t *p, size_t n, const style *st) {
  sb_putc(b, '"');
  size_t i = 0;
  while (i < n && i < st->max_text) {
    size_t len = utf8_seq(p + i, n - i);
    uint8_t c = p[i];
    if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
    else if (c == '\n') sb_puts(b, "\\n");
    else if (c == '\t') sb_puts(b, "\\t");
    else if (c < 0x20 || c == 0x7f || len == 0) sb_printf(b, "\\x%02x", c);
    else sb_putn(b, (const char *)p + i, len);
    i += len ? len : 1;
  }
  sb_puts(b, i < n ? "\xe2\x80\xa6\"" : "\"");
}

/* Readable bytes: b"..." with printable ASCII as is, the rest as \xNN. */
static void put_bytes_human(sbuf *b, const uint8_t *p, size_t n, const style *st) {
  sb_puts(b, "b\"");
  size_t i = 0;
  for (; i < n && i < st->max_text; i++) {
    if (p[i] == '"' || p[i] == '\\') sb_printf(b, "\\%c", p[i]);
    else if (p[i] >= 0x20 && p[i] < 0x7f) sb_putc(b, (char)p[i]);
    else sb_printf(b, "\\x%02x", p[i]);
  }
  sb_puts(b, i < n ? "\xe2\x80\xa6\"" : "\"");
}

static void put_binary(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  int64_t lo, hi;
  size_t w = value_width(c);
  if (c->type == TC_TYPE_FIXED_SIZE_BINARY) lo = i * (int64_t)w, hi = lo + (int64_t)w;
  else if (row_range(c, i, &lo, &hi)) lo = hi = -1;
  if (lo < 0 || !c->values || (uint64_t)hi > c->values_size) {
    put_missing(b, st);
    return;
  }
  const uint8_t *p = c->values + lo;
  size_t n = (size_t)(hi - lo);
  int text = c->type == TC_TYPE_UTF8 || c->type == TC_TYPE_LARGE_UTF8;
  if (st->json && text) {
    json_str(b, (const char *)p, n);
  } else if (st->json) { /* JSON has no bytes: base64, as protobuf's JSON mapping does */
    sb_putc(b, '"');
    base64(b, p, n);
    sb_putc(b, '"');
  } else if (text) {
    put_text_human(b, p, n, st);
  } else {
    put_bytes_human(b, p, n, st);
  }
}

static void put_value(sbuf *b, const tc_column *c, int64_t i, const style *st);

/* Items [lo, hi) of a list's child column, as a JSON array or a readable [a, b, …]. */
static void put_items(sbuf *b, const tc_column *child, int64_t lo, int64_t hi, const style *st) {
  sb_putc(b, '[');
  for (int64_t k = lo; k < hi; k++) {
    if (k > lo) sb_puts(b, st->json ? "," : ", ");
    if ((size_t)(k - lo) >= st->max_items) {
      sb_puts(b, "\xe2\x80\xa6");
      break;
    }
    put_value(b, child, k, st);
  }
  sb_putc(b, ']');
}

/* Readable fixed-shape tensor (an image): its type and shape, then its first values. */
static void put_tensor_human(sbuf *b, const tc_column *c, int64_t i) {
  const tc_field *f = c->field;
  const tc_column *leaf = c;
  int64_t size = 1;
  for (size_t d = 0; d < f->ndim; d++) {
    size *= f->shape[d];
    leaf = leaf->n_children ? &leaf->children[0] : NULL;
    if (!leaf) {
      sb_puts(b, "?");
      return;
    }
  }
  sb_puts(b, simple_type_name(f->element_type));
  for (size_t d = 0; d < f->ndim; d++) sb_printf(b, "%c%" PRId64, d ? ',' : '[', f->shape[d]);
  sb_puts(b, "] ");
  style st = {0, TENSOR_ITEMS_MAX, TEXT_MAX};
  put_items(b, leaf, i * size, (i + 1) * size, &st);
}

static void put_list(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  const tc_field *f = c->field;
  int64_t lo = 0, hi = -1;
  if (!c->n_children || !f) {
    /* malformed: hi < lo */
  } else if (c->type == TC_TYPE_FIXED_SIZE_LIST && f->ndim > 0 && !st->json && simple_type_name(f->element_type)) {
    put_tensor_human(b, c, i);
    return;
  } else if (c->type == TC_TYPE_FIXED_SIZE_LIST) {
    lo = i * f->list_size;
    hi = lo + f->list_size;
  } else if (row_range(c, i, &lo, &hi)) {
    hi = lo - 1;
  }
  if (hi < lo) put_missing(b, st);
  else put_items(b, &c->children[0], lo, hi, st);
}

static void put_struct(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  sb_putc(b, '{');
  for (size_t k = 0; k < c->n_children; k++) {
    const tc_column *ch = &c->children[k];
    if (st->json) json_key(b, ch->name, k == 0);
    else sb_printf(b, "%s%s: ", k ? ", " : "", ch->name);
    put_value(b, ch, i, st);
  }
  sb_putc(b, '}');
}

static void put_bool(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  size_t byte = (size_t)i / 8;
  if (!c->values || byte >= c->values_size) put_missing(b, st);
  else sb_puts(b, c->values[byte] >> (i % 8) & 1 ? "true" : "false");
}

static void put_value(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  if (!is_valid(c, i)) {
    sb_puts(b, "null");
    return;
  }
  switch (c->type) {
  case TC_TYPE_BOOL: put_bool(b, c, i, st); break;
  case TC_TYPE_UTF8: case TC_TYPE_LARGE_UTF8: case TC_TYPE_BINARY: case TC_TYPE_LARGE_BINARY:
  case TC_TYPE_FIXED_SIZE_BINARY:
    put_binary(b, c, i, st);
    break;
  case TC_TYPE_LIST: case TC_TYPE_LARGE_LIST: case TC_TYPE_FIXED_SIZE_LIST: put_list(b, c, i, st); break;
  case TC_TYPE_STRUCT: put_struct(b, c, i, st); break;
  default:
    if (value_width(c)) put_number(b, c, i, st);
    else put_missing(b, st); /* a type this build does not know */
  }
}

static int is_numeric(int type) {
  return (type >= TC_TYPE_INT8 && type <= TC_TYPE_FLOAT64);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Batches */

static void batch_human(sbuf *out, const tc_batch *b) {
  if (b->num_rows == 0) {
    sb_puts(out, "(no rows)\n");
    return;
  }
  grid g = {.ncols = 1 + b->n_columns, .right_mask = 1};
  grid_addf(&g, "ROW");
  for (size_t c = 0; c < b->n_columns; c++) {
    grid_addf(&g, "%s", b->columns[c].name);
    if (c + 1 < 32 && is_numeric(b->columns[c].type)) g.right_mask |= 1u << (c + 1);
  }
  for (int64_t i = 0; i < b->num_rows; i++) {
    grid_addf(&g, "%" PRId64, tc_row_id(b, i));
    for (size_t c = 0; c < b->n_columns; c++) {
      sbuf cell = {0};
      put_value(&cell, &b->columns[c], i, &kHuman);
      char *s = sb_take(&cell);
      cut_display(s, CELL_MAX);
      grid_add(&g, s);
    }
  }
  grid_print(&g, out);
}

/* {"table":…, "version":…, ["offset":…,] "num_rows":…, "row_ids":[…], "rows":[{column: value, …}]}:
 * row ids are apart from the rows so that no column name can collide with them. */
static void batch_json(sbuf *out, const tc_batch *b, int with_offset) {
  sb_puts(out, "{\"table\":");
  json_cstr(out, b->table);
  sb_puts(out, ",\"version\":");
  json_cstr(out, b->version);
  if (with_offset) sb_printf(out, ",\"offset\":%" PRId64, b->offset);
  sb_printf(out, ",\"num_rows\":%" PRId64 ",\"row_ids\":[", b->num_rows);
  for (int64_t i = 0; i < b->num_rows; i++) sb_printf(out, "%s%" PRId64, i ? "," : "", tc_row_id(b, i));
  sb_puts(out, "],\"rows\":[");
  for (int64_t i = 0; i < b->num_rows; i++) {
    sb_puts(out, i ? ",{" : "{");
    for (size_t c = 0; c < b->n_columns; c++) {
      json_key(out, b->columns[c].name, c == 0);
      put_value(out, &b->columns[c], i, &kJson);
    }
    sb_putc(out, '}');
  }
  sb_puts(out, "]}\n");
}

/* ------------------------------------------------------------------------------------------------------ */
/* Schemas */

static void field_json(sbuf *out, const tc_field *f) {
  sb_puts(out, "{\"name\":");
  json_cstr(out, f->name);
  char *t = type_string(f);
  sb_puts(out, ",\"type\":");
  json_cstr(out, t);
  free(t);
  sb_printf(out, ",\"nullable\":%s", f->nullable ? "true" : "false");
  if (f->dictionary_encoded) sb_puts(out, ",\"dictionary_encoded\":true");
  if (f->ndim) {
    sb_puts(out, ",\"shape\":[");
    for (size_t i = 0; i < f->ndim; i++) sb_printf(out, "%s%" PRId64, i ? "," : "", f->shape[i]);
    sb_puts(out, "],\"element_type\":");
    const char *et = simple_type_name(f->element_type);
    json_cstr(out, et ? et : "");
  }
  sb_puts(out, ",\"metadata\":");
  json_kv_object(out, f->metadata, f->n_metadata);
  if (f->n_children) {
    sb_puts(out, ",\"children\":[");
    for (size_t i = 0; i < f->n_children; i++) {
      if (i) sb_putc(out, ',');
      field_json(out, &f->children[i]);
    }
    sb_putc(out, ']');
  }
  sb_putc(out, '}');
}

/* Metadata for a person: key=value, values escaped (they may hold JSON documents) and cut short. */
static char *metadata_human(const tc_kv *kv, size_t n) {
  sbuf b = {0};
  style st = {0, 0, TEXT_MAX};
  for (size_t i = 0; i < n; i++) {
    sb_printf(&b, "%s%s=", i ? ", " : "", kv[i].key);
    put_text_human(&b, (const uint8_t *)kv[i].value, strlen(kv[i].value), &st);
  }
  char *s = sb_take(&b);
  cut_display(s, 2 * CELL_MAX);
  return s;
}

static void schema_human(sbuf *out, const tc_schema *s) {
  sb_puts(out, "schema:\n");
  grid g = {.ncols = 4, .indent = "  "};
  grid_addf(&g, "FIELD");
  grid_addf(&g, "TYPE");
  grid_addf(&g, "NULLABLE");
  grid_addf(&g, "METADATA");
  for (size_t i = 0; i < s->n_fields; i++) {
    const tc_field *f = &s->fields[i];
    char *t = type_string(f);
    grid_addf(&g, "%s", f->name);
    grid_addf(&g, "%s%s", t, f->dictionary_encoded ? " (dictionary-encoded)" : "");
    grid_addf(&g, "%s", f->nullable ? "yes" : "no");
    grid_add(&g, metadata_human(f->metadata, f->n_metadata));
    free(t);
  }
  grid_print(&g, out);
  if (!s->n_metadata) return;
  sb_puts(out, "schema metadata:\n");
  style st = {0, 0, 2 * CELL_MAX};
  for (size_t i = 0; i < s->n_metadata; i++) {
    sb_printf(out, "  %s: ", s->metadata[i].key);
    put_text_human(out, (const uint8_t *)s->metadata[i].value, strlen(s->metadata[i].value), &st);
    sb_putc(out, '\n');
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Permutations */

static const char *const kSplitKinds[] = {"none", "random", "sequential", "hash"};

static const char *split_kind_name(int k) { return k >= 0 && k <= 3 ? kSplitKinds[k] : "unknown"; }

static void json_f64_array(sbuf *b, const double *v, size_t n) {
  sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) sb_putc(b, ',');
    put_float(b, v[i], 0, &kJson);
  }
  sb_putc(b, ']');
}

static void json_i64_array(sbuf *b, const int64_t *v, size_t n) {
  sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) sb_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
  sb_putc(b, ']');
}

static void spec_json(sbuf *out, const tc_permutation_spec *s) {
  sb_puts(out, "{\"table\":");
  json_cstr(out, s->table);
  if (s->shuffle)
    sb_printf(out, ",\"shuffle\":{\"seed\":%" PRIu64 ",\"clump_size\":%" PRId64 "}", s->shuffle_seed, s->clump_size);
  else sb_puts(out, ",\"shuffle\":null");
  sb_puts(out, ",\"split\":{\"kind\":");
  json_cstr(out, split_kind_name(s->split));
  if (s->split == TC_SPLIT_RANDOM || s->split == TC_SPLIT_SEQUENTIAL) {
    sb_puts(out, ",\"ratios\":");
    json_f64_array(out, s->ratios, s->n_ratios);
    sb_puts(out, ",\"counts\":");
    json_i64_array(out, s->counts, s->n_counts);
    sb_printf(out, ",\"parts\":%" PRId32, s->fixed);
  }
  if (s->split == TC_SPLIT_RANDOM) sb_printf(out, ",\"seed\":%" PRIu64, s->split_seed);
  if (s->split == TC_SPLIT_HASH) {
    sb_puts(out, ",\"columns\":");
    json_str_array(out, s->hash_columns, s->n_hash_columns);
    sb_puts(out, ",\"weights\":");
    json_i64_array(out, s->weights, s->n_weights);
  }
  sb_puts(out, "},\"split_names\":");
  json_str_array(out, s->split_names, s->n_split_names);
  sb_putc(out, '}');
}

static void perm_json(sbuf *out, const tc_permutation_info *p) {
  sb_puts(out, "{\"id\":");
  json_cstr(out, p->id);
  sb_puts(out, ",\"table\":");
  json_cstr(out, p->table);
  sb_puts(out, ",\"table_version\":");
  json_cstr(out, p->table_version);
  sb_printf(out, ",\"num_rows\":%" PRId64 ",\"splits\":[", p->num_rows);
  for (size_t i = 0; i < p->n_splits; i++) {
    sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
    json_cstr(out, p->splits[i].name);
    sb_printf(out, ",\"num_rows\":%" PRId64 "}", p->splits[i].num_rows);
  }
  sb_puts(out, "],\"spec\":");
  spec_json(out, &p->spec);
  sb_puts(out, "}\n");
}

/* "random, ratios 0.8,0.2, seed 7" and the like. */
static void split_human(sbuf *out, const tc_permutation_spec *s) {
  sb_puts(out, split_kind_name(s->split));
  if (s->n_ratios) sb_puts(out, ", ratios ");
  for (size_t i = 0; i < s->n_ratios; i++) {
    if (i) sb_putc(out, ',');
    put_float(out, s->ratios[i], 0, &kHuman);
  }
  if (s->n_counts) sb_puts(out, ", counts ");
  for (size_t i = 0; i < s->n_counts; i++) sb_printf(out, "%s%" PRId64, i ? "," : "", s->counts[i]);
  if (s->fixed) sb_printf(out, ", %" PRId32 " equal parts", s->fixed);
  if (s->split == TC_SPLIT_RANDOM) sb_printf(out, ", seed %" PRIu64, s->split_seed);
  for (size_t i = 0; i < s->n_hash_columns; i++) sb_printf(out, "%s%s", i ? "," : ", columns ", s->hash_columns[i]);
  for (size_t i = 0; i < s->n_weights; i++) sb_printf(out, "%s%" PRId64, i ? "," : ", weights ", s->weights[i]);
}

static void perm_human(sbuf *out, const tc_permutation_info *p) {
  const tc_permutation_spec *s = &p->spec;
  sb_printf(out, "id       %s\ntable    %s (version %s, %" PRId64 " rows)\norder    ", p->id, p->table,
            p->table_version, p->num_rows);
  if (s->shuffle) sb_printf(out, "shuffled, seed %" PRIu64 ", clumps of %" PRId64 "\n", s->shuffle_seed,
                            s->clump_size > 1 ? s->clump_size : 1);
  else sb_puts(out, "table order\n");
  sb_puts(out, "split    ");
  split_human(out, s);
  sb_puts(out, "\nsplits:\n");
  grid g = {.ncols = 2, .right_mask = 2, .indent = "  "};
  grid_addf(&g, "NAME");
  grid_addf(&g, "ROWS");
  for (size_t i = 0; i < p->n_splits; i++) {
    grid_addf(&g, "%s", p->splits[i].name);
    grid_addf(&g, "%" PRId64, p->splits[i].num_rows);
  }
  grid_print(&g, out);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Arguments */

enum opt_id {
  OPT_TARGET, OPT_TIMEOUT, OPT_JSON, OPT_HELP, OPT_VERSION, /* global */
  OPT_COLUMNS,
  OPT_SHUFFLE, OPT_CLUMP, OPT_SPLIT, OPT_RATIOS, OPT_COUNTS, OPT_PARTS, OPT_SPLIT_SEED, OPT_HASH_COLUMNS,
  OPT_WEIGHTS, OPT_NAMES,
  OPT_COUNT
};

/* Which commands take an option. */
enum { FOR_ALL = 1, FOR_COLUMNS = 2, FOR_PERM = 4 };

typedef struct opt_def {
  const char *name;
  int has_value;
  unsigned where;
} opt_def;

static const opt_def kOpts[OPT_COUNT] = {
    [OPT_TARGET] = {"target", 1, FOR_ALL},       [OPT_TIMEOUT] = {"timeout", 1, FOR_ALL},
    [OPT_JSON] = {"json", 0, FOR_ALL},           [OPT_HELP] = {"help", 0, FOR_ALL},
    [OPT_VERSION] = {"version", 0, FOR_ALL},     [OPT_COLUMNS] = {"columns", 1, FOR_COLUMNS},
    [OPT_SHUFFLE] = {"shuffle", 1, FOR_PERM},    [OPT_CLUMP] = {"clump", 1, FOR_PERM},
    [OPT_SPLIT] = {"split", 1, FOR_PERM},        [OPT_RATIOS] = {"ratios", 1, FOR_PERM},
    [OPT_COUNTS] = {"counts", 1, FOR_PERM},      [OPT_PARTS] = {"parts", 1, FOR_PERM},
    [OPT_SPLIT_SEED] = {"split-seed", 1, FOR_PERM}, [OPT_HASH_COLUMNS] = {"hash-columns", 1, FOR_PERM},
    [OPT_WEIGHTS] = {"weights", 1, FOR_PERM},    [OPT_NAMES] = {"names", 1, FOR_PERM},
};

typedef struct cli {
  const char *opt[OPT_COUNT]; /* value, "" for a flag, NULL when absent */
  char **pos;                 /* the arguments that are not options, command words included */
  int npos;
  int json;
} cli;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tablecar: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see tablecar --help)\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

static int find_opt(const char *name, size_t len) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (strlen(kOpts[i].name) == len && !strncmp(kOpts[i].name, name, len)) return i;
  return -1;
}

/* Is a a negative number (an argument, not an option)? */
static int is_negative_number(const char *a) { return a[0] == '-' && a[1] >= '0' && a[1] <= '9'; }

/* One option at argv[*i] (--name, --name=value or --name value). Returns 0 or EXIT_USAGE. */
static int parse_option(cli *a, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  if (!strcmp(arg, "-h")) arg = "--help";
  if (strncmp(arg, "--", 2) != 0) return usage_error("unknown option '%s'", arg);
  const char *name = arg + 2, *eq = strchr(name, '=');
  int id = find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
  if (id < 0) return usage_error("unknown option '%s'", arg);
  const char *value = "";
  if (kOpts[id].has_value) {
    if (eq) value = eq + 1;
    else if (*i + 1 < argc) value = argv[++*i];
    else return usage_error("--%s needs a value", kOpts[id].name);
  } else if (eq) {
    return usage_error("--%s takes no value", kOpts[id].name);
  }
  if (a->opt[id] && id != OPT_HELP && id != OPT_JSON) return usage_error("--%s given twice", kOpts[id].name);
  a->opt[id] = value;
  return 0;
}

/* Options may come before or after the command words; "--" ends them. */
static int parse_args(cli *a, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  a->pos = xrealloc(NULL, (size_t)argc * sizeof *a->pos);
  int only_args = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!only_args && !strcmp(arg, "--")) only_args = 1;
    else if (!only_args && arg[0] == '-' && arg[1] && !is_negative_number(arg)) {
      if (parse_option(a, argc, argv, &i)) return EXIT_USAGE;
    } else a->pos[a->npos++] = argv[i];
  }
  a->json = a->opt[OPT_JSON] != NULL;
  return 0;
}

static int parse_i64(const char *s, const char *what, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return usage_error("%s: '%s' is not an integer", what, s);
  *out = v;
  return 0;
}

static int parse_u64(const char *s, const char *what, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0); /* decimal, or 0x… */
  if (errno || end == s || *end || s[strspn(s, " ")] == '-')
    return usage_error("%s: '%s' is not an unsigned integer", what, s);
  *out = v;
  return 0;
}

static int parse_f64(const char *s, const char *what, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return usage_error("%s: '%s' is not a number", what, s);
  *out = v;
  return 0;
}

/* A comma-separated list, split in place in a copy. */
typedef struct strlist {
  char *buf;
  char **v;
  size_t n;
} strlist;

static void strlist_free(strlist *l) {
  free(l->buf);
  free(l->v);
  *l = (strlist){0};
}

static int split_list(const char *s, const char *what, strlist *l) {
  *l = (strlist){0};
  if (!s) return 0;
  size_t len = strlen(s);
  l->buf = xrealloc(NULL, len + 1);
  memcpy(l->buf, s, len + 1);
  l->v = xrealloc(NULL, (len / 2 + 1) * sizeof *l->v);
  for (char *p = l->buf, *comma;; p = comma + 1) {
    comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      strlist_free(l);
      return usage_error("%s: empty item in '%s'", what, s);
    }
    l->v[l->n++] = p;
    if (!comma) return 0;
  }
}

static int parse_i64_list(const char *s, const char *what, int64_t **out, size_t *n) {
  strlist l;
  *out = NULL;
  *n = 0;
  if (split_list(s, what, &l)) return EXIT_USAGE;
  *out = xrealloc(NULL, (l.n ? l.n : 1) * sizeof **out);
  int rc = 0;
  for (size_t i = 0; i < l.n && !rc; i++) rc = parse_i64(l.v[i], what, &(*out)[i]);
  *n = l.n;
  strlist_free(&l);
  return rc;
}

static int parse_f64_list(const char *s, const char *what, double **out, size_t *n) {
  strlist l;
  *out = NULL;
  *n = 0;
  if (split_list(s, what, &l)) return EXIT_USAGE;
  *out = xrealloc(NULL, (l.n ? l.n : 1) * sizeof **out);
  int rc = 0;
  for (size_t i = 0; i < l.n && !rc; i++) rc = parse_f64(l.v[i], what, &(*out)[i]);
  *n = l.n;
  strlist_free(&l);
  return rc;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Commands */

/* One line for a failed call: "tablecar: NOT_FOUND: no table named 'x'". */
static int call_failed(tc_client *c, int rc) {
  const char *msg = tc_last_error(c);
  if (*msg && strcmp(msg, tc_strerror(rc))) fprintf(stderr, "tablecar: %s: %s\n", tc_strerror(rc), msg);
  else fprintf(stderr, "tablecar: %s\n", tc_strerror(rc));
  return EXIT_FAIL;
}

/* Writes the document; a failed write (a full disk, a closed pipe) is an error too. */
static int emit(sbuf *out) {
  int bad = out->len && fwrite(out->p, 1, out->len, stdout) != out->len;
  free(out->p);
  *out = (sbuf){0};
  if (fflush(stdout) || bad) {
    fprintf(stderr, "tablecar: writing the output: %s\n", strerror(errno));
    return EXIT_FAIL;
  }
  return 0;
}

static int cmd_ls(tc_client *c, const cli *a) {
  tc_table_list *l;
  int rc = tc_list_tables(c, NULL, &l);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) {
    sb_puts(&out, "{\"tables\":[");
    for (size_t i = 0; i < l->n_tables; i++) {
      const tc_table_info *t = &l->tables[i];
      sb_puts(&out, i ? ",{\"name\":" : "{\"name\":");
      json_cstr(&out, t->name);
      sb_printf(&out, ",\"num_rows\":%" PRId64 ",\"num_bytes\":%" PRId64 ",\"version\":", t->num_rows, t->num_bytes);
      json_cstr(&out, t->version);
      sb_putc(&out, '}');
    }
    sb_puts(&out, "]}\n");
  } else {
    grid g = {.ncols = 4, .right_mask = 6};
    grid_addf(&g, "NAME");
    grid_addf(&g, "ROWS");
    grid_addf(&g, "BYTES");
    grid_addf(&g, "VERSION");
    for (size_t i = 0; i < l->n_tables; i++) {
      const tc_table_info *t = &l->tables[i];
      grid_addf(&g, "%s", t->name);
      grid_addf(&g, "%" PRId64, t->num_rows);
      grid_addf(&g, "%" PRId64, t->num_bytes);
      grid_addf(&g, "%s", t->version);
    }
    grid_print(&g, &out);
  }
  tc_table_list_free(l);
  return emit(&out);
}

static void describe_json(sbuf *out, const tc_table_info *t) {
  sb_puts(out, "{\"name\":");
  json_cstr(out, t->name);
  sb_printf(out, ",\"num_rows\":%" PRId64 ",\"num_bytes\":%" PRId64 ",\"version\":", t->num_rows, t->num_bytes);
  json_cstr(out, t->version);
  sb_puts(out, ",\"files\":");
  json_str_array(out, t->files, t->n_files);
  sb_puts(out, ",\"schema\":{\"fields\":[");
  for (size_t i = 0; i < t->schema.n_fields; i++) {
    if (i) sb_putc(out, ',');
    field_json(out, &t->schema.fields[i]);
  }
  sb_puts(out, "],\"metadata\":");
  json_kv_object(out, t->schema.metadata, t->schema.n_metadata);
  sb_puts(out, "}}\n");
}

static void describe_human(sbuf *out, const tc_table_info *t) {
  sb_printf(out, "name     %s\nrows     %" PRId64 "\nbytes    %" PRId64 "\nversion  %s\nfiles    ", t->name,
            t->num_rows, t->num_bytes, t->version);
  for (size_t i = 0; i < t->n_files; i++) sb_printf(out, "%s%s\n", i ? "         " : "", t->files[i]);
  if (!t->n_files) sb_puts(out, "(none)\n");
  schema_human(out, &t->schema);
}

static int cmd_describe(tc_client *c, const cli *a) {
  tc_table_info *t;
  int rc = tc_describe_table(c, a->pos[1], NULL, &t);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) describe_json(&out, t);
  else describe_human(&out, t);
  tc_table_info_free(t);
  return emit(&out);
}

static int print_batch(tc_client *c, int rc, tc_batch *b, const cli *a, int with_offset) {
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) batch_json(&out, b, with_offset);
  else batch_human(&out, b);
  tc_batch_free(b);
  return emit(&out);
}

/* Indices are arguments, each one or a comma-separated list of them. */
static int parse_indices(const cli *a, int first, int64_t **idx, size_t *n) {
  *idx = NULL;
  *n = 0;
  for (int i = first; i < a->npos; i++) {
    int64_t *part;
    size_t k;
    if (parse_i64_list(a->pos[i], "index", &part, &k)) {
      free(part);
      return EXIT_USAGE;
    }
    *idx = xrealloc(*idx, (*n + k) * sizeof **idx);
    memcpy(*idx + *n, part, k * sizeof *part);
    *n += k;
    free(part);
  }
  return 0;
}

static int cmd_take(tc_client *c, const cli *a) {
  strlist cols;
  int64_t *idx;
  size_t n;
  if (parse_indices(a, 2, &idx, &n)) return EXIT_USAGE;
  if (split_list(a->opt[OPT_COLUMNS], "--columns", &cols)) {
    free(idx);
    return EXIT_USAGE;
  }
  tc_take_rows_req req = {.table = a->pos[1], .indices = idx, .n_indices = n,
                          .columns = (const char *const *)cols.v, .n_columns = cols.n};
  tc_batch *b;
  int rc = tc_take_rows(c, &req, NULL, &b);
  free(idx);
  strlist_free(&cols);
  return print_batch(c, rc, b, a, 0);
}

static int cmd_read(tc_client *c, const cli *a) {
  tc_read_batch_req req = {.permutation = a->pos[1], .split = a->pos[2]};
  if (parse_i64(a->pos[3], "OFFSET", &req.offset) || parse_i64(a->pos[4], "N", &req.batch_size))
    return EXIT_USAGE;
  strlist cols;
  if (split_list(a->opt[OPT_COLUMNS], "--columns", &cols)) return EXIT_USAGE;
  req.columns = (const char *const *)cols.v;
  req.n_columns = cols.n;
  tc_batch *b;
  int rc = tc_read_batch(c, &req, NULL, &b);
  strlist_free(&cols);
  return print_batch(c, rc, b, a, 1);
}

static int print_perm(tc_client *c, int rc, tc_permutation_info *p, const cli *a) {
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) perm_json(&out, p);
  else perm_human(&out, p);
  tc_permutation_info_free(p);
  return emit(&out);
}

/* The arrays a spec points to, owned here. */
typedef struct spec_args {
  tc_permutation_spec spec;
  double *ratios;
  int64_t *counts, *weights;
  strlist hash_columns, names;
} spec_args;

static void spec_args_free(spec_args *s) {
  free(s->ratios);
  free(s->counts);
  free(s->weights);
  strlist_free(&s->hash_columns);
  strlist_free(&s->names);
}

static int parse_split_kind(const cli *a, int *kind) {
  const char *k = a->opt[OPT_SPLIT];
  int sizes = a->opt[OPT_RATIOS] || a->opt[OPT_COUNTS] || a->opt[OPT_PARTS];
  int hash = a->opt[OPT_HASH_COLUMNS] || a->opt[OPT_WEIGHTS];
  *kind = !k ? TC_SPLIT_NONE : !strcmp(k, "random") ? TC_SPLIT_RANDOM : !strcmp(k, "sequential") ? TC_SPLIT_SEQUENTIAL
          : !strcmp(k, "hash") ? TC_SPLIT_HASH : -1;
  if (*kind < 0) return usage_error("--split: '%s' is not random, sequential or hash", k);
  if (*kind == TC_SPLIT_NONE && (sizes || hash || a->opt[OPT_SPLIT_SEED]))
    return usage_error("say which split: --split random, sequential or hash");
  if (*kind == TC_SPLIT_HASH && (sizes || !a->opt[OPT_HASH_COLUMNS] || !a->opt[OPT_WEIGHTS]))
    return usage_error("--split hash takes --hash-columns and --weights");
  if (*kind != TC_SPLIT_HASH && *kind != TC_SPLIT_NONE && (hash || !sizes))
    return usage_error("--split %s takes one of --ratios, --counts or --parts", k);
  if (*kind != TC_SPLIT_RANDOM && a->opt[OPT_SPLIT_SEED]) return usage_error("--split-seed is for --split random");
  if (!!a->opt[OPT_RATIOS] + !!a->opt[OPT_COUNTS] + !!a->opt[OPT_PARTS] > 1)
    return usage_error("give one of --ratios, --counts or --parts");
  return 0;
}

static int parse_sizes(const cli *a, spec_args *s) {
  tc_permutation_spec *p = &s->spec;
  int64_t parts = 0;
  if (parse_f64_list(a->opt[OPT_RATIOS], "--ratios", &s->ratios, &p->n_ratios) ||
      parse_i64_list(a->opt[OPT_COUNTS], "--counts", &s->counts, &p->n_counts) ||
      parse_i64_list(a->opt[OPT_WEIGHTS], "--weights", &s->weights, &p->n_weights) ||
      (a->opt[OPT_PARTS] && parse_i64(a->opt[OPT_PARTS], "--parts", &parts)) ||
      (a->opt[OPT_SPLIT_SEED] && parse_u64(a->opt[OPT_SPLIT_SEED], "--split-seed", &p->split_seed)))
    return EXIT_USAGE;
  if (a->opt[OPT_PARTS] && (parts < 1 || parts > INT32_MAX)) return usage_error("--parts: '%s' is not 1 or more", a->opt[OPT_PARTS]);
  p->fixed = (int32_t)parts;
  p->ratios = s->ratios;
  p->counts = s->counts;
  p->weights = s->weights;
  return 0;
}

static int build_spec(const cli *a, spec_args *s) {
  tc_permutation_spec *p = &s->spec;
  p->table = a->pos[2];
  if (a->opt[OPT_CLUMP] && !a->opt[OPT_SHUFFLE]) return usage_error("--clump needs --shuffle SEED");
  p->shuffle = a->opt[OPT_SHUFFLE] != NULL;
  if ((p->shuffle && parse_u64(a->opt[OPT_SHUFFLE], "--shuffle", &p->shuffle_seed)) ||
      (a->opt[OPT_CLUMP] && parse_i64(a->opt[OPT_CLUMP], "--clump", &p->clump_size)) ||
      parse_split_kind(a, &p->split) || parse_sizes(a, s) ||
      split_list(a->opt[OPT_HASH_COLUMNS], "--hash-columns", &s->hash_columns) ||
      split_list(a->opt[OPT_NAMES], "--names", &s->names))
    return EXIT_USAGE;
  p->hash_columns = (const char *const *)s->hash_columns.v;
  p->n_hash_columns = s->hash_columns.n;
  p->split_names = (const char *const *)s->names.v;
  p->n_split_names = s->names.n;
  return 0;
}

static int cmd_perm_create(tc_client *c, const cli *a) {
  spec_args s = {0};
  int rc = build_spec(a, &s);
  if (rc) {
    spec_args_free(&s);
    return rc;
  }
  tc_permutation_info *p;
  rc = tc_create_permutation(c, &s.spec, NULL, &p);
  spec_args_free(&s);
  return print_perm(c, rc, p, a);
}

static int cmd_perm_describe(tc_client *c, const cli *a) {
  tc_permutation_info *p;
  int rc = tc_describe_permutation(c, a->pos[2], NULL, &p);
  return print_perm(c, rc, p, a);
}

static const char *health_name(int st) {
  static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  return st >= 0 && st <= 3 ? names[st] : "UNKNOWN";
}

/* A probe (a container's HEALTHCHECK): no retries, so a sidecar that is down fails at once. */
static int cmd_health(tc_client *c, const cli *a) {
  const char *service = a->npos > 1 ? a->pos[1] : "";
  int st;
  int rc = tc_health_check(c, service, &(tc_call_opts){.no_retry = 1}, &st);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) {
    sb_puts(&out, "{\"service\":");
    json_cstr(&out, service);
    sb_printf(&out, ",\"status\":\"%s\"}\n", health_name(st));
  } else {
    sb_printf(&out, "%s\n", health_name(st));
  }
  rc = emit(&out);
  return rc ? rc : st == TC_HEALTH_SERVING ? 0 : EXIT_FAIL;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Command table and help */

static const char kHelp[] =
    "usage: tablecar [--target T] [--timeout SECONDS] [--json] COMMAND ...\n"
    "The command-line client of the tablecar sidecar (tablecar-server).\n"
    "\n"
    "commands:\n"
    "  ls                          tables: name, rows, bytes, version\n"
    "  describe TABLE              rows, version, files and schema of a table\n"
    "  take TABLE INDEX...         rows by global index (indices: arguments or lists like 1,5,9)\n"
    "  perm create TABLE ...       create a permutation (shuffle, splits); prints its id and splits\n"
    "  perm describe ID            a permutation's table, splits and spec\n"
    "  read ID SPLIT OFFSET N      rows [OFFSET, OFFSET+N) of a split (by name, or index) of a permutation\n"
    "  health [SERVICE]            SERVING, NOT_SERVING...; exit 0 only when SERVING (for a HEALTHCHECK)\n"
    "  help [COMMAND]              this text, or a command's\n"
    "\n"
    "options (anywhere on the line):\n"
    "  --target T        unix:PATH, unix-abstract:NAME or HOST:PORT\n"
    "                    (default: $TABLECAR_TARGET, else " DEFAULT_TARGET ")\n"
    "  --timeout S       deadline of the call in seconds (default 10); while the sidecar is down or\n"
    "                    restarting, the call is retried until then (health: never retried)\n"
    "  --json            print one JSON document (see below) instead of text for a person\n"
    "  --help, --version\n"
    "\n"
    "Text output is for a person: values are cut short (strings, lists; a fixed-shape tensor shows as\n"
    "its type and shape plus its first values, e.g. uint8[3,8,8] [0, 31, …]), null is null.\n"
    "JSON output is complete: one object per command, rows as objects {column: value} with the row ids\n"
    "in a separate \"row_ids\" array; integers (int64, uint64) as JSON numbers, exactly; floats as the\n"
    "shortest decimal that reads back exactly, NaN and infinities as the strings \"NaN\", \"Infinity\",\n"
    "\"-Infinity\"; strings as JSON strings (invalid UTF-8 as U+FFFD); binary values as base64 strings;\n"
    "dates and timestamps as their stored integers (days, ms, or the unit of the schema); lists as\n"
    "arrays (nested for fixed-size lists); structs as objects.\n"
    "\n"
    "exit status: 0 ok, 1 the call failed (one line on stderr: \"tablecar: STATUS: message\") or health is\n"
    "not SERVING, 2 bad usage.\n";

static const char kHelpPermCreate[] =
    "usage: tablecar perm create TABLE [--shuffle SEED [--clump N]] [SPLIT] [--names A,B,...]\n"
    "Creates (or finds: the same table version and spec give the same id) a permutation of TABLE.\n"
    "\n"
    "order:\n"
    "  --shuffle SEED      shuffle the rows with this seed (unsigned 64-bit; default: table order)\n"
    "  --clump N           shuffle runs of N consecutive rows instead of single rows (read locality)\n"
    "SPLIT, at most one (default: one split \"0\" of every row):\n"
    "  --split random     --ratios R,R,...|--counts N,N,...|--parts N  [--split-seed S]\n"
    "  --split sequential --ratios R,R,...|--counts N,N,...|--parts N\n"
    "  --split hash       --hash-columns A,B,... --weights W,W,...\n"
    "      ratios are fractions summing to at most 1 (e.g. 0.8,0.1,0.1), counts are rows, --parts N makes\n"
    "      N equal parts; rows left over belong to no split. A hash split puts a row in a split by a hash\n"
    "      of its values in the columns, weighted: it keeps its split when rows are appended.\n"
    "  --names A,B,...     the splits' names (default 0, 1, ...)\n"
    "\n"
    "example: tablecar perm create squad/train --shuffle 42 --split random --ratios 0.9,0.1 --names train,val\n";

typedef int (*cmd_fn)(tc_client *, const cli *);

typedef struct command {
  const char *name, *sub; /* "perm" "create"; sub NULL for one word */
  cmd_fn run;
  int min_args, max_args; /* after the command words; -1: any number */
  unsigned opts;          /* FOR_* besides FOR_ALL */
  const char *usage;
} command;

static const command kCommands[] = {
    {"ls", NULL, cmd_ls, 0, 0, 0, "usage: tablecar ls\nLists the tables: name, rows, bytes on disk, version.\n"},
    {"describe", NULL, cmd_describe, 1, 1, 0,
     "usage: tablecar describe TABLE\nA table's rows, bytes, version, files and schema (types spelled like Arrow's,\n"
     "e.g. fixed_size_list<uint8>[3,8,8] for a chain of fixed-size lists of shape [3,8,8]).\n"},
    {"take", NULL, cmd_take, 2, -1, FOR_COLUMNS,
     "usage: tablecar take TABLE INDEX... [--columns A,B,...]\nRows by global index (0 .. rows-1), in the order "
     "given; indices are arguments or comma-separated\nlists. --columns: only these columns.\n"},
    {"perm", "create", cmd_perm_create, 1, 1, FOR_PERM, kHelpPermCreate},
    {"perm", "describe", cmd_perm_describe, 1, 1, 0,
     "usage: tablecar perm describe ID\nA permutation's table, splits (names, rows) and spec.\n"},
    {"read", NULL, cmd_read, 4, 4, FOR_COLUMNS,
     "usage: tablecar read ID SPLIT OFFSET N [--columns A,B,...]\nRows [OFFSET, OFFSET+N) of split SPLIT (a name, "
     "or an index in decimal) of permutation ID\n(fewer at the end of the split). --columns: only these columns.\n"},
    {"health", NULL, cmd_health, 0, 1, 0,
     "usage: tablecar health [SERVICE]\ngrpc.health.v1 Check of the server (or of SERVICE, e.g. "
     "tablecar.v1.Tablecar): prints SERVING,\nNOT_SERVING...; exits 0 only when SERVING. Not retried: use it as a "
     "container HEALTHCHECK.\n"},
};

/* The command named by the first words of pos; NULL if none. *words: how many words it took. */
static const command *find_command(const cli *a, int *words) {
  for (size_t i = 0; i < sizeof kCommands / sizeof *kCommands; i++) {
    const command *c = &kCommands[i];
    if (a->npos < 1 || strcmp(a->pos[0], c->name)) continue;
    if (!c->sub) return *words = 1, c;
    if (a->npos >= 2 && !strcmp(a->pos[1], c->sub)) return *words = 2, c;
  }
  return NULL;
}

static int check_command(const cli *a, const command *c, int words) {
  int nargs = a->npos - words;
  const char *name = c->sub ? "perm " : "";
  if (nargs < c->min_args || (c->max_args >= 0 && nargs > c->max_args))
    return usage_error("wrong number of arguments to '%s%s'", name, c->sub ? c->sub : c->name);
  for (int i = 0; i < OPT_COUNT; i++)
    if (a->opt[i] && kOpts[i].where != FOR_ALL && !(kOpts[i].where & c->opts))
      return usage_error("--%s is not an option of '%s%s'", kOpts[i].name, name, c->sub ? c->sub : c->name);
  return 0;
}

/* help, help COMMAND, COMMAND --help. */
static int help(const cli *a) {
  cli sub = *a;
  if (a->npos && !strcmp(a->pos[0], "help")) sub.pos++, sub.npos--;
  int words;
  const command *c = find_command(&sub, &words);
  if (sub.npos && !c && strcmp(sub.pos[0], "perm")) return usage_error("unknown command '%s'", sub.pos[0]);
  fputs(c ? c->usage : kHelp, stdout);
  return 0;
}

static int make_client(const cli *a, tc_client **c) {
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = DEFAULT_TIMEOUT_MS;
  if (a->opt[OPT_TIMEOUT]) {
    double s = 0;
    if (parse_f64(a->opt[OPT_TIMEOUT], "--timeout", &s)) return EXIT_USAGE;
    if (s <= 0 || s > 1e9) return usage_error("--timeout: '%s' is not a positive number of seconds", a->opt[OPT_TIMEOUT]);
    o.timeout_ms = (int64_t)ceil(s * 1000);
  }
  const char *target = a->opt[OPT_TARGET];
  if (!target) target = getenv("TABLECAR_TARGET");
  if (!target || !*target) target = DEFAULT_TARGET;
  int rc = tc_client_new(target, &o, c);
  if (rc == TC_EINVAL) return usage_error("bad target '%s'", target);
  if (rc) return fprintf(stderr, "tablecar: %s\n", tc_strerror(rc)), EXIT_FAIL;
  return 0;
}

static int run(const cli *a) {
  if (a->opt[OPT_VERSION]) {
    printf("tablecar %d.%d.%d\n", TC_VERSION_MAJOR, TC_VERSION_MINOR, TC_VERSION_PATCH);
    return 0;
  }
  if (a->opt[OPT_HELP] || !a->npos || !strcmp(a->pos[0], "help")) return help(a);
  int words;
  const command *cmd = find_command(a, &words);
  if (!cmd && !strcmp(a->pos[0], "perm")) return usage_error("perm takes create or describe");
  if (!cmd) return usage_error("unknown command '%s'", a->pos[0]);
  int rc = check_command(a, cmd, words);
  tc_client *c = NULL;
  if (!rc) rc = make_client(a, &c);
  if (!rc) rc = cmd->run(c, a);
  tc_client_free(c);
  return rc;
}

int main(int argc, char **argv) {
  cli a;
  int rc = parse_args(&a, argc, argv);
  if (!rc) rc = run(&a);
  free(a.pos);
  return rc;
}
