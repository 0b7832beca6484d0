/* shm_socket.c: see shm_socket.h. On the loop's thread: each socket is a uv_poll_t, and a readable one is
 * read with recvmsg (libuv's own IPC pipes accept only sockets as passed handles, not a memfd). */
#include "shm_socket.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define MAX_FDS 8    /* room to receive (and close) a few stray fds sent with the header */
#define PAUSE_MS 100 /* how long accepting stops when the process is out of descriptors */

typedef struct side side;

struct ts_shm_socket {
  uv_poll_t poll;
  uv_timer_t pause; /* out of descriptors: accepting resumes when it fires */
  int fd;
  ts_shm *shm;
  char path[sizeof((struct sockaddr_un *)0)->sun_path];
  int max, n;
  int paused; /* pauses in a row without an accept in between: only the first is logged */
  side *conns;
  int closed; /* handles closed, of 2 */
};

struct side {
  uv_poll_t poll;
  int fd;
  ts_shm_socket *owner;
  ts_shm_pool *pool;
  side *prev, *next;
};

/* libuv is done with the fd only once the handle is closed (uv_close still tells epoll to forget it): closing
 * it before would let it be reused by another thread's open, and that fd be dropped from epoll by mistake. */
static void free_side(uv_handle_t *h) {
  side *c = h->data;
  close(c->fd);
  free(c);
}

static void close_side(side *c) {
  ts_shm_socket *s = c->owner;
  if (c->pool) {
    ts_shm_unregister(s->shm, c->pool);
    ts_log(TS_DEBUG, "shm_pool_released", TS_I("fd", c->fd), NULL);
  }
  *(c->prev ? &c->prev->next : &s->conns) = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n--;
  uv_close((uv_handle_t *)&c->poll, free_side);
}

static void reply(side *c, int status, const uint8_t *token, const char *msg) {
  uint8_t buf[24 + 512] = {0};
  uint32_t n = (uint32_t)strnlen(msg, 512);
  for (int i = 0; i < 4; i++) buf[i] = (uint8_t)((uint32_t)status >> (8 * i)), buf[4 + i] = (uint8_t)(n >> (8 * i));
  if (token) memcpy(buf + 8, token, TS_SHM_TOKEN_BYTES);
  memcpy(buf + 24, msg, n);
  /* Small and the first thing written on a new connection: it fits the socket buffer; a client that is
   * gone makes it fail, and the next read sees the end. */
  (void)!send(c->fd, buf, 24 + n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Reads one message: its bytes into BUF (returns how many, 0 at the end, -1 on error) and the first fd it
 * carried into *fd (-1 if none; any others are closed). */
static ssize_t recv_with_fd(int sock, uint8_t *buf, size_t cap, int *fd) {
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
  } ctl;
  struct iovec iov = {buf, cap};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
  ssize_t got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  *fd = -1;
  for (struct cmsghdr *h = got >= 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int f;
      memcpy(&f, CMSG_DATA(h) + i * sizeof(int), sizeof f);
      if (*fd < 0)
        *fd = f;
      else
        close(f);
    }
  }
  if (got >= 0 && (m.msg_flags & MSG_CTRUNC)) { /* more fds than we had room for: refuse the lot */
    if (*fd >= 0) close(*fd);
    *fd = -1;
    errno = EMSGSIZE;
    return -1;
  }
  return got;
}

static void register_pool(side *c, const uint8_t *hdr, ssize_t got, int fd) {
  ts_error err = {0};
  uint8_t token[TS_SHM_TOKEN_BYTES];
  if (got != 16 || memcmp(hdr, TC_SHM_MAGIC, 8) != 0)
    ts_error_set(&err, TC_EINVALID_ARGUMENT, "bad side-socket header: %zd bytes, want 16 starting with TCSHM", got);
  else if (fd < 0)
    ts_error_set(&err, TC_EINVALID_ARGUMENT, "no memfd came with the header (SCM_RIGHTS)");
  else
    ts_shm_register(c->owner->shm, fd, le64(hdr + 8), &c->pool, token, &err);
  if (fd >= 0) close(fd); /* the mapping keeps the memory */
  if (err.code != TC_OK) {
    ts_log(TS_WARN, "shm_pool_refused", TS_S("error", err.msg), NULL);
    reply(c, err.code, NULL, err.msg);
    close_side(c);
    return;
  }
  ts_log(TS_DEBUG, "shm_pool_mapped", TS_I("bytes", le64(hdr + 8)), NULL);
  reply(c, TC_OK, token, "");
}

