/* log.c: see log.h. Each line is formatted in a local buffer and written with one write(2), so lines from
 * several threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ts_log_level min_level = TS_INFO; /* written once, before threads start */

static const char *level_names[] = {"debug", "info", "warn", "error"};

int ts_log_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  if (strcmp(s, "warning") == 0) return TS_WARN;
  return -1;
}

void ts_log_set_level(ts_log_level level) { min_level = level; }

int ts_log_enabled(ts_log_level level) { return level >= min_level; }

typedef struct line {
  char buf[4096];
  size_t len;
} line;

static void put(line *l, const char *s, size_t n) {
  if (n > sizeof l->buf - 2 - l->len) n = sizeof l->buf - 2 - l->len;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

/* A JSON string, escaped. */
static void put_json(line *l, const char *s) {
  put(l, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      put(l, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(l, esc, 6);
    } else {
      put(l, (const char *)&c, 1);
    }
  }
  put(l, "\"", 1);
}

void ts_log(ts_log_level level, const char *event, ...) {
  if (!ts_log_enabled(level)) return;
  line l = {.len = 0};
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char head[96];
  int n =
      snprintf(head, sizeof head,
               "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"event\":", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
  put(&l, head, (size_t)n);
  put_json(&l, event);
  va_list ap;
  va_start(ap, event);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) {
    int kind = va_arg(ap, int);
    put(&l, ",", 1);
    put_json(&l, key);
    put(&l, ":", 1);
    if (kind == 'i') {
      char num[32];
      put(&l, num, (size_t)snprintf(num, sizeof num, "%lld", va_arg(ap, long long)));
    } else {
      const char *v = va_arg(ap, const char *);
      put_json(&l, v ? v : "");
    }
  }
  va_end(ap);
  put(&l, "}\n", 2);
  ssize_t w = write(STDERR_FILENO, l.buf, l.len);
  (void)w;
}
