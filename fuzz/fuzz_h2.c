/* fuzz_h2: libtablecar's HTTP/2 client (client/h2.c, call.c, stream.c, on nghttp2) against a hostile peer.
 *
 * Input: one selector byte (which call the client makes, see h2_calls.h), then everything the "server"
 * sends on the connection: seeds are real tablecar-server answers recorded by record_h2, which the fuzzer
 * mutates. A peer thread accepts the client's connection on a Unix socket, writes the bytes, shuts its
 * side down and drains what the client sends until it closes; the listener is gone by then, so a client
 * that reconnects (a stream resuming) fails at once instead of waiting. Each call has a deadline far
 * longer than it needs: only a real hang reaches it (and libFuzzer's -timeout catches a stuck poll). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "h2_calls.h"

static char g_dir[64], g_sock[96], g_target[110];

typedef struct peer {
  int lfd;
  const uint8_t *data;
  size_t size;
} peer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/fuzz_h2XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) abort();
  snprintf(g_sock, sizeof g_sock, "%s/s", g_dir);
  snprintf(g_target, sizeof g_target, "unix:%s", g_sock);
  return 0;
}

static int listen_unix(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", g_sock);
  unlink(g_sock);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) abort();
  return fd;
}

static void *peer_main(void *arg) {
  peer *p = arg;
  int fd = accept(p->lfd, NULL, NULL);
  close(p->lfd);
  unlink(g_sock);
  if (fd < 0) return NULL;
  for (size_t off = 0; off < p->size;) {
    ssize_t n = send(fd, p->data + off, p->size - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += (size_t)n;
  }
  shutdown(fd, SHUT_WR);
  char buf[4096];
  while (recv(fd, buf, sizeof buf, 0) > 0) {}
  close(fd);
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  tc_options o;
  tc_options_init(&o);
  o.retry = 0;
  o.timeout_ms = 5000;
  o.max_recv_message_bytes = 1 << 20;
  tc_client *cl;
  if (tc_client_new(g_target, &o, &cl) != TC_OK) abort();
  peer p = {listen_unix(), data + 1, size - 1};
  pthread_t th;
  if (pthread_create(&th, NULL, peer_main, &p) != 0) abort();
  tc_call_opts co = {.timeout_ms = 5000, .no_retry = 1};
  h2_call(cl, data[0], &co, "0123456789abcdef0123456789abcdef");
  tc_client_free(cl);
  /* A call that failed before connecting leaves the peer waiting in accept: connect once to release it. */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", g_sock);
  if (fd >= 0) {
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
  }
  pthread_join(th, NULL);
  return 0;
}
