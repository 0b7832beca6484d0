/* status.h: the server's error codes. Values are gRPC's status codes, so they go on the wire unchanged. */
#ifndef TC_STATUS_H
#define TC_STATUS_H

typedef enum tc_status {
  TC_OK = 0,
  TC_CANCELLED = 1,
  TC_UNKNOWN = 2,
  TC_INVALID_ARGUMENT = 3,
  TC_DEADLINE_EXCEEDED = 4,
  TC_NOT_FOUND = 5,
  TC_ALREADY_EXISTS = 6,
  TC_PERMISSION_DENIED = 7,
  TC_RESOURCE_EXHAUSTED = 8,
  TC_FAILED_PRECONDITION = 9,
  TC_ABORTED = 10,
  TC_OUT_OF_RANGE = 11,
  TC_UNIMPLEMENTED = 12,
  TC_INTERNAL = 13,
  TC_UNAVAILABLE = 14,
  TC_DATA_LOSS = 15,
  TC_UNAUTHENTICATED = 16,
} tc_status;

/* An error: a status and a message for the caller. Functions that can fail take a tc_error * and return
 * the status they stored in it (TC_OK leaves it untouched). */
typedef struct tc_error {
  tc_status code;
  char msg[512];
} tc_error;

tc_status tc_error_set(tc_error *e, tc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
