/* status.h: the server's errors: a status code of the public header and a message. */
#ifndef TS_STATUS_H
#define TS_STATUS_H

#include "tablecar.h"

/* A status: TC_OK or one of gRPC's codes, TC_ECANCELLED .. TC_EUNAUTHENTICATED (TC_STATUS_MAP in the public
 * header), which go on the wire unchanged. The server never uses the client's negative local errors. */
typedef int ts_status;

/* An error: a status and a message for the caller. Functions that can fail take a ts_error * and return
 * the status they stored in it (TC_OK leaves it untouched). */
typedef struct ts_error {
  ts_status code;
  char msg[512];
} ts_error;

ts_status ts_error_set(ts_error *e, ts_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
