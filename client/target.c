/* Targets: parsing gRPC-style addresses, and connecting to them with a deadline. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static int bad(char *err, size_t errlen, const char *what, const char *s) {
  snprintf(err, errlen, "bad target \"%s\": %s", s, what);
  return TC_EINVAL;
}

static int parse_unix(const char *s, const char *rest, tc__target *t, char *err, size_t errlen) {
  /* unix:///abs/path is the URI form of unix:/abs/path; unix://host/path has no meaning for us. */
  if (rest[0] == '/' && rest[1] == '/') {
    if (rest[2] != '/') return bad(err, errlen, "unix:// must be followed by an absolute path", s);
    rest += 2;
  }
  size_t n = strlen(rest);
  if (n == 0) return bad(err, errlen, "empty socket path", s);
  if (n >= sizeof t->path) return bad(err, errlen, "socket path too long", s);
  t->kind = TC__TARGET_UNIX;
  memcpy(t->path, rest, n + 1);
  t->path_len = n;
  return TC_OK;
}

static int parse_abstract(const char *s, const char *rest, tc__target *t, char *err, size_t errlen) {
  size_t n = strlen(rest);
  if (n == 0) return bad(err, errlen, "empty abstract socket name", s);
  if (n >= sizeof t->path) return bad(err, errlen, "abstract socket name too long", s);
  t->kind = TC__TARGET_ABSTRACT;
  memcpy(t->path, rest, n + 1);
  t->path_len = n;
  return TC_OK;
}

static int parse_port(const char *p, char *out, size_t cap) {
  size_t n = strlen(p);
  if (n == 0 || n > 5 || n >= cap) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  if (v < 1 || v > 65535) return -1;
  memcpy(out, p, n + 1);
  return 0;
}

/* HOST:PORT or [V6]:PORT */
static int parse_hostport(const char *s, const char *hp, tc__target *t, char *err, size_t errlen) {
  const char *host = hp, *port;
  size_t hlen;
  if (hp[0] == '[') {
    const char *close = strchr(hp, ']');
    if (!close || close[1] != ':') return bad(err, errlen, "expected [ADDR]:PORT", s);
    host = hp + 1;
    hlen = (size_t)(close - host);
    port = close + 2;
  } else {
    const char *colon = strrchr(hp, ':');
    if (!colon) return bad(err, errlen, "expected HOST:PORT, unix:PATH or unix-abstract:NAME", s);
    hlen = (size_t)(colon - hp);
    if (memchr(hp, ':', hlen)) return bad(err, errlen, "IPv6 addresses go in brackets: [ADDR]:PORT", s);
    port = colon + 1;
  }
  if (hlen == 0) return bad(err, errlen, "empty host", s);
  if (hlen >= sizeof t->host) return bad(err, errlen, "host name too long", s);
  if (memchr(host, ',', hlen)) return bad(err, errlen, "address lists are not supported", s);
  if (parse_port(port, t->port, sizeof t->port)) return bad(err, errlen, "bad port", s);
  memcpy(t->host, host, hlen);
  t->host[hlen] = '\0';
  t->kind = TC__TARGET_TCP;
  snprintf(t->authority, sizeof t->authority, "%s", hp);
  return TC_OK;
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int tc__target_parse(const char *s, tc__target *t, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  if (!s) return bad(err, errlen, "NULL", "");
  snprintf(t->authority, sizeof t->authority, "localhost");
  if (has_prefix(s, "unix-abstract:")) return parse_abstract(s, s + 14, t, err, errlen);
  if (has_prefix(s, "unix:")) return parse_unix(s, s + 5, t, err, errlen);
  const char *hp = s;
  if (has_prefix(s, "dns:")) {
    hp = s + 4;
    if (has_prefix(hp, "//")) { /* dns://[authority]/host:port: the DNS server is ignored */
      const char *slash = strchr(hp + 2, '/');
      if (!slash) return bad(err, errlen, "expected dns:///HOST:PORT", s);
      hp = slash + 1;
    }
  } else if (has_prefix(s, "ipv4:") || has_prefix(s, "ipv6:")) {
    hp = s + 5;
  }
  return parse_hostport(s, hp, t, err, errlen);
}

/* Errors that a restarting or not yet started server gives. */
static int errno_retriable(int e) {
  switch (e) {
  case ECONNREFUSED:
  case ENOENT:
  case EAGAIN:
  case ECONNRESET:
  case ECONNABORTED:
  case ETIMEDOUT:
  case EHOSTUNREACH:
  case ENETUNREACH:
  case EINTR: return 1;
  default: return 0;
  }
}

/* Waits for a non-blocking connect to finish; returns 0 or an errno. */
static int connect_wait(int fd, int64_t deadline) {
  for (;;) {
    int64_t now = tc__now_ms();
    if (deadline != TC__NO_DEADLINE && now >= deadline) return ETIMEDOUT;
    int ms = deadline == TC__NO_DEADLINE ? -1 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r = poll(&p, 1, ms);
    if (r < 0 && errno != EINTR) return errno;
    if (r <= 0) continue;
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) return errno;
    return e;
  }
}