static void on_side(uv_poll_t *p, int status, int events) {
  side *c = p->data;
  (void)events;
  uint8_t buf[64];
  int fd = -1;
  ssize_t got = status < 0 ? -1 : recv_with_fd(c->fd, buf, sizeof buf, &fd);
  if (got < 0 && (errno == EAGAIN || errno == EINTR) && status >= 0) return;
  if (got <= 0 || c->pool) { /* the end, an error, or a second message: this connection is done */
    if (fd >= 0) close(fd);
    close_side(c);
    return;
  }
  register_pool(c, buf, got, fd);
}

static void on_listen(uv_poll_t *p, int status, int events);

static void on_resume(uv_timer_t *t) {
  ts_shm_socket *s = t->data;
  uv_poll_start(&s->poll, UV_READABLE, on_listen);
}

static void on_listen(uv_poll_t *p, int status, int events) {
  ts_shm_socket *s = p->data;
  (void)events;
  if (status < 0) return;
  int fd;
  while ((fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
    s->paused = 0; /* the episode is over: the next one is logged */
    side *c = s->n < s->max ? calloc(1, sizeof *c) : NULL;
    if (!c || uv_poll_init(s->poll.loop, &c->poll, fd) != 0) {
      free(c);
      close(fd); /* over the limit: the client sees the end before any answer */
      continue;
    }
    c->fd = fd;
    c->owner = s;
    c->poll.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n++;
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_side);
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) s->paused = 0; /* nothing pending: any episode is over */
  if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
    /* The pending connection stays queued and the socket readable: polling it now would spin. */
    if (!s->paused++)
      ts_log(TS_WARN, "shm_accept_paused", TS_S("error", strerror(errno)), TS_I("pause_ms", PAUSE_MS), NULL);
    uv_poll_stop(&s->poll);
    uv_timer_start(&s->pause, on_resume, PAUSE_MS, 0);
  }
}

static int bind_unix(const char *path, int mode, char *err, size_t errlen) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof a.sun_path) {
    snprintf(err, errlen, "side socket path too long: %s", path);
    return -1;
  }
  memcpy(a.sun_path, path, strlen(path) + 1);
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path); /* a previous run's */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, (mode_t)mode) != 0 ||
      listen(fd, 64) != 0) {
    snprintf(err, errlen, "side socket %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

ts_shm_socket *ts_shm_socket_start(uv_loop_t *loop, ts_shm *shm, const char *path, int mode, int max_connections,
                                   char *err, size_t errlen) {
  ts_shm_socket *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if ((s->fd = bind_unix(path, mode, err, errlen)) < 0 || uv_poll_init(loop, &s->poll, s->fd) != 0) {
    if (s->fd >= 0) close(s->fd), unlink(path);
    free(s);
    return NULL;
  }
  uv_timer_init(loop, &s->pause);
  s->pause.data = s;
  snprintf(s->path, sizeof s->path, "%s", path);
  s->shm = shm;
  s->max = max_connections > 0 ? max_connections : 1;
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_listen);
  return s;
}

/* Both handles live in the struct: it goes when the second has closed (and the fd with it, see free_side). */
static void free_socket(uv_handle_t *h) {
  ts_shm_socket *s = h->data;
  if (++s->closed < 2) return;
  close(s->fd);
  free(s);
}

void ts_shm_socket_stop(ts_shm_socket *s) {
  if (!s) return;
  while (s->conns) close_side(s->conns);
  unlink(s->path);
  uv_close((uv_handle_t *)&s->pause, free_socket);
  uv_close((uv_handle_t *)&s->poll, free_socket);
}
