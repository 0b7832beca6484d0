/* acceptor.c: see acceptor.h. */
#include "acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MAX_LISTENERS 16
#define PAUSE_MS 100 /* how long accepting stops when the process is out of descriptors */

typedef struct listener {
  int fd;
  int tcp;
  char path[sizeof((struct sockaddr_un *)0)->sun_path]; /* a Unix socket file to remove, or "" */
} listener;

typedef struct conn {
  int fd;
  ino_t ino; /* the socket's inode: a reused descriptor number is another socket */
} conn;

struct ts_acceptor {
  grpc_server *server;
  grpc_server_credentials *creds;
  listener l[MAX_LISTENERS];
  size_t n;
  int wake[2]; /* a byte written to wake[1] stops the thread */
  int reserve; /* /dev/null, given up to accept one connection when out of descriptors */
  int started, stopped;
  pthread_t thread;
  int max;              /* max_connections */
  int mode;             /* socket_mode */
  pthread_mutex_t lock; /* conns and n_conns: the accepting thread and a metrics scrape both count them */
  conn *conns;          /* the connections handed to gRPC, perhaps closed since; max entries */
  size_t n_conns;
  long refused; /* connections closed at once (over the limit), for the log */
};

ts_acceptor *ts_acceptor_new(grpc_server *server, int max_connections, int socket_mode) {
  ts_acceptor *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->mode = socket_mode;
  a->max = max_connections > 0 ? max_connections : 1;
  pthread_mutex_init(&a->lock, NULL);
  a->conns = calloc((size_t)a->max, sizeof *a->conns);
  if (!a->conns || pipe2(a->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    free(a->conns);
    free(a);
    return NULL;
  }
  a->server = server;
  a->creds = grpc_insecure_server_credentials_create();
  a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return a;
}

static int add_listener(ts_acceptor *a, int fd, int tcp, const char *path, char *err, size_t errlen) {
  if (listen(fd, 1024) != 0 || a->n == MAX_LISTENERS) {
    snprintf(err, errlen, "listen: %s", a->n == MAX_LISTENERS ? "too many addresses" : strerror(errno));
    close(fd);
    return -1;
  }
  listener *l = &a->l[a->n++];
  l->fd = fd;
  l->tcp = tcp;
  snprintf(l->path, sizeof l->path, "%s", path ? path : "");
  return 0;
}

static int listen_unix(ts_acceptor *a, const char *name, int abstract, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(name);
  if (len + 1 + (size_t)abstract > sizeof sa.sun_path || len == 0) {
    snprintf(err, errlen, "Unix socket name of %zu bytes (at most %zu)", len, sizeof sa.sun_path - 1);
    return -1;
  }
  memcpy(sa.sun_path + abstract, name, len);
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + len + !abstract);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct stat st;
  if (!abstract && lstat(name, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(name); /* a socket left by an earlier run */
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, salen) != 0) {
    snprintf(err, errlen, "bind: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  /* gRPC's sockets get the umask's mode; a client must be able to write it to connect, and the trainer next
   * to us may run as another user of the same group (Kubernetes' fsGroup). Before listen: none can connect
   * before it is right. */
  if (!abstract && chmod(name, (mode_t)a->mode) != 0) {
    snprintf(err, errlen, "chmod %o: %s", (unsigned)a->mode, strerror(errno));
    close(fd);
    unlink(name);
    return -1;
  }
  return add_listener(a, fd, 0, abstract ? NULL : name, err, errlen);
}

static int listen_tcp(ts_acceptor *a, const char *addr, char *err, size_t errlen) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof host || !strcmp(colon + 1, "0") || !colon[1]) return 1;
  snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
  char *h = host;
  if (h[0] == '[' && h[strlen(h) - 1] == ']') {
    h[strlen(h) - 1] = '\0';
    h++;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
  int g = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
  if (g != 0) {
    snprintf(err, errlen, "%s: %s", addr, gai_strerror(g));
    return -1;
  }
  int bound = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol), one = 1;
    if (fd < 0) continue;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && res->ai_next)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one); /* each family on its own socket */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      snprintf(err, errlen, "bind %s: %s", addr, strerror(errno));
      close(fd);
      continue;
    }
    if (add_listener(a, fd, 1, NULL, err, errlen) == 0) bound++;
  }
  freeaddrinfo(res);
  return bound ? 0 : -1;
}

int ts_acceptor_listen(ts_acceptor *a, const char *addr, char *err, size_t errlen) {
  if (!strncmp(addr, "unix-abstract:", 14)) return listen_unix(a, addr + 14, 1, err, errlen);
  const char *path = ts_listen_unix_path(addr);
  if (path) return listen_unix(a, path, 0, err, errlen);
  if (strchr(addr, ':') && !strstr(addr, "://") && strncmp(addr, "ipv4:", 5) && strncmp(addr, "ipv6:", 5))
    return listen_tcp(a, addr, err, errlen);
  return 1;
}

