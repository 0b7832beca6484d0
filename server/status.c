/* status.c: see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

tc_status tc_error_set(tc_error *e, tc_status code, const char *fmt, ...) {
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}
