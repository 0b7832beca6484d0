/* tablecar CLI: memory and strings, UTF-8 display width, JSON strings, aligned text tables. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Memory and strings. A CLI has nothing to save when memory runs out: it says so and exits. */

static void die_oom(void) {
  fputs("tablecar: out of memory\n", stderr);
  exit(EXIT_FAIL);
}

void *cli_xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die_oom();
  return p;
}

void cli_sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = cli_xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void cli_sb_puts(sbuf *b, const char *s) { cli_sb_putn(b, s, strlen(s)); }
void cli_sb_putc(sbuf *b, char c) { cli_sb_putn(b, &c, 1); }

__attribute__((format(printf, 2, 3))) void cli_sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    cli_sb_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = cli_xrealloc(NULL, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  cli_sb_putn(b, big, (size_t)n);
  free(big);
}

/* Takes the buffer's string (the caller frees it) and empties the buffer. */
char *cli_sb_take(sbuf *b) {
  char *s = b->p ? b->p : cli_xrealloc(NULL, 1);
  if (!b->p) s[0] = '\0';
  *b = (sbuf){0};
  return s;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one. */
size_t cli_utf8_seq(const uint8_t *p, size_t n) {
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
void cli_cut_display(char *s, size_t max) {
  if (max == 0 || display_width(s) <= max) return;
  char *end = s + strlen(s), *p = s;
  for (size_t w = 0; *p; p++) /* p: where code point max - 1 starts (there are at least two from it) */
    if (((uint8_t)*p & 0xc0) != 0x80 && w++ == max - 1) break;
  while (end - p < 3 && p > s) /* give up whole code points until the ellipsis fits */
    do p--;
    while (p > s && ((uint8_t)*p & 0xc0) == 0x80);
  if (end - p >= 3) memcpy(p, "\xe2\x80\xa6", 4);
}

/* ------------------------------------------------------------------------------------------------------ */
/* JSON */

void cli_json_str(sbuf *b, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  cli_sb_putc(b, '"');
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    size_t len = cli_utf8_seq(p + i, n - i);
    if (c == '"' || c == '\\')
      cli_sb_printf(b, "\\%c", c);
    else if (c == '\n')
      cli_sb_puts(b, "\\n");
    else if (c == '\t')
      cli_sb_puts(b, "\\t");
    else if (c == '\r')
      cli_sb_puts(b, "\\r");
    else if (c < 0x20)
      cli_sb_printf(b, "\\u%04x", c);
    else if (len == 0)
      cli_sb_puts(b, "\\ufffd"); /* JSON text must be UTF-8: a bad byte becomes U+FFFD */
    else
      cli_sb_putn(b, s + i, len);
    i += len ? len : 1;
  }
  cli_sb_putc(b, '"');
}

void cli_json_cstr(sbuf *b, const char *s) { cli_json_str(b, s, strlen(s)); }

/* `"key":` after a comma unless first. */
void cli_json_key(sbuf *b, const char *key, int first) {
  if (!first) cli_sb_putc(b, ',');
  cli_json_cstr(b, key);
  cli_sb_putc(b, ':');
}

void cli_json_kv_object(sbuf *b, const tc_kv *kv, size_t n) {
  cli_sb_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    cli_json_key(b, kv[i].key, i == 0);
    cli_json_cstr(b, kv[i].value);
  }
  cli_sb_putc(b, '}');
}

void cli_json_str_array(sbuf *b, const char *const *v, size_t n) {
  cli_sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) cli_sb_putc(b, ',');
    cli_json_cstr(b, v[i]);
  }
  cli_sb_putc(b, ']');
}

void cli_base64(sbuf *b, const uint8_t *p, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=',
                 i + 2 < n ? abc[v & 63] : '='};
    cli_sb_putn(b, q, 4);
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Aligned text tables */

void cli_grid_add(grid *g, char *owned) {
  g->cells = cli_xrealloc(g->cells, (g->n + 1) * sizeof *g->cells);
  g->cells[g->n++] = owned;
}

void cli_grid_addf(grid *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  if (!s) die_oom();
  cli_grid_add(g, s);
}

void cli_grid_print(grid *g, sbuf *out) {
  size_t *w = cli_xrealloc(NULL, g->ncols * sizeof *w);
  for (size_t c = 0; c < g->ncols; c++) w[c] = 0;
  for (size_t i = 0; i < g->n; i++) {
    size_t dw = display_width(g->cells[i]);
    if (dw > w[i % g->ncols]) w[i % g->ncols] = dw;
  }
  for (size_t i = 0; i < g->n; i++) {
    size_t c = i % g->ncols, pad = w[c] - display_width(g->cells[i]);
    int right = c < 32 && (g->right_mask >> c & 1), last = c + 1 == g->ncols || i + 1 == g->n;
    if (c == 0 && g->indent) cli_sb_puts(out, g->indent);
    for (size_t k = 0; right && k < pad; k++) cli_sb_putc(out, ' ');
    cli_sb_puts(out, g->cells[i]);
    for (size_t k = 0; !right && !last && k < pad; k++) cli_sb_putc(out, ' ');
    if (!last) {
      cli_sb_puts(out, "  ");
      continue;
    }
    while (out->len && out->p[out->len - 1] == ' ') out->p[--out->len] = '\0'; /* empty last cells */
    cli_sb_putc(out, '\n');
  }
  free(w);
  for (size_t i = 0; i < g->n; i++) free(g->cells[i]);
  free(g->cells);
  *g = (grid){0};
}