/* Connections still open: an entry whose descriptor is closed, or now another file, is dropped. Only
 * this thread adds entries; gRPC closes the descriptors (so this is a census, not bookkeeping). */
static size_t live_connections(ts_acceptor *a) {
  size_t k = 0;
  for (size_t i = 0; i < a->n_conns; i++) {
    struct stat st;
    if (fstat(a->conns[i].fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == a->conns[i].ino)
      a->conns[k++] = a->conns[i];
  }
  return a->n_conns = k;
}

size_t ts_acceptor_connections(ts_acceptor *a) {
  if (!a) return 0;
  pthread_mutex_lock(&a->lock);
  size_t n = live_connections(a);
  pthread_mutex_unlock(&a->lock);
  return n;
}

/* Counts FD (a new connection) unless the limit is reached; 0 when it is. */
static int admit(ts_acceptor *a, int fd) {
  struct stat st;
  if ((size_t)a->max <= a->n_conns && live_connections(a) >= (size_t)a->max) return 0;
  if (fstat(fd, &st) != 0) return 0;
  for (size_t i = 0; i < a->n_conns; i++) /* the number was reused: that connection is gone */
    if (a->conns[i].fd == fd) a->conns[i] = a->conns[--a->n_conns];
  a->conns[a->n_conns++] = (conn){fd, st.st_ino};
  return 1;
}

static void take(ts_acceptor *a, int fd, int tcp) {
  pthread_mutex_lock(&a->lock);
  int ok = admit(a, fd);
  pthread_mutex_unlock(&a->lock);
  if (!ok) {
    close(fd);
    if (a->refused++ % 1000 == 0)
      ts_log(TS_WARN, "connection_refused", TS_S("reason", "--max-connections"), TS_I("max", a->max),
             TS_I("refused", a->refused), NULL);
    return;
  }
  if (tcp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  grpc_server_add_channel_from_fd(a->server, fd, a->creds);
}

/* Out of descriptors: the reserved one makes room to accept one pending connection and close it, so that
 * the client is told (its connection ends) rather than left in the backlog; then a pause. */
static void out_of_fds(ts_acceptor *a, int lfd, int e, int *episode) {
  if (!(*episode)++) ts_log(TS_WARN, "accept_paused", TS_S("error", strerror(e)), TS_I("pause_ms", PAUSE_MS), NULL);
  if (a->reserve >= 0) {
    close(a->reserve);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) close(fd);
    a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
}

static void *accept_loop(void *arg) {
  ts_acceptor *a = arg;
  struct pollfd p[MAX_LISTENERS + 1];
  int pause = 0, episode = 0;
  for (;;) {
    p[0] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
    for (size_t i = 0; i < a->n; i++) p[i + 1] = (struct pollfd){.fd = a->l[i].fd, .events = POLLIN};
    /* paused: only the wake-up pipe, for PAUSE_MS */
    int r = poll(p, pause ? 1 : a->n + 1, pause ? PAUSE_MS : -1);
    if (r < 0 && errno != EINTR) break;
    if (p[0].revents) break;
    if (pause) {
      pause = 0;
      continue;
    }
    for (size_t i = 0; i < a->n && !pause; i++) {
      if (!(p[i + 1].revents & POLLIN)) continue;
      for (int k = 0; k < 64; k++) {
        int fd = accept4(a->l[i].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          if (episode) ts_log(TS_INFO, "accept_resumed", TS_I("pauses", episode), NULL);
          episode = 0;
          take(a, fd, a->l[i].tcp);
          continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          out_of_fds(a, a->l[i].fd, errno, &episode);
          pause = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
          ts_log(TS_WARN, "accept_failed", TS_S("error", strerror(errno)), NULL);
          pause = 1;
        }
        break;
      }
    }
  }
  return NULL;
}

int ts_acceptor_start(ts_acceptor *a) {
  if (a->n == 0) return 0;
  if (pthread_create(&a->thread, NULL, accept_loop, a) != 0) return -1;
  a->started = 1;
  return 0;
}

void ts_acceptor_stop(ts_acceptor *a) {
  if (!a || a->stopped) return;
  a->stopped = 1;
  if (a->started) {
    char b = 1;
    while (write(a->wake[1], &b, 1) < 0 && errno == EINTR) {}
    pthread_join(a->thread, NULL);
  }
  for (size_t i = 0; i < a->n; i++) {
    close(a->l[i].fd);
    if (a->l[i].path[0]) unlink(a->l[i].path);
  }
  a->n = 0;
}

void ts_acceptor_free(ts_acceptor *a) {
  if (!a) return;
  ts_acceptor_stop(a);
  close(a->wake[0]);
  close(a->wake[1]);
  if (a->reserve >= 0) close(a->reserve);
  grpc_server_credentials_release(a->creds);
  free(a->conns);
  pthread_mutex_destroy(&a->lock);
  free(a);
}
