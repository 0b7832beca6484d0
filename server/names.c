/* names.c: see names.h. */
#include "names.h"

#include <string.h>

int ts_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t n;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if (len - i <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    i += n + 1;
  }
  return 1;
}

ts_status ts_name_check_plain(const char *what, const char *name, ts_error *err) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "%s name is empty", what);
  if (len > TS_NAME_MAX)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "%s name is longer than %d bytes", what, TS_NAME_MAX);
  if (!ts_utf8_valid(name, len)) return ts_error_set(err, TC_EINVALID_ARGUMENT, "%s name is not valid UTF-8", what);
  return TC_OK;
}

ts_status ts_name_check_table(const char *name, ts_error *err) {
  if (ts_name_check_plain("table", name, err) != TC_OK) return err->code;
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
      return ts_error_set(err, TC_EINVALID_ARGUMENT, "table name '%.200s' has a control character or '\\'", name);
  if (name[0] == '/')
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "table name '%.200s' must not start with '/'", name);
  for (const char *c = name; c;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "table name '%.200s' has an empty component", name);
    if (c[0] == '.')
      return ts_error_set(err, TC_EINVALID_ARGUMENT,
                          "table name '%.200s' has a component starting with '.' (such as '..')", name);
    c = end ? end + 1 : NULL;
  }
  return TC_OK;
}
