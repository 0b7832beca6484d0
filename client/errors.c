/* Status codes, their names and messages, and the mappings gRPC defines from HTTP to gRPC statuses. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *tc_status_name(int status) {
  switch (status) {
  case TC_OK:
    return "OK";
/* clang-format off */
#define TC_XX_GRPC(name, code) \
  case code: return #name;
#define TC_XX_LOCAL(name, code, msg) \
  case code: return "E" #name;
    TC_STATUS_MAP(TC_XX_GRPC, TC_XX_LOCAL)
#undef TC_XX_GRPC
#undef TC_XX_LOCAL
    /* clang-format on */
  default: return "?";
  }
}

/* gRPC's codes are described by their names, as gRPC prints them. */
const char *tc_strerror(int status) {
  switch (status) {
  case TC_OK:
    return "OK";
/* clang-format off */
#define TC_XX_GRPC(name, code) \
  case code: return #name;
#define TC_XX_LOCAL(name, code, msg) \
  case code: return msg;
    TC_STATUS_MAP(TC_XX_GRPC, TC_XX_LOCAL)
#undef TC_XX_GRPC
#undef TC_XX_LOCAL
    /* clang-format on */
  case TC__ECONNECT_RETRY: return tc_strerror(TC_ECONNECT);
  default: return "unknown status";
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t tc__percent_decode(const char *in, size_t n, char *out, size_t outcap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = in[i];
    if (ch == '%' && i + 2 < n) {
      int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        ch = (char)(hi << 4 | lo);
        i += 2;
      }
    }
    if (o + 1 < outcap) out[o] = ch;
    o++;
  }
  if (outcap) out[o < outcap ? o : outcap - 1] = '\0';
  return o;
}

/* https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md */
int tc__http_to_grpc(int http_status) {
  switch (http_status) {
  case 400: return TC_EINTERNAL;
  case 401: return TC_EUNAUTHENTICATED;
  case 403: return TC_EPERMISSION_DENIED;
  case 404: return TC_EUNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504: return TC_EUNAVAILABLE;
  default: return TC_EUNKNOWN;
  }
}

/* RST_STREAM codes, as gRPC maps them (doc/PROTOCOL-HTTP2.md, "Errors"). */
int tc__h2_error_to_grpc(uint32_t e) {
  switch (e) {
  case NGHTTP2_REFUSED_STREAM: return TC_EUNAVAILABLE;
  case NGHTTP2_CANCEL: return TC_ECANCELLED;
  case NGHTTP2_ENHANCE_YOUR_CALM: return TC_ERESOURCE_EXHAUSTED;
  case NGHTTP2_INADEQUATE_SECURITY: return TC_EPERMISSION_DENIED;
  default: return TC_EINTERNAL;
  }
}

int tc__seterr(tc_client *cl, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cl->err, sizeof cl->err, fmt, ap);
  va_end(ap);
  return status;
}

void tc__clearerr(tc_client *cl) { cl->err[0] = '\0'; }

/* Why this thread's last tc_client_new failed: a failure leaves no handle to keep the message in. Thread-local,
 * as dlerror()'s is, so that threads creating clients at once never see each other's messages. */
static _Thread_local char new_err[512];

int tc__set_new_error(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(new_err, sizeof new_err, fmt, ap);
  va_end(ap);
  return status;
}

const char *tc_last_error(const tc_client *client) { return client ? client->err : new_err; }
