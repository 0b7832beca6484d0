/* tablecar CLI: types spelled as Arrow does, and cell values (every read of a batch's buffers is
 * bounds-checked). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Types, spelled as Arrow does (with the element type first in fixed-size-list chains, and the shape) */

/* A type spelled by its name alone (the types without parameters), or NULL. Dates carry their unit, as
 * Arrow prints them. */
const char *cli_simple_type_name(int type) {
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
  const char *simple = cli_simple_type_name(f->type);
  if (simple) {
    cli_sb_puts(b, simple);
    return;
  }
  switch (f->type) {
  case TC_TYPE_FIXED_SIZE_BINARY: cli_sb_printf(b, "fixed_size_binary[%" PRId32 "]", f->byte_width); return;
  case TC_TYPE_TIMESTAMP:
    cli_sb_printf(b, "timestamp[%s%s%s]", f->unit >= 0 && f->unit < 4 ? kUnits[f->unit] : "?", *f->timezone ? ", " : "",
                  f->timezone);
    return;
  case TC_TYPE_LIST:
  case TC_TYPE_LARGE_LIST:
    cli_sb_puts(b, f->type == TC_TYPE_LIST ? "list<" : "large_list<");
    if (f->n_children) spell_type(b, &f->children[0]);
    cli_sb_putc(b, '>');
    return;
  case TC_TYPE_FIXED_SIZE_LIST:
    cli_sb_puts(b, "fixed_size_list<");
    if (f->ndim > 0 && cli_simple_type_name(f->element_type)) { /* a chain: the leaf type and the whole shape */
      cli_sb_puts(b, cli_simple_type_name(f->element_type));
      cli_sb_putc(b, '>');
      for (size_t i = 0; i < f->ndim; i++) cli_sb_printf(b, "%c%" PRId64, i ? ',' : '[', f->shape[i]);
      cli_sb_putc(b, ']');
      return;
    }
    if (f->n_children) spell_type(b, &f->children[0]);
    cli_sb_printf(b, ">[%" PRId32 "]", f->list_size);
    return;
  case TC_TYPE_STRUCT:
    cli_sb_puts(b, "struct<");
    for (size_t i = 0; i < f->n_children; i++) {
      cli_sb_printf(b, "%s%s: ", i ? ", " : "", f->children[i].name);
      spell_type(b, &f->children[i]);
    }
    cli_sb_putc(b, '>');
    return;
  default: cli_sb_printf(b, "unknown(%d)", f->type); return;
  }
}

