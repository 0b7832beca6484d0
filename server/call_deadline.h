/* call_deadline.h: the deadline of the call the current thread is serving, for work far below the handler
 * that may wait on something slow (a fetch from the object store, remote_blob.c), so it gives up when the
 * caller has given up instead of holding a thread for the remote timeout.
 *
 * A thread-local, as errno is: a handler runs on one thread from its start to its end, and the layers in
 * between (catalog, table, the Arrow reader) need not carry a parameter they never look at. The service
 * sets it around each handler; background threads (prefetch, rescans) have none. Pure logic.
 */
#ifndef TS_CALL_DEADLINE_H
#define TS_CALL_DEADLINE_H

#include <stdint.h>

/* Now on CLOCK_MONOTONIC, in milliseconds: the clock of every deadline here. */
int64_t ts_mono_ms(void);

/* Sets this thread's call deadline (CLOCK_MONOTONIC ms); 0: no call, or a call without a deadline. */
void ts_call_deadline_set(int64_t mono_ms);
/* This thread's call deadline, 0 when there is none. */
int64_t ts_call_deadline(void);

/* The earlier of NOW + TIMEOUT_MS and this thread's call deadline; *BY_CALL (may be NULL) says which. */
int64_t ts_call_deadline_within(int64_t timeout_ms, int *by_call);

#endif
