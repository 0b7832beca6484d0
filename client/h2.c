/* The transport: one HTTP/2 connection per handle, driven only from inside calls (no thread, no timer).
 *
 * Output is serialized with nghttp2_session_mem_send into one buffer and written with one send(), so a
 * small request (HEADERS + DATA, plus any pending WINDOW_UPDATE or SETTINGS ACK) costs one syscall.
 * Input is read into a fixed buffer and fed to nghttp2; DATA goes through each call's deframer.
 *
 * Flow control is manual (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE): connection-level credit is returned as soon as
 * data is received (every byte is owned by some call from then on, and a stalled stream must not block the
 * others). Stream-level credit: a unary call returns it at once (it takes one message, and fails at a
 * second). A stream returns it for each message the application takes (tc__call_pop), and, while the
 * application waits with nothing queued, for the bytes of the message being received (one larger than the
 * window must still arrive); complete messages still queued keep theirs, so a stream never buffers more
 * than its window, however many other calls run on the connection meanwhile.
 *
 * fork(): the connection belongs to the process that opened it. A child must not write to it (it would
 * corrupt the parent's HTTP/2 session) nor read from it (it would steal the parent's responses): it only
 * close()s its copy of the descriptor and frees its copy of the session, which sends nothing. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define RBUF_SIZE (256 * 1024)
#define WBUF_SOFT (256 * 1024) /* stop serializing and send when this much is pending */
#define MAX_FRAME 16777215     /* 16 MiB - 1, the largest frame HTTP/2 allows */

static tc__call *find_call(tc_client *cl, int32_t sid) {
  for (tc__call *c = cl->calls; c; c = c->next)
    if (c->sid == sid && c->gen == cl->conn.gen) return c;
  return NULL;
}

/* ---- connection lifetime ---- */

static void conn_drop(tc_client *cl) {
  tc__conn *k = &cl->conn;
  if (k->ng) nghttp2_session_del(k->ng); /* frees memory only: nothing is sent */
  if (k->fd >= 0) close(k->fd);          /* never shutdown(): a parent may share the socket */
  k->ng = NULL;
  k->fd = -1;
  k->gen = 0;
  k->broken = k->goaway = k->reused = k->rfull = 0;
  k->wlen = k->woff = 0;
  k->why[0] = '\0';
}

void tc__conn_close(tc_client *cl) {
  conn_drop(cl);
  free(cl->conn.rbuf);
  free(cl->conn.wbuf);
  cl->conn.rbuf = cl->conn.wbuf = NULL;
  cl->conn.rcap = cl->conn.wcap = 0;
}

/* The connection failed: every call on it is lost. Returns TC_EUNAVAILABLE. */
static int conn_fail(tc_client *cl, int e, const char *what) {
  if (e)
    tc__seterr(cl, 0, "connection to %s lost (%s): %s", cl->target.authority, what, strerror(e));
  else
    tc__seterr(cl, 0, "connection to %s lost: %s", cl->target.authority, what);
  conn_drop(cl);
  return TC_EUNAVAILABLE;
}

void tc__conn_check_pid(tc_client *cl) {
  pid_t pid = getpid();
  if (pid == cl->pid) return;
  cl->pid = pid;
  /* Sibling processes must not retry in lockstep. */
  cl->rng ^= (uint64_t)pid * 0x9E3779B97F4A7C15ull;
  if (!cl->rng) cl->rng = 1;
  /* Streams inherited from the parent were never seen by the server from this process: they resume at
   * once on the child's own connection. */
  for (tc__call *c = cl->calls; c; c = c->next) c->refused = 1;
  if (cl->conn.fd >= 0) conn_drop(cl);
}

/* ---- nghttp2 callbacks ---- */