char *cli_type_string(const tc_field *f) {
  sbuf b = {0};
  spell_type(&b, f);
  return cli_sb_take(&b);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Cell values. A batch's buffers come from the network: every read is bounds-checked. */

const style cli_style_json = {1, SIZE_MAX, SIZE_MAX};
const style cli_style_human = {0, ITEMS_MAX, TEXT_MAX};

/* A value the batch's buffers do not hold (a malformed batch). */
static void put_missing(sbuf *b, const style *st) { cli_sb_puts(b, st->json ? "null" : "?"); }

/* Without a bitmap a value is valid, unless the array is all null (a null-type array has no buffers). */
static int is_valid(const tc_column *c, int64_t i) {
  if (!c->validity) return c->null_count == 0;
  if (c->null_count == 0) return 1;
  size_t byte = (size_t)i / 8;
  return byte >= c->validity_size || (c->validity[byte] >> (i % 8) & 1);
}

/* Bytes per value of a fixed-width type; 0 for the others (and for bool, which is bit-packed). */
static size_t value_width(const tc_column *c) {
  if (c->type == TC_TYPE_FIXED_SIZE_BINARY)
    return c->field && c->field->byte_width > 0 ? (size_t)c->field->byte_width : 0;
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
void cli_put_float(sbuf *b, double v, int is_f32, const style *st) {
  if (!isfinite(v)) { /* JSON has no NaN or infinities: strings, as protobuf's JSON mapping does */
    const char *s = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
    cli_sb_printf(b, st->json ? "\"%s\"" : "%s", s);
    return;
  }
  char tmp[40];
  for (int prec = is_f32 ? 6 : 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (is_f32 ? (double)strtof(tmp, NULL) == v : strtod(tmp, NULL) == v) break;
  }
  cli_sb_puts(b, tmp);
}

/* Seconds since the epoch as ISO 8601, with `frac_digits` digits of `frac`. */
static void put_iso_time(sbuf *b, int64_t secs, int64_t frac, int frac_digits, int date_only, int utc) {
  time_t t = (time_t)secs;
  struct tm tm;
  char tmp[64];
  if (!gmtime_r(&t, &tm) || !strftime(tmp, sizeof tmp, date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S", &tm)) {
    cli_sb_printf(b, "%" PRId64, secs);
    return;
  }
  cli_sb_puts(b, tmp);
  if (!date_only && frac_digits) cli_sb_printf(b, ".%0*" PRId64, frac_digits, frac);
  if (!date_only && utc) cli_sb_putc(b, 'Z');
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
  case TC_TYPE_UINT8:
  case TC_TYPE_UINT16:
  case TC_TYPE_UINT32:
  case TC_TYPE_UINT64: cli_sb_printf(b, "%" PRIu64, v); return;
  case TC_TYPE_FLOAT16: cli_put_float(b, half_to_double((uint16_t)v), 1, st); return;
  case TC_TYPE_FLOAT32: {
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, 4);
    cli_put_float(b, f, 1, st);
    return;
  }
  case TC_TYPE_FLOAT64: {
    double d;
    memcpy(&d, &v, 8);
    cli_put_float(b, d, 0, st);
    return;
  }
  case TC_TYPE_DATE32:
  case TC_TYPE_DATE64:
  case TC_TYPE_TIMESTAMP:
    if (!st->json) {
      put_time(b, c, sign_extend(v, w));
      return;
    }
    break; /* JSON: the stored integer, exactly; the unit is in the schema */
  default: break;
  }
  cli_sb_printf(b, "%" PRId64, sign_extend(v, w));
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
void cli_put_text_human(sbuf *b, const uint8_t *p, size_t n, const style *st) {
  cli_sb_putc(b, '"');
  size_t i = 0;
  while (i < n && i < st->max_text) {
    size_t len = cli_utf8_seq(p + i, n - i);
    uint8_t c = p[i];
    if (c == '"' || c == '\\')
      cli_sb_printf(b, "\\%c", c);
    else if (c == '\n')
      cli_sb_puts(b, "\\n");
    else if (c == '\t')
      cli_sb_puts(b, "\\t");
    else if (c < 0x20 || c == 0x7f || len == 0)
      cli_sb_printf(b, "\\x%02x", c);
    else
      cli_sb_putn(b, (const char *)p + i, len);
    i += len ? len : 1;
  }
  cli_sb_puts(b, i < n ? "\xe2\x80\xa6\"" : "\"");
}

/* Readable bytes: b"..." with printable ASCII as is, the rest as \xNN. */
static void put_bytes_human(sbuf *b, const uint8_t *p, size_t n, const style *st) {
  cli_sb_puts(b, "b\"");
  size_t i = 0;
  for (; i < n && i < st->max_text; i++) {
    if (p[i] == '"' || p[i] == '\\')
      cli_sb_printf(b, "\\%c", p[i]);
    else if (p[i] >= 0x20 && p[i] < 0x7f)
      cli_sb_putc(b, (char)p[i]);
    else
      cli_sb_printf(b, "\\x%02x", p[i]);
  }
  cli_sb_puts(b, i < n ? "\xe2\x80\xa6\"" : "\"");
}

static void put_binary(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  int64_t lo, hi;
  size_t w = value_width(c);
  if (c->type == TC_TYPE_FIXED_SIZE_BINARY)
    lo = i * (int64_t)w, hi = lo + (int64_t)w;
  else if (row_range(c, i, &lo, &hi))
    lo = hi = -1;
  if (lo < 0 || !c->values || (uint64_t)hi > c->values_size) {
    put_missing(b, st);
    return;
  }
  const uint8_t *p = c->values + lo;
  size_t n = (size_t)(hi - lo);
  int text = c->type == TC_TYPE_UTF8 || c->type == TC_TYPE_LARGE_UTF8;
  if (st->json && text) {
    cli_json_str(b, (const char *)p, n);
  } else if (st->json) { /* JSON has no bytes: cli_base64, as protobuf's JSON mapping does */
    cli_sb_putc(b, '"');
    cli_base64(b, p, n);
    cli_sb_putc(b, '"');
  } else if (text) {
    cli_put_text_human(b, p, n, st);
  } else {
    put_bytes_human(b, p, n, st);
  }
}

/* Items [lo, hi) of a list's child column, as a JSON array or a readable [a, b, …]. */
static void put_items(sbuf *b, const tc_column *child, int64_t lo, int64_t hi, const style *st) {
  cli_sb_putc(b, '[');
  for (int64_t k = lo; k < hi; k++) {
    if (k > lo) cli_sb_puts(b, st->json ? "," : ", ");
    if ((size_t)(k - lo) >= st->max_items) {
      cli_sb_puts(b, "\xe2\x80\xa6");
      break;
    }
    cli_put_value(b, child, k, st);
  }
  cli_sb_putc(b, ']');
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
      cli_sb_puts(b, "?");
      return;
    }
  }
  cli_sb_puts(b, cli_simple_type_name(f->element_type));
  for (size_t d = 0; d < f->ndim; d++) cli_sb_printf(b, "%c%" PRId64, d ? ',' : '[', f->shape[d]);
  cli_sb_puts(b, "] ");
  style st = {0, TENSOR_ITEMS_MAX, TEXT_MAX};
  put_items(b, leaf, i * size, (i + 1) * size, &st);
}

