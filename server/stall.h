/* stall.h: cancels streams whose client stopped reading. A stream's message that the transport has not
 * taken after --stall-seconds means the client reads nothing (HTTP/2 flow control holds the server back);
 * without a limit such a call would hold its batch, its table and a stream slot for as long as the
 * connection lives. A watcher thread cancels it with UNAVAILABLE (a resuming client, such as libtablecar's
 * streams, picks up where it was when it reads again); its pending send then fails and frees the call. */
#ifndef TS_STALL_H
#define TS_STALL_H

#include <grpc/grpc.h>

typedef struct ts_stall ts_stall;

/* One stream's pending send; embedded in the call, zeroed before first use. */
typedef struct ts_stall_entry {
  grpc_call *call;
  double since; /* monotonic seconds when the send started */
  struct ts_stall_entry *prev, *next;
  int armed;
} ts_stall_entry;

/* NULL when SECONDS is 0 (no limit); the functions below accept NULL. */
ts_stall *ts_stall_new(double seconds);
/* A send of CALL started / completed. The entry must stay valid until disarmed. */
void ts_stall_arm(ts_stall *s, ts_stall_entry *e, grpc_call *call);
void ts_stall_disarm(ts_stall *s, ts_stall_entry *e);
/* Stops the thread; every entry must be disarmed. */
void ts_stall_free(ts_stall *s);

#endif