static int parse_status(const uint8_t *v, size_t n) {
  int x = 0;
  if (n == 0 || n > 3) return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

#define IS(name, nlen, lit) ((nlen) == sizeof(lit) - 1 && memcmp((name), (lit), sizeof(lit) - 1) == 0)

static int on_header(nghttp2_session *ng, const nghttp2_frame *fr, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  tc__call *c = find_call(ud, fr->hd.stream_id);
  if (!c) return 0;
  if (IS(name, nlen, ":status")) {
    c->http_status = parse_status(value, vlen);
  } else if (IS(name, nlen, "grpc-status")) {
    int s = parse_status(value, vlen);
    c->grpc_status = s < 0 || s > 16 ? TC_EUNKNOWN : s;
  } else if (IS(name, nlen, "grpc-message")) {
    free(c->grpc_message);
    c->grpc_message = malloc(vlen + 1);
    if (c->grpc_message) tc__percent_decode((const char *)value, vlen, c->grpc_message, vlen + 1);
  } else if (IS(name, nlen, "content-type")) {
    c->grpc_content = vlen >= 16 && memcmp(value, "application/grpc", 16) == 0;
  }
  return 0;
}

/* Returns n bytes of stream-level credit (n <= c->unconsumed). */
static void call_credit(tc__call *c, size_t n) {
  tc_client *cl = c->cl;
  if (n && c->sid && c->gen == cl->conn.gen && cl->conn.ng) nghttp2_session_consume_stream(cl->conn.ng, c->sid, n);
  c->unconsumed -= n;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud) {
  tc_client *cl = ud;
  nghttp2_session_consume_connection(ng, len);
  tc__call *c = find_call(cl, sid);
  if (!c) { /* an abandoned stream, reset already */
    nghttp2_session_consume_stream(ng, sid, len);
    return 0;
  }
  c->received += len;
  /* The body of an HTTP error or of a non-gRPC response is not gRPC framing: ignore it (as gRPC does); the
   * status says what happened. */
  if (!c->err && c->http_status == 200 && c->grpc_content) {
    c->held += len;
    int rc = tc__deframe(&c->df, data, len, &c->q);
    if (!rc && c->unary && c->q.count > 1) rc = TC_EINTERNAL; /* as gRPC: fail now, do not buffer more */
    if (rc) {
      c->err = rc;
      if (rc == TC_ERESOURCE_EXHAUSTED)
        snprintf(c->errmsg, sizeof c->errmsg, "received message larger than max (%zu vs. %zu)", c->df.bad_len,
                 c->df.max);
      else if (rc == TC_EPROTO)
        snprintf(c->errmsg, sizeof c->errmsg, "compressed message, but no compression was negotiated");
      else if (rc == TC_EINTERNAL)
        snprintf(c->errmsg, sizeof c->errmsg, "more than one message in the response of a unary call");
      else
        snprintf(c->errmsg, sizeof c->errmsg, "out of memory receiving a message");
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
      c->reset = 1;
    }
  }
  c->unconsumed += len;
  /* Waiting with nothing queued: all of it is the message being received (or ignored bytes). */
  if (c->unary || c->err || (c->waiting && !c->q.head)) call_credit(c, c->unconsumed);
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t sid, uint32_t error_code, void *ud) {
  tc__call *c = find_call(ud, sid);
  if (!c) return 0;
  c->closed = 1;
  c->h2_error = error_code;
  if (error_code == NGHTTP2_REFUSED_STREAM) c->refused = 1;
  return 0;
}

/* A GOAWAY with an error code ends the session: keep why, for the error of the calls that were on it. */
static void note_goaway(tc_client *cl, const nghttp2_goaway *g, const char *who) {
  if (g->error_code == NGHTTP2_NO_ERROR) return;
  int n = (int)(g->opaque_data_len > 80 ? 80 : g->opaque_data_len);
  snprintf(cl->conn.why, sizeof cl->conn.why, "GOAWAY %s %s%s%.*s", who, nghttp2_http2_strerror(g->error_code),
           n ? ": " : "", n, g->opaque_data ? (const char *)g->opaque_data : "");
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud) {
  tc_client *cl = ud;
  if (fr->hd.type != NGHTTP2_GOAWAY) return 0;
  /* The server is going away (a restart, say): streams it has not seen will never be processed, which makes
   * them safe to retry even if they were not idempotent. No new stream goes on this connection. */
  cl->conn.goaway = 1;
  note_goaway(cl, &fr->goaway, "received:");
  for (tc__call *c = cl->calls; c; c = c->next)
    if (c->gen == cl->conn.gen && c->sid > fr->goaway.last_stream_id) c->refused = 1;
  return 0;
}

static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *fr, int lib_error, void *ud) {
  if (fr->hd.type != NGHTTP2_HEADERS) return 0;
  tc_client *cl = ud;
  /* nghttp2 starts no stream on this session any more (it is closing): the next call needs a new one */
  cl->conn.broken = 1;
  tc__call *c = find_call(cl, fr->hd.stream_id);
  if (c) {
    c->closed = 1;
    c->refused = 1; /* never left this process */
  }
  return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *fr, void *ud) {
  if (fr->hd.type == NGHTTP2_GOAWAY) note_goaway(ud, &fr->goaway, "sent:");
  return 0;
}