static void put_list(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  const tc_field *f = c->field;
  int64_t lo = 0, hi = -1;
  if (!c->n_children || !f) {
    /* malformed: hi < lo */
  } else if (c->type == TC_TYPE_FIXED_SIZE_LIST && f->ndim > 0 && !st->json && cli_simple_type_name(f->element_type)) {
    put_tensor_human(b, c, i);
    return;
  } else if (c->type == TC_TYPE_FIXED_SIZE_LIST) {
    lo = i * f->list_size;
    hi = lo + f->list_size;
  } else if (row_range(c, i, &lo, &hi)) {
    hi = lo - 1;
  }
  if (hi < lo)
    put_missing(b, st);
  else
    put_items(b, &c->children[0], lo, hi, st);
}

static void put_struct(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  cli_sb_putc(b, '{');
  for (size_t k = 0; k < c->n_children; k++) {
    const tc_column *ch = &c->children[k];
    if (st->json)
      cli_json_key(b, ch->name, k == 0);
    else
      cli_sb_printf(b, "%s%s: ", k ? ", " : "", ch->name);
    cli_put_value(b, ch, i, st);
  }
  cli_sb_putc(b, '}');
}

static void put_bool(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  size_t byte = (size_t)i / 8;
  if (!c->values || byte >= c->values_size)
    put_missing(b, st);
  else
    cli_sb_puts(b, c->values[byte] >> (i % 8) & 1 ? "true" : "false");
}

void cli_put_value(sbuf *b, const tc_column *c, int64_t i, const style *st) {
  if (!is_valid(c, i)) {
    cli_sb_puts(b, "null");
    return;
  }
  switch (c->type) {
  case TC_TYPE_BOOL: put_bool(b, c, i, st); break;
  case TC_TYPE_UTF8:
  case TC_TYPE_LARGE_UTF8:
  case TC_TYPE_BINARY:
  case TC_TYPE_LARGE_BINARY:
  case TC_TYPE_FIXED_SIZE_BINARY: put_binary(b, c, i, st); break;
  case TC_TYPE_LIST:
  case TC_TYPE_LARGE_LIST:
  case TC_TYPE_FIXED_SIZE_LIST: put_list(b, c, i, st); break;
  case TC_TYPE_STRUCT: put_struct(b, c, i, st); break;
  default:
    if (value_width(c))
      put_number(b, c, i, st);
    else
      put_missing(b, st); /* a type this build does not know */
  }
}

int cli_is_numeric(int type) { return (type >= TC_TYPE_INT8 && type <= TC_TYPE_FLOAT64); }
