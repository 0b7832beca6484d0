/* status.c: see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

ts_status ts_error_set(ts_error *e, ts_status code, const char *fmt, ...) {
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}