/* Connects one address; returns 0 with *fdp, or an errno. */
static int connect_addr(int family, const struct sockaddr *sa, socklen_t salen, int64_t deadline, int *fdp) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int e = 0;
  if (connect(fd, sa, salen) < 0) {
    e = errno;
    if (e == EINPROGRESS) e = connect_wait(fd, deadline);
  }
  if (e) {
    close(fd);
    return e;
  }
  if (family != AF_UNIX) {
    /* Requests are written in one send: do not let Nagle hold them back waiting for an ACK. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  *fdp = fd;
  return 0;
}

static int connect_unix(const tc__target *t, int64_t deadline, int *fd, char *err, size_t errlen) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  socklen_t len;
  if (t->kind == TC__TARGET_ABSTRACT) {
    memcpy(sa.sun_path + 1, t->path, t->path_len); /* sun_path[0] = 0: the abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + t->path_len);
  } else {
    memcpy(sa.sun_path, t->path, t->path_len + 1);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + t->path_len + 1);
  }
  int e = connect_addr(AF_UNIX, (struct sockaddr *)&sa, len, deadline, fd);
  if (!e) return TC_OK;
  snprintf(err, errlen, "connect %s%s: %s", t->kind == TC__TARGET_ABSTRACT ? "unix-abstract:" : "unix:", t->path,
           strerror(e));
  if (e == ENOMEM || e == ENOBUFS) return TC_ENOMEM;
  return errno_retriable(e) ? TC__ECONNECT_RETRY : TC_ECONNECT;
}

static int connect_tcp(const tc__target *t, int64_t deadline, int *fd, char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int g = getaddrinfo(t->host, t->port, &hints, &res);
  if (g) {
    snprintf(err, errlen, "resolve %s: %s", t->host, gai_strerror(g));
    if (g == EAI_MEMORY) return TC_ENOMEM;
    return g == EAI_AGAIN || g == EAI_SYSTEM ? TC__ECONNECT_RETRY : TC_ECONNECT;
  }
  int e = ENOENT;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    e = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline, fd);
    if (!e || e == ETIMEDOUT) break;
  }
  freeaddrinfo(res);
  if (!e) return TC_OK;
  snprintf(err, errlen, "connect %s: %s", t->authority, strerror(e));
  return errno_retriable(e) ? TC__ECONNECT_RETRY : TC_ECONNECT;
}

int tc__target_connect(const tc__target *t, int64_t deadline, int *fd, char *err, size_t errlen) {
  *fd = -1;
  int rc = t->kind == TC__TARGET_TCP ? connect_tcp(t, deadline, fd, err, errlen)
                                     : connect_unix(t, deadline, fd, err, errlen);
  if (rc == TC__ECONNECT_RETRY && deadline != TC__NO_DEADLINE && tc__now_ms() >= deadline) return TC_EDEADLINE_EXCEEDED;
  return rc;
}
