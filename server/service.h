/* service.h: the gRPC transport of the sidecar: a gRPC core server whose completion queue is drained by a
 * few threads, each running the handlers (handlers.h) of the calls it picks up, plus grpc.health.v1.
 *
 * Threads: tc_server_start starts N threads that each call grpc_completion_queue_next; a slow call keeps
 * one of them busy and the others go on. Every call is a small state machine driven by its completion tags.
 */
#ifndef TC_SERVICE_H
#define TC_SERVICE_H

#include <stddef.h>

#include "handlers.h"

typedef struct tc_server tc_server;

typedef struct tc_server_options {
  tc_ctx ctx;                 /* catalog, permutations, batch size limit */
  const char *const *listen;  /* gRPC addresses: unix:/path, unix-abstract:name, host:port */
  size_t n_listen;
  int threads;                /* completion-queue threads */
  size_t max_request_bytes;   /* largest request message accepted */
  /* Called once, from a server thread, when the server has stopped after tc_server_drain. */
  void (*on_stopped)(void *arg);
  void *arg;
} tc_server_options;

/* Creates and starts the server: binds every address, starts the threads. NULL with a message in err when
 * an address cannot be bound. */
tc_server *tc_server_start(const tc_server_options *opt, char *err, size_t errlen);

/* Stops taking calls: health turns NOT_SERVING (watchers are told, then their streams end), no new calls
 * are accepted, calls in flight run to their end. on_stopped runs when the last one has finished. */
void tc_server_drain(tc_server *s);
/* Cancels the calls still in flight (the drain deadline passed). Only after tc_server_drain. */
void tc_server_cancel_all(tc_server *s);
/* Joins the threads and frees the server; only after on_stopped. */
void tc_server_free(tc_server *s);

#endif
