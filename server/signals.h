/* signals.h: SIGTERM and SIGINT taken synchronously by a thread of their own (sigwait) and handed to the
 * libuv loop, instead of an asynchronous handler (uv_signal).
 *
 * Why: a process-directed signal runs its handler on whichever thread the kernel picks. Under
 * ThreadSanitizer with ignore_noninstrumented_modules (the CI's TSan stage), a signal that landed while the
 * loop sat in libuv's epoll_wait (an uninstrumented library) was deferred until the thread next ran
 * instrumented code, which an idle loop never did: the server missed its SIGTERM. With both signals blocked
 * in every thread from the start of main, and consumed by sigwait, no thread ever runs a handler for them.
 */
#ifndef TS_SIGNALS_H
#define TS_SIGNALS_H

#include <uv.h>

typedef struct ts_signals ts_signals;

/* Blocks SIGTERM and SIGINT in the calling thread. Call it first in main, before any thread exists, so
 * that every thread inherits the mask. */
void ts_signals_block(void);

/* Starts the thread that waits for them: each one received calls FN(SIGNUM, ARG) on LOOP's thread, in the
 * order received. NULL when out of memory or threads. */
ts_signals *ts_signals_start(uv_loop_t *loop, void (*fn)(int signum, void *arg), void *arg);

/* Stops the waiting thread (joined) and closes the loop handle; S is freed when the loop has closed it.
 * On the loop's thread. */
void ts_signals_close(ts_signals *s);

#endif
