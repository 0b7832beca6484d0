/* service.h: the gRPC transport of the sidecar: a gRPC core server whose completion queue is drained by a
 * few threads, each running the handlers (handlers.h) of the calls it picks up, plus grpc.health.v1.
 *
 * Threads: ts_server_start starts N threads that each call grpc_completion_queue_next; a slow call keeps
 * one of them busy and the others go on. Every call is a small state machine driven by its completion tags.
 */
#ifndef TS_SERVICE_H
#define TS_SERVICE_H

#include <stddef.h>

#include "handlers.h"

typedef struct ts_server ts_server;

typedef struct ts_server_options {
  ts_ctx ctx;                /* catalog, permutations, batch size limit */
  const char *const *listen; /* gRPC addresses: unix:/path, unix-abstract:name, host:port */
  size_t n_listen;
  const char *health_listen; /* NULL, or an address whose server answers grpc.health.v1 and nothing else */
  int threads;               /* completion-queue threads */
  size_t max_request_bytes;  /* largest request message accepted */
  int max_connections;       /* client connections at once (acceptor.h) */
  int max_streams;           /* concurrent calls on one connection (0: gRPC's default) */
  double idle_seconds;       /* a connection without calls this long is closed (0: never) */
  double stall_seconds;      /* a stream whose message is not taken this long is cancelled (0: never) */
  int socket_mode;           /* permissions of the Unix socket files (acceptor.h) */
  /* Called once, from a server thread, when the server has stopped after ts_server_drain. */
  void (*on_stopped)(void *arg);
  void *arg;
} ts_server_options;

/* Creates and starts the server: binds every address, starts the threads. NULL with a message in err when
 * an address cannot be bound. */
ts_server *ts_server_start(const ts_server_options *opt, char *err, size_t errlen);

/* Stops taking calls: health turns NOT_SERVING (watchers are told, then their streams end), new connections
 * are refused and new calls answered UNAVAILABLE (a health Check: NOT_SERVING), calls in flight run to
 * their end; then gRPC's shutdown. on_stopped runs when the last call has finished. */
void ts_server_drain(ts_server *s);
/* Cancels the calls still in flight (the drain deadline passed). Only after ts_server_drain. */
void ts_server_cancel_all(ts_server *s);
/* Client connections open on every listener: the acceptor's (acceptor.h) and those of gRPC's own listeners
 * (from its channelz). Thread-safe. */
long ts_server_connections(ts_server *s);
/* Joins the threads and frees the server; only after on_stopped. */
void ts_server_free(ts_server *s);

#endif
