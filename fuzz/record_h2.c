/* record_h2: records what a real tablecar-server sends for each call of h2_calls.h, as fuzz_h2 seeds.
 *
 *   record_h2 SERVER_SOCKET OUTDIR     (the server serves a table "ex" of 300 rows: see make_seeds.sh)
 *
 * For each call a relay thread sits between libtablecar and the server and keeps the server's bytes;
 * OUTDIR/call-N gets the selector byte N followed by them. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "h2_calls.h"

static const char *g_server;
static char g_relay[128];

typedef struct relay {
  int lfd;
  FILE *out;
} relay;

static int unix_socket(const char *path, int do_listen) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (fd < 0) return -1;
  if (do_listen ? bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0
                : connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *relay_main(void *arg) {
  relay *r = arg;
  int c = accept(r->lfd, NULL, NULL), s = unix_socket(g_server, 0);
  if (c < 0 || s < 0) abort();
  struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
  char buf[65536];
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    if (poll(p, 2, -1) < 0) break;
    for (int i = 0; i < 2; i++) {
      if (p[i].fd < 0 || !p[i].revents) continue;
      ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
      int to = i == 0 ? s : c;
      if (n <= 0) { /* one side is done: pass the end on */
        shutdown(to, SHUT_WR);
        p[i].fd = -1;
        continue;
      }
      if (i == 1) fwrite(buf, 1, (size_t)n, r->out);
      if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) p[i].fd = -1;
    }
  }
  close(c);
  close(s);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: record_h2 SERVER_SOCKET OUTDIR\n");
    return 2;
  }
  g_server = argv[1];
  snprintf(g_relay, sizeof g_relay, "%s/relay.sock", argv[2]);
  char target[160];
  snprintf(target, sizeof target, "unix:%s", argv[1]);
  tc_client *direct;
  tc_permutation_spec spec = {.table = "ex", .shuffle = 1, .shuffle_seed = 7};
  tc_permutation_info *perm;
  if (tc_client_new(target, NULL, &direct) != TC_OK || tc_create_permutation(direct, &spec, NULL, &perm) != TC_OK) {
    fprintf(stderr, "record_h2: no permutation from %s\n", argv[1]);
    return 1;
  }
  snprintf(target, sizeof target, "unix:%s", g_relay);
  for (int sel = 0; sel < H2_N_CALLS; sel++) {
    char path[300];
    snprintf(path, sizeof path, "%s/call-%d", argv[2], sel);
    relay r = {unix_socket((unlink(g_relay), g_relay), 1), fopen(path, "wb")};
    if (r.lfd < 0 || !r.out) abort();
    fputc(sel, r.out);
    pthread_t th;
    pthread_create(&th, NULL, relay_main, &r);
    tc_client *cl;
    tc_options o;
    tc_options_init(&o);
    o.retry = 0;
    if (tc_client_new(target, &o, &cl) != TC_OK) abort();
    h2_call(cl, sel, NULL, perm->id);
    tc_client_free(cl);
    pthread_join(th, NULL);
    close(r.lfd);
    fclose(r.out);
  }
  unlink(g_relay);
  tc_permutation_info_free(perm);
  tc_client_free(direct);
  return 0;
}