static ssize_t read_request(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *ud) {
  tc__call *c = find_call(ud, sid);
  if (!c) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  size_t n = c->req_len - c->req_off;
  if (n > len) n = len;
  memcpy(buf, c->req + c->req_off, n);
  c->req_off += n;
  if (c->req_off == c->req_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int session_new(tc_client *cl) {
  nghttp2_session_callbacks *cbs;
  nghttp2_option *opt;
  if (nghttp2_session_callbacks_new(&cbs)) return TC_ENOMEM;
  if (nghttp2_option_new(&opt)) {
    nghttp2_session_callbacks_del(cbs);
    return TC_ENOMEM;
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  int rv = nghttp2_session_client_new2(&cl->conn.ng, cbs, cl, opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rv) return TC_ENOMEM;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cl->opts.stream_window_bytes},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, MAX_FRAME},
  };
  rv = nghttp2_submit_settings(cl->conn.ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  if (!rv)
    rv = nghttp2_session_set_local_window_size(cl->conn.ng, NGHTTP2_FLAG_NONE, 0,
                                               (int32_t)cl->opts.connection_window_bytes);
  return rv ? TC_ENOMEM : TC_OK;
}

int tc__conn_ensure(tc_client *cl, int64_t deadline) {
  tc__conn *k = &cl->conn;
  tc__conn_check_pid(cl);
  if (k->fd >= 0 && (k->goaway || k->broken)) conn_drop(cl);
  if (k->fd >= 0) return TC_OK;
  if (!k->rbuf) {
    k->rbuf = malloc(RBUF_SIZE);
    if (!k->rbuf) return tc__seterr(cl, TC_ENOMEM, "out of memory");
    k->rcap = RBUF_SIZE;
  }
  int fd;
  int rc = tc__target_connect(&cl->target, deadline, &fd, cl->err, sizeof cl->err);
  if (rc) return rc;
  k->fd = fd;
  rc = session_new(cl);
  if (rc) {
    conn_drop(cl);
    return tc__seterr(cl, rc, "out of memory creating the HTTP/2 session");
  }
  k->gen = ++cl->gen_counter;
  k->pid = cl->pid;
  return TC_OK;
}

/* ---- I/O ---- */

static int wbuf_append(tc__conn *k, const uint8_t *d, size_t n) {
  if (k->woff > 0) { /* keep the pending bytes at the front */
    memmove(k->wbuf, k->wbuf + k->woff, k->wlen - k->woff);
    k->wlen -= k->woff;
    k->woff = 0;
  }
  if (k->wlen + n > k->wcap) {
    size_t cap = k->wcap ? k->wcap : 16384;
    while (cap < k->wlen + n) cap *= 2;
    unsigned char *p = realloc(k->wbuf, cap);
    if (!p) return -1;
    k->wbuf = p;
    k->wcap = cap;
  }
  memcpy(k->wbuf + k->wlen, d, n);
  k->wlen += n;
  return 0;
}

/* nghttp2 is done with a session that it neither reads nor writes: it sent a GOAWAY for a connection
 * error (the peer broke HTTP/2: mem_recv still returns >= 0), or a GOAWAY was exchanged and no stream is
 * left. Nothing would read the socket again and a call would wait until its deadline: the connection failed
 * (TC_EUNAVAILABLE, as any lost connection: idempotent calls retry on a new one). */
static int conn_check_done(tc_client *cl) {
  tc__conn *k = &cl->conn;
  if (nghttp2_session_want_read(k->ng) || nghttp2_session_want_write(k->ng)) return TC_OK;
  return conn_fail(cl, 0, k->why[0] ? k->why : "the HTTP/2 session ended");
}

/* Serializes what nghttp2 has to send and writes as much as the socket takes without blocking. */
static int conn_flush(tc_client *cl) {
  tc__conn *k = &cl->conn;
  for (;;) {
    while (k->wlen - k->woff < WBUF_SOFT) {
      const uint8_t *d;
      ssize_t n = nghttp2_session_mem_send(k->ng, &d);
      if (n < 0) return conn_fail(cl, 0, nghttp2_strerror((int)n));
      if (n == 0) break;
      if (wbuf_append(k, d, (size_t)n)) {
        conn_drop(cl);
        return tc__seterr(cl, TC_ENOMEM, "out of memory");
      }
    }
    if (k->woff == k->wlen) {
      k->woff = k->wlen = 0;
      return conn_check_done(cl); /* after the last bytes (a GOAWAY, say) went out */
    }
    ssize_t s = send(k->fd, k->wbuf + k->woff, k->wlen - k->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (s < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return TC_OK;
      return conn_fail(cl, errno, "send");
    }
    k->woff += (size_t)s;
    if (k->woff < k->wlen) return TC_OK; /* the socket is full: the caller polls for POLLOUT */
  }
}

/* Waits for input (or for room to write) until deadline, and feeds what arrives to nghttp2. Returns TC_OK
 * when something may have changed; TC_EDEADLINE_EXCEEDED; or an error (the connection is gone). */
static int conn_read(tc_client *cl, int64_t deadline) {
  tc__conn *k = &cl->conn;
  int64_t now = tc__now_ms();
  if (deadline != TC__NO_DEADLINE && now >= deadline) return TC_EDEADLINE_EXCEEDED;
  short revents = POLLIN;
  if (!k->rfull) { /* else more is probably waiting: skip the poll */
    int64_t left = deadline == TC__NO_DEADLINE ? -1 : deadline - now;
    struct pollfd p = {.fd = k->fd, .events = POLLIN};
    if (k->woff < k->wlen) p.events |= POLLOUT;
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r < 0) return errno == EINTR ? TC_OK : conn_fail(cl, errno, "poll");
    /* Not an open descriptor any more (closed under us): poll would say so at once, for ever. */
    if (p.revents & POLLNVAL) return conn_fail(cl, EBADF, "poll");
    if (r == 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) return TC_OK;
    revents = p.revents;
  }
  ssize_t n = recv(k->fd, k->rbuf, k->rcap, MSG_DONTWAIT);
  if (n < 0) {
    int e = errno;
    k->rfull = 0;
    if (e == EINTR) return TC_OK;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      if (!(revents & POLLERR)) return TC_OK;
      /* an error condition that recv does not report: poll would return at once again */
      socklen_t len = sizeof e;
      if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &len) || !e) e = EIO;
    }
    return conn_fail(cl, e, "recv");
  }
  if (n == 0) return conn_fail(cl, 0, "closed by the server");
  k->rfull = (size_t)n == k->rcap;
  ssize_t rv = nghttp2_session_mem_recv(k->ng, k->rbuf, (size_t)n);
  if (rv < 0) return conn_fail(cl, 0, nghttp2_strerror((int)rv));
  return conn_check_done(cl);
}

