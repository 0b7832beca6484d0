/* acceptor.h: the server's listening sockets, accepted here and handed to gRPC core
 * (grpc_server_add_channel_from_fd) instead of gRPC's own listener, for two limits gRPC 1.51 lacks:
 *   - at most max_connections client connections: more are accepted and closed at once (the client sees
 *     the connection end and retries), with a log line;
 *   - running out of file descriptors (EMFILE, ENFILE) stops accepting for a moment: one pending
 *     connection is accepted into a reserved descriptor and closed (so the backlog does not keep poll()
 *     waking), then accepting resumes. gRPC's own listener logs "Failed accept4" and never accepts again.
 * A connection is counted until its socket is closed (gRPC closes it when the client leaves, at
 * --idle-seconds, or at shutdown), which is noticed from the descriptor table: see live_connections. */
#ifndef TS_ACCEPTOR_H
#define TS_ACCEPTOR_H

#include <grpc/grpc.h>
#include <stddef.h>

typedef struct ts_acceptor ts_acceptor;

/* SOCKET_MODE: the permissions a Unix socket file gets, set between bind and listen, so that no client can
 * connect while it has the umask's. */
ts_acceptor *ts_acceptor_new(grpc_server *server, int max_connections, int socket_mode);
/* Binds and listens on ADDR: unix:/path (unix:///path), unix-abstract:NAME or HOST:PORT. 1: ADDR is not
 * one this file binds (port 0 and other gRPC address forms): leave it to grpc_server_add_http2_port.
 * 0 on success, -1 with a message in err. */
int ts_acceptor_listen(ts_acceptor *a, const char *addr, char *err, size_t errlen);
/* Starts accepting, on a thread of its own; only after grpc_server_start. */
int ts_acceptor_start(ts_acceptor *a);
/* Stops accepting and closes the listening sockets (removing Unix socket files). Idempotent. */
void ts_acceptor_stop(ts_acceptor *a);
void ts_acceptor_free(ts_acceptor *a);
/* The connections handed to gRPC that are still open (any thread; NULL: 0). */
size_t ts_acceptor_connections(ts_acceptor *a);

#endif
