/* shm_socket.h: the side socket over which clients hand the server their shared-memory pools.
 *
 * Next to each Unix-socket gRPC address unix:PATH the server listens on PATH.shm (a file fd can travel
 * only over a Unix socket, and gRPC's own socket is gRPC's). The exchange, all integers little-endian:
 *   client: 16 bytes {"TCSHM\0\0\1", u64 pool size} in one sendmsg, with the pool's memfd as SCM_RIGHTS;
 *   server: {u32 status (a tc status: 0 = OK), u32 message length n, 16-byte token, n bytes of message}.
 * The connection then stays open, and its end (the last process holding it closed it) unregisters the
 * pool. One pool per connection; anything else the client sends is an error that closes it.
 */
#ifndef TS_SHM_SOCKET_H
#define TS_SHM_SOCKET_H

#include <stddef.h>
#include <uv.h>

#include "shm.h"

typedef struct ts_shm_socket ts_shm_socket;

/* Listens on PATH (a socket file: an old one there is replaced) with MODE permissions, on LOOP, for at
 * most MAX_CONNECTIONS side connections at once. NULL with a message in err. */
ts_shm_socket *ts_shm_socket_start(uv_loop_t *loop, ts_shm *shm, const char *path, int mode, int max_connections,
                                   char *err, size_t errlen);
/* Closes the listener and every side connection (their pools are unregistered), removes the file. On the
 * loop's thread; the memory goes once the loop has run the close callbacks. */
void ts_shm_socket_stop(ts_shm_socket *s);

#endif