/* ---- calls ---- */

void tc__call_init(tc__call *c, tc_client *cl) {
  memset(c, 0, sizeof *c);
  c->cl = cl;
  c->grpc_status = -1;
  tc__deframer_init(&c->df, cl->opts.max_recv_message_bytes);
}

static void call_link(tc__call *c) {
  tc_client *cl = c->cl;
  c->prev = NULL;
  c->next = cl->calls;
  if (cl->calls) cl->calls->prev = c;
  cl->calls = c;
}

static void call_unlink(tc__call *c) {
  tc_client *cl = c->cl;
  if (!c->prev && cl->calls != c) return; /* not linked */
  if (c->prev)
    c->prev->next = c->next;
  else if (cl->calls == c)
    cl->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
}

#define NV(n, v, f)                                                                                                    \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME | (f) }

int tc__call_start(tc__call *c, const char *path, const uint8_t *req, size_t len, int64_t deadline, int send_timeout) {
  tc_client *cl = c->cl;
  tc__conn *k = &cl->conn;
  char timeout[16];
  /* Names and the values that outlive the call are not copied; the timeout is on the stack. */
  nghttp2_nv nv[8] = {
      NV(":method", "POST", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV(":scheme", "http", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV(":path", path, NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV(":authority", cl->authority, NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV("content-type", "application/grpc", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV("te", "trailers", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
      NV("user-agent", "tablecar-c/0.1.0", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
  };
  size_t nnv = 7;
  if (send_timeout && deadline != TC__NO_DEADLINE) {
    tc__grpc_timeout(deadline - tc__now_ms(), timeout);
    nv[nnv++] = (nghttp2_nv)NV("grpc-timeout", timeout, 0);
  }
  c->req = req;
  c->req_len = len;
  c->req_off = 0;
  nghttp2_data_provider dp = {.source.ptr = NULL, .read_callback = read_request};
  int32_t sid = nghttp2_submit_request(k->ng, NULL, nv, nnv, &dp, NULL);
  if (sid == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) { /* after 2^30 calls: a new connection */
    k->goaway = 1;
    c->refused = 1;
    return tc__seterr(cl, TC_EUNAVAILABLE, "stream ids exhausted");
  }
  if (sid < 0) return tc__seterr(cl, TC_ENOMEM, "nghttp2_submit_request: %s", nghttp2_strerror(sid));
  c->sid = sid;
  c->gen = k->gen;
  call_link(c);
  int rc = conn_flush(cl);
  if (rc == TC_EUNAVAILABLE) c->lost = 1;
  return rc;
}

static int call_wait(tc__call *c, int64_t deadline, int want_msg) {
  tc_client *cl = c->cl;
  tc__conn *k = &cl->conn;
  for (;;) {
    if (want_msg && c->q.head) return TC_OK;
    if (c->err || c->closed || c->refused) return TC_OK; /* refused: see tc__call_status */
    if (c->gen != k->gen || k->fd < 0) {
      c->lost = 1;
      if (!cl->err[0]) tc__seterr(cl, 0, "connection to %s lost", cl->target.authority);
      return TC_EUNAVAILABLE;
    }
    int rc = conn_flush(cl);
    if (!rc) rc = conn_read(cl, deadline);
    if (rc == TC_EDEADLINE_EXCEEDED) return tc__seterr(cl, rc, "deadline exceeded");
    if (rc == TC_ENOMEM) return rc;
    /* Connection errors show as a changed generation on the next turn. */
  }
}

int tc__call_wait(tc__call *c, int64_t deadline, int want_msg) {
  if (c->unary || (want_msg && c->q.head)) return call_wait(c, deadline, want_msg);
  /* A stream with nothing queued: what it holds is part of the next message (or ignored); return its
   * credit, and the credit of what arrives while nothing is queued (see on_data). */
  call_credit(c, c->unconsumed);
  c->waiting = 1;
  int rc = call_wait(c, deadline, want_msg);
  c->waiting = 0;
  return rc;
}

tc__msg *tc__call_pop(tc__call *c) {
  tc__msg *m = tc__msgq_pop(&c->q);
  if (!m) return NULL;
  c->held -= 5 + m->len;
  /* Keep uncredited only the bytes still held (queued messages, the partial one): m's are returned. */
  if (c->unconsumed > c->held) call_credit(c, c->unconsumed - c->held);
  return m;
}

int tc__call_status(tc__call *c) {
  tc_client *cl = c->cl;
  if (c->err) return tc__seterr(cl, c->err, "%s", c->errmsg);
  if (c->grpc_status > 0)
    return tc__seterr(cl, c->grpc_status, "%s", c->grpc_message ? c->grpc_message : tc_strerror(c->grpc_status));
  if (c->grpc_status == 0) return TC_OK;
  if (c->http_status > 0 && c->http_status != 200)
    return tc__seterr(cl, tc__http_to_grpc(c->http_status), "HTTP status %d", c->http_status);
  if (c->refused) return tc__seterr(cl, TC_EUNAVAILABLE, "the server refused the stream (it is going away)");
  if (c->h2_error)
    return tc__seterr(cl, tc__h2_error_to_grpc(c->h2_error), "stream reset by the server: %s",
                      nghttp2_http2_strerror(c->h2_error));
  if (c->http_status == 200 && !c->grpc_content)
    return tc__seterr(cl, TC_EUNKNOWN, "the response is not gRPC (content-type)");
  return tc__seterr(cl, TC_EINTERNAL, "the server closed the stream without a grpc-status");
}

void tc__call_end(tc__call *c) {
  tc_client *cl = c->cl;
  if (c->sid && !c->closed && !c->reset && c->gen == cl->conn.gen && cl->conn.fd >= 0) {
    /* Still running (deadline, error, stream dropped early): tell the server to stop. */
    char keep[sizeof cl->err];
    memcpy(keep, cl->err, sizeof keep); /* the call's error matters more than the flush's */
    nghttp2_submit_rst_stream(cl->conn.ng, NGHTTP2_FLAG_NONE, c->sid, NGHTTP2_CANCEL);
    conn_flush(cl);
    memcpy(cl->err, keep, sizeof keep);
  }
  call_unlink(c);
  c->sid = 0;
  free(c->grpc_message);
  c->grpc_message = NULL;
  tc__deframer_free(&c->df);
  tc__msgq_free(&c->q);
}
