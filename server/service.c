/* service.c: see service.h.
 *
 * A call's life: NEW (grpc_server_request_call completed) -> RECV (the request message) -> one of
 *   unary:  FINISH (initial metadata + response + status in one batch);
 *   stream: SEND, SEND, ... then FINISH; each batch is produced only when the previous one was taken by
 *           the transport, which is the flow control: a slow reader is never buried;
 *   watch:  SEND on every health change, FINISH when the server drains.
 * Besides, a RECV_CLOSE_ON_SERVER op tells when the client went away. A call holds two references, one
 * for its op chain and one for that close op, and is freed when both are gone.
 */
#include "service.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "acceptor.h"
#include "call_deadline.h"
#include "log.h"
#include "metrics.h"
#include "pack.h"
#include "stall.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* The server's statuses go on the wire as they are: the public header's list must be gRPC core's. */
/* clang-format off */
#define TS_XX_GRPC(name, code) _Static_assert(code == (int)GRPC_STATUS_##name, "TC_STATUS_MAP: " #name);
#define TS_XX_LOCAL(name, code, msg)
TC_STATUS_MAP(TS_XX_GRPC, TS_XX_LOCAL)
#undef TS_XX_GRPC
#undef TS_XX_LOCAL
/* clang-format on */

/* gRPC core and Abseil from Debian are not built with ThreadSanitizer: the completion queue's handoff of a
 * tag (a batch started on one thread, its completion taken on another) is invisible to it, and every access
 * to a call after it would be reported. Under TSan the handoff is annotated: a release on the tag before
 * each batch (and request), an acquire when it comes back. A call's last reference is an atomic, which
 * TSan sees, so freeing it is ordered after every thread's use. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define HANDOFF_RELEASE(p) __tsan_release(p)
#define HANDOFF_ACQUIRE(p) __tsan_acquire(p)
#else
#define HANDOFF_RELEASE(p) ((void)(p))
#define HANDOFF_ACQUIRE(p) ((void)(p))
#endif

enum kind { K_UNARY, K_STREAM, K_CHECK, K_WATCH };

typedef struct method {
  const char *path;
  enum kind kind;
  const ProtobufCMessageDescriptor *request;
  ts_unary_fn unary;
} method;

static const method methods[] = {
    {"/tablecar.v1.Tablecar/ListTables", K_UNARY, &tablecar__v1__list_tables_request__descriptor, ts_h_list_tables},
    {"/tablecar.v1.Tablecar/DescribeTable", K_UNARY, &tablecar__v1__describe_table_request__descriptor,
     ts_h_describe_table},
    {"/tablecar.v1.Tablecar/TakeRows", K_UNARY, &tablecar__v1__take_rows_request__descriptor, ts_h_take_rows},
    {"/tablecar.v1.Tablecar/CreatePermutation", K_UNARY, &tablecar__v1__create_permutation_request__descriptor,
     ts_h_create_permutation},
    {"/tablecar.v1.Tablecar/DescribePermutation", K_UNARY, &tablecar__v1__describe_permutation_request__descriptor,
     ts_h_describe_permutation},
    {"/tablecar.v1.Tablecar/ReadBatch", K_UNARY, &tablecar__v1__read_batch_request__descriptor, ts_h_read_batch},
    {"/tablecar.v1.Tablecar/StreamBatches", K_STREAM, &tablecar__v1__stream_batches_request__descriptor, NULL},
    {"/grpc.health.v1.Health/Check", K_CHECK, &grpc__health__v1__health_check_request__descriptor, NULL},
    {"/grpc.health.v1.Health/Watch", K_WATCH, &grpc__health__v1__health_check_request__descriptor, NULL},
};

enum op { OP_NEW, OP_RECV, OP_SEND, OP_FINISH, OP_CLOSE, OP_SHUTDOWN };

typedef struct call call;

typedef struct tag {
  call *c;
  enum op op;
} tag;

struct call {
  ts_server *srv;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  tag t_new, t_recv, t_send, t_finish, t_close;
  atomic_int refs;
  int counted;             /* a real call (its OP_NEW succeeded), counted in srv->active */
  int health_only;         /* it came through the health-only server */
  struct timespec started; /* OP_NEW: the call's latency is counted when it is freed */
  int status;              /* the status sent (CANCELLED until one is) */
  int stream_counted;      /* counted in the metrics' open streams */
  const method *m;
  grpc_byte_buffer *recv, *send;
  int cancelled; /* set by RECV_CLOSE_ON_SERVER */
  int sent_initial;
  grpc_slice status_text;
  int has_status_text;
  ts_stream *stream;
  /* Watch: guarded by srv->watch_lock. */
  int watching, sending, closed;
  int last_sent; /* the status last sent, -1 before the first */
  call *wnext, *wprev;
  ts_stall_entry stall; /* a stream's pending send, watched for --stall-seconds */
};

struct ts_server {
  grpc_server *server;
  grpc_server *health; /* --health-listen: probes reach health here and no table, or NULL */
  grpc_completion_queue *cq;
  ts_ctx ctx;
  int n_threads;
  pthread_t *threads;
  tag t_shutdown;
  atomic_int draining;
  atomic_int shut_started; /* start_shutdown ran (once) */
  atomic_int shut;         /* grpc_server_shutdown_and_notify has been called */
  atomic_int shut_done;    /* ... and its tags have come back (every connection is gone) */
  atomic_int shut_pending; /* shutdown tags still to come back: one per grpc_server */
  atomic_int stopped;      /* the queue is shut down and on_stopped has run (once) */
  atomic_long active;      /* calls from OP_NEW until freed */
  pthread_mutex_t watch_lock;
  int serving; /* a HealthCheckResponse status; guarded by watch_lock */
  call *watchers;
  void (*on_stopped)(void *);
  void *arg;
  ts_stall *stall;       /* NULL: no --stall-seconds */
  ts_acceptor *acceptor; /* the listening sockets */
};

/* ---- calls ------------------------------------------------------------------------------------------ */

static void request_next(ts_server *s, int health_only);

static void cancel_calls(ts_server *s) {
  grpc_server_cancel_all_calls(s->server);
  if (s->health) grpc_server_cancel_all_calls(s->health);
}

/* Draining with no call left: only connections hold the shutdown up, and gRPC waits for every one of them
 * to close. A thread-free client (libtablecar: a DataLoader worker between epochs, say) never reads the
 * GOAWAY while idle, so it never closes, and SIGTERM took the whole --drain-seconds. Closing them now is
 * what the drain deadline does, without the wait; a client's next call reconnects (and retries). */
static void close_if_idle(ts_server *s) {
  if (atomic_load(&s->shut) && atomic_load(&s->active) == 0) cancel_calls(s);
}

/* gRPC's own shutdown: GOAWAY on every connection, requested calls fail, and the shutdown tag comes back
 * once the connections are gone. It waits until the drain has no call left (or its deadline): until then a
 * new call on an open connection is answered UNAVAILABLE by on_new, whereas after it gRPC core resets a
 * call that crossed the GOAWAY on the wire with CANCEL, which a client sees as CANCELLED. */
static void start_shutdown(ts_server *s) {
  if (atomic_exchange(&s->shut_started, 1)) return;
  atomic_store(&s->shut_pending, s->health ? 2 : 1);
  HANDOFF_RELEASE(&s->t_shutdown);
  grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
  if (s->health) grpc_server_shutdown_and_notify(s->health, s->cq, &s->t_shutdown);
  atomic_store(&s->shut, 1);
  close_if_idle(s);
}

/* The server's shutdown tag comes back once every connection is gone, which can be before our handlers
 * are done (a slow CreatePermutation whose client left): the queue is shut down only when both happened,
 * since a handler finishing later starts a batch on it, and gRPC aborts on a shut-down queue. */
static void stop_if_done(ts_server *s) {
  if (atomic_load(&s->shut_done) && atomic_load(&s->active) == 0 && !atomic_exchange(&s->stopped, 1)) {
    grpc_completion_queue_shutdown(s->cq);
    if (s->on_stopped) s->on_stopped(s->arg);
  }
}

static int method_index(const call *c) { return c->m ? (int)(c->m - methods) : -1; }

/* A counted call ends: its status and its whole life, arrival to the last op, go to the metrics. */
static void count_call(const call *c) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double secs = (double)(now.tv_sec - c->started.tv_sec) + (double)(now.tv_nsec - c->started.tv_nsec) / 1e9;
  ts_metrics_call(method_index(c), c->status, secs);
  if (c->stream_counted) ts_metrics_streams(-1);
}

/* The rows of a response message when it is a Batch. Read before packing: ts_pack() may free the message. */
static uint64_t message_rows(const ProtobufCMessage *m) {
  if (m->descriptor == &tablecar__v1__batch__descriptor && ((const Tablecar__V1__Batch *)m)->num_rows > 0)
    return (uint64_t)((const Tablecar__V1__Batch *)m)->num_rows;
  return 0;
}

/* Counts a response message: its packed bytes and its rows. */
static void count_sent(const call *c, uint64_t rows, grpc_byte_buffer *bb) {
  ts_metrics_sent(method_index(c), grpc_byte_buffer_length(bb), rows);
}

static void call_unref(call *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  ts_server *s = c->srv;
  int counted = c->counted;
  if (counted) count_call(c);
  if (c->call) grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  if (c->recv) grpc_byte_buffer_destroy(c->recv);
  if (c->send) grpc_byte_buffer_destroy(c->send);
  if (c->has_status_text) grpc_slice_unref(c->status_text);
  ts_stall_disarm(s->stall, &c->stall);
  ts_h_stream_close(c->stream);
  free(c);
  if (counted && atomic_fetch_sub(&s->active, 1) == 1) {
    if (atomic_load(&s->draining)) start_shutdown(s);
    close_if_idle(s);
    stop_if_done(s);
  }
}

static void start(call *c, const grpc_op *ops, size_t n, tag *t) {
  grpc_call *gc = c->call; /* the completion may free c at once, on another thread */
  HANDOFF_RELEASE(t);
  grpc_call_error e = grpc_call_start_batch(gc, ops, n, t, NULL);
  if (e != GRPC_CALL_OK) {
    /* Only a programming error gets here; dropping the op chain's reference cancels the call. */
    ts_log(TS_ERROR, "grpc_start_batch_failed", TS_I("code", e), NULL);
    call_unref(c);
  }
}

/* Adds the initial metadata op the first time a call sends anything. */
static size_t add_initial(call *c, grpc_op *ops) {
  if (c->sent_initial) return 0;
  c->sent_initial = 1;
  memset(ops, 0, sizeof *ops);
  ops->op = GRPC_OP_SEND_INITIAL_METADATA;
  return 1;
}

/* Ends the call with STATUS, after RESPONSE when there is one; OWNED: RESPONSE itself, taken over (else
 * ownership of RESPONSE stays with the caller). */
static void finish_with(call *c, ts_status status, const char *text, const ProtobufCMessage *response,
                        ProtobufCMessage *owned) {
  grpc_op ops[3];
  size_t n = add_initial(c, ops);
  if (owned && !(response && status == TC_OK)) protobuf_c_message_free_unpacked(owned, NULL);
  if (response && status == TC_OK) {
    uint64_t rows = message_rows(response);
    if (!(c->send = ts_pack(response, owned))) {
      status = TC_ERESOURCE_EXHAUSTED;
      text = "out of memory";
    } else {
      count_sent(c, rows, c->send);
      memset(&ops[n], 0, sizeof ops[n]);
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n++].data.send_message.send_message = c->send;
    }
  }
  memset(&ops[n], 0, sizeof ops[n]);
  c->status = (int)status;
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)status;
  if (text && *text) {
    c->status_text = grpc_slice_from_copied_string(text);
    c->has_status_text = 1;
    ops[n].data.send_status_from_server.status_details = &c->status_text;
  }
  n++;
  if (status != TC_OK)
    ts_log(TS_DEBUG, "call_failed", TS_S("method", c->m ? c->m->path : "?"), TS_I("status", status),
           TS_S("message", text ? text : ""), NULL);
  start(c, ops, n, &c->t_finish);
}

static void finish(call *c, ts_status status, const char *text, const ProtobufCMessage *response) {
  finish_with(c, status, text, response, NULL);
}

/* Sends one message of a stream; the SEND completion asks for the next. -1 when it could not (out of
 * memory): the call has been finished instead. OWNED: M itself, taken over (see pack.h). */
static int send_message_with(call *c, const ProtobufCMessage *m, ProtobufCMessage *owned) {
  if (c->send) {
    grpc_byte_buffer_destroy(c->send);
    c->send = NULL;
  }
  uint64_t rows = message_rows(m);
  if (!(c->send = ts_pack(m, owned))) {
    finish(c, TC_ERESOURCE_EXHAUSTED, "out of memory", NULL);
    return -1;
  }
  count_sent(c, rows, c->send);
  grpc_op ops[2];
  size_t n = add_initial(c, ops);
  memset(&ops[n], 0, sizeof ops[n]);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = c->send;
  if (c->m->kind == K_STREAM) ts_stall_arm(c->srv->stall, &c->stall, c->call);
  start(c, ops, n, &c->t_send);
  return 0;
}

static int send_message(call *c, const ProtobufCMessage *m) { return send_message_with(c, m, NULL); }

/* ---- StreamBatches ---------------------------------------------------------------------------------- */

/* Makes C's deadline the thread's call deadline (call_deadline.h) while a handler of C runs on it. */
static void deadline_enter(const call *c) {
  gpr_timespec d = c->details.deadline;
  if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0) {
    ts_call_deadline_set(0);
    return;
  }
  int64_t left = gpr_time_to_millis(gpr_time_sub(d, gpr_now(d.clock_type)));
  ts_call_deadline_set(ts_mono_ms() + (left > 0 ? left : -1)); /* -1: passed already */
}

static void deadline_leave(void) { ts_call_deadline_set(0); }

static void stream_next(call *c) {
  ProtobufCMessage *batch;
  ts_error err = {0};
  deadline_enter(c);
  ts_status st = ts_h_stream_next(c->stream, &batch, &err);
  deadline_leave();
  if (st != TC_OK) {
    finish(c, err.code, err.msg, NULL);
  } else if (!batch) {
    finish(c, TC_OK, NULL, NULL);
  } else {
    (void)send_message_with(c, batch, batch); /* on failure the call is finished */
  }
}

/* ---- grpc.health.v1 --------------------------------------------------------------------------------- */

static int health_of(ts_server *s, const char *service) {
  if (*service && strcmp(service, "tablecar.v1.Tablecar") != 0)
    return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
  pthread_mutex_lock(&s->watch_lock);
  int st = s->serving;
  pthread_mutex_unlock(&s->watch_lock);
  return st;
}

static void check(call *c, const Grpc__Health__V1__HealthCheckRequest *req) {
  int st = health_of(c->srv, req->service);
  if (st == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
    finish(c, TC_ENOT_FOUND, "unknown service", NULL);
    return;
  }
  Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  r.status = st;
  finish(c, TC_OK, NULL, &r.base);
}

static void watch_unlink(ts_server *s, call *c) {
  if (c->wprev)
    c->wprev->wnext = c->wnext;
  else
    s->watchers = c->wnext;
  if (c->wnext) c->wnext->wprev = c->wprev;
  c->watching = 0;
}

/* Brings one idle watcher up to date: sends the current status if it differs from the last one sent, and
 * once the server drains and NOT_SERVING went out, ends the stream. Called with watch_lock held. */
static void watch_kick(call *c) {
  ts_server *s = c->srv;
  if (c->sending || !c->watching) return;
  int st = s->serving;
  if (st != c->last_sent) {
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = st;
    c->last_sent = st;
    c->sending = 1;
    if (send_message(c, &r.base) != 0) { /* finished: it must not stay on the list */
      c->sending = 0;
      watch_unlink(s, c);
    }
  } else if (atomic_load(&s->draining)) {
    watch_unlink(s, c);
    finish(c, TC_EUNAVAILABLE, "the server is shutting down", NULL);
  }
}

static void watch_start(call *c, const Grpc__Health__V1__HealthCheckRequest *req) {
  ts_server *s = c->srv;
  if (*req->service && strcmp(req->service, "tablecar.v1.Tablecar") != 0) {
    /* As the health protocol says: an unknown service is reported, not refused, and may appear later. */
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    finish(c, TC_OK, NULL, &r.base);
    return;
  }
  pthread_mutex_lock(&s->watch_lock);
  c->watching = 1;
  c->last_sent = -1;
  c->wnext = s->watchers;
  if (s->watchers) s->watchers->wprev = c;
  s->watchers = c;
  watch_kick(c);
  pthread_mutex_unlock(&s->watch_lock);
}

/* A watcher's SEND completed: send what changed since, or go idle; drop it if the client left. */
static void watch_sent(call *c, int ok) {
  ts_server *s = c->srv;
  pthread_mutex_lock(&s->watch_lock);
  c->sending = 0;
  if (!ok || c->closed) {
    if (c->watching) watch_unlink(s, c);
    pthread_mutex_unlock(&s->watch_lock);
    call_unref(c);
    return;
  }
  watch_kick(c);
  pthread_mutex_unlock(&s->watch_lock);
}

static void set_serving(ts_server *s, int status) {
  pthread_mutex_lock(&s->watch_lock);
  s->serving = status;
  for (call *c = s->watchers, *next; c; c = next) {
    next = c->wnext;
    watch_kick(c);
  }
  pthread_mutex_unlock(&s->watch_lock);
}

/* ---- dispatch --------------------------------------------------------------------------------------- */

/* The health-only server knows grpc.health.v1 and nothing else: a table method through it is unknown. */
static const method *find_method(grpc_slice path, int health_only) {
  for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
    if (grpc_slice_str_cmp(path, methods[i].path) == 0)
      return health_only && methods[i].kind != K_CHECK && methods[i].kind != K_WATCH ? NULL : &methods[i];
  return NULL;
}

static ProtobufCMessage *unpack_request(call *c) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->recv)) return NULL;
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCMessage *m =
      protobuf_c_message_unpack(c->m->request, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  return m;
}

static void run_method(call *c, ProtobufCMessage *req) {
  ts_error err = {0};
  switch (c->m->kind) {
  case K_UNARY: {
    ProtobufCMessage *resp = NULL;
    ts_status st = c->m->unary(&c->srv->ctx, req, &resp, &err);
    finish_with(c, st, err.msg, resp, resp);
    break;
  }
  case K_STREAM:
    if (ts_h_stream_open(&c->srv->ctx, req, &c->stream, &err) != TC_OK) {
      finish(c, err.code, err.msg, NULL);
    } else {
      c->stream_counted = 1;
      ts_metrics_streams(1);
      stream_next(c);
    }
    break;
  case K_CHECK: check(c, (const void *)req); break;
  case K_WATCH:
    c->stream_counted = 1;
    ts_metrics_streams(1);
    watch_start(c, (const void *)req);
    break;
  }
}

static void run(call *c, ProtobufCMessage *req) {
  deadline_enter(c);
  run_method(c, req);
  deadline_leave();
}

static void on_recv(call *c, int ok) {
  if (!ok) {
    call_unref(c);
    return;
  }
  if (!c->recv) {
    finish(c, TC_EINVALID_ARGUMENT, "the call carried no request message", NULL);
    return;
  }
  ProtobufCMessage *req = unpack_request(c);
  if (!req) {
    finish(c, TC_EINVALID_ARGUMENT, "the request message is not a valid protobuf of the method's type", NULL);
    return;
  }
  run(c, req);
  protobuf_c_message_free_unpacked(req, NULL);
}

static void on_new(call *c, int ok) {
  ts_server *s = c->srv;
  if (!ok) { /* the server is shutting down */
    call_unref(c);
    return;
  }
  if (!atomic_load(&s->shut)) request_next(s, c->health_only); /* draining too: to refuse the next call */
  c->counted = 1;
  c->status = TC_ECANCELLED;
  clock_gettime(CLOCK_MONOTONIC, &c->started);
  atomic_fetch_add(&s->active, 1);
  atomic_store(&c->refs, 2);
  grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
  close.data.recv_close_on_server.cancelled = &c->cancelled;
  /* before the close op starts: its completion (a client leaving at once) may run on another thread and
   * reads c->m (TSan found it written after) */
  c->m = find_method(c->details.method, c->health_only);
  start(c, &close, 1, &c->t_close);
  if (!c->m) {
    finish(c, TC_EUNIMPLEMENTED, "unknown method", NULL);
    return;
  }
  if (atomic_load(&s->draining) && c->m->kind != K_CHECK) { /* a health Check answers NOT_SERVING */
    finish(c, TC_EUNAVAILABLE, "the server is shutting down", NULL);
    return;
  }
  grpc_op recv = {.op = GRPC_OP_RECV_MESSAGE};
  recv.data.recv_message.recv_message = &c->recv;
  start(c, &recv, 1, &c->t_recv);
}

static void on_close(call *c) {
  if (c->m && c->m->kind == K_WATCH) {
    ts_server *s = c->srv;
    pthread_mutex_lock(&s->watch_lock);
    c->closed = 1;
    int idle = c->watching && !c->sending;
    if (idle) watch_unlink(s, c);
    pthread_mutex_unlock(&s->watch_lock);
    if (idle) call_unref(c); /* the op chain's reference: no op of it is pending */
  }
  call_unref(c);
}

static void on_send(call *c, int ok) {
  if (c->m->kind == K_STREAM) ts_stall_disarm(c->srv->stall, &c->stall);
  if (c->m->kind == K_WATCH) {
    watch_sent(c, ok);
  } else if (!ok) {
    call_unref(c); /* the client went away mid-stream */
  } else {
    stream_next(c);
  }
}

static void dispatch(tag *t, int ok) {
  switch (t->op) {
  case OP_NEW: on_new(t->c, ok); break;
  case OP_RECV: on_recv(t->c, ok); break;
  case OP_SEND: on_send(t->c, ok); break;
  case OP_FINISH: call_unref(t->c); break;
  case OP_CLOSE: on_close(t->c); break;
  case OP_SHUTDOWN: break;
  }
}

static void request_next(ts_server *s, int health_only) {
  call *c = calloc(1, sizeof *c);
  if (!c) {
    ts_log(TS_ERROR, "out_of_memory", TS_S("where", "request_next"), NULL);
    return;
  }
  c->srv = s;
  c->health_only = health_only;
  atomic_init(&c->refs, 1);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  c->t_new = (tag){c, OP_NEW};
  c->t_recv = (tag){c, OP_RECV};
  c->t_send = (tag){c, OP_SEND};
  c->t_finish = (tag){c, OP_FINISH};
  c->t_close = (tag){c, OP_CLOSE};
  HANDOFF_RELEASE(&c->t_new);
  grpc_call_error e = grpc_server_request_call(health_only ? s->health : s->server, &c->call, &c->details, &c->md,
                                               s->cq, s->cq, &c->t_new);
  if (e != GRPC_CALL_OK) {
    call_unref(c);
  }
}

/* ---- threads and lifecycle -------------------------------------------------------------------------- */

static void *cq_thread(void *arg) {
  ts_server *s = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return NULL;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    tag *t = ev.tag;
    HANDOFF_ACQUIRE(t);
    if (t->op == OP_SHUTDOWN) {
      if (atomic_fetch_sub(&s->shut_pending, 1) != 1) continue; /* the other server is still closing */
      atomic_store(&s->shut_done, 1);
      stop_if_done(s);
      continue;
    }
    dispatch(t, ev.success);
  }
}

/* The limits on connections (service.h): gRPC core's own. */
static size_t limit_args(const ts_server_options *o, grpc_arg *a) {
  static char max_streams[] = GRPC_ARG_MAX_CONCURRENT_STREAMS, idle[] = GRPC_ARG_MAX_CONNECTION_IDLE_MS;
  size_t n = 0;
  if (o->max_streams > 0)
    a[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER, .key = max_streams, .value.integer = o->max_streams};
  if (o->idle_seconds > 0) {
    double ms = o->idle_seconds * 1000;
    a[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                        .key = idle,
                        .value.integer = ms >= INT32_MAX ? INT32_MAX
                                         : ms < 1        ? 1
                                                         : (int)ms};
  }
  return n;
}

static void server_args(const ts_server_options *o, grpc_arg a[4], grpc_channel_args *args) {
  static char max_send[] = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, max_recv[] = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  size_t send_limit = o->ctx.max_message_bytes + (1 << 20); /* the batch limit is checked by gather */
  a[0] = (grpc_arg){
      .type = GRPC_ARG_INTEGER, .key = max_send, .value.integer = send_limit > INT32_MAX ? INT32_MAX : (int)send_limit};
  a[1] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                    .key = max_recv,
                    .value.integer = o->max_request_bytes > INT32_MAX ? INT32_MAX : (int)o->max_request_bytes};
  *args = (grpc_channel_args){.num_args = 2 + limit_args(o, a + 2), .args = a};
}

/* Batches are gathered into new heap buffers, freed once written. By default glibc serves large ones with
 * mmap (or trims them back to the kernel on free), so every batch faulted in fresh pages and the first
 * write to fresh memory runs at a fraction of memcpy's speed. Keeping them in the heap (up to glibc's
 * largest mmap threshold, 32 MiB) reuses the same warm pages batch after batch. */
static void keep_batch_memory(void) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

/* Binds every data address: ours (acceptor.h), or gRPC's listener for the forms the acceptor leaves to it;
 * then the health-only address, on a second gRPC server on the same queue, so that a call knows which one
 * it came through. */
static int listen_all(ts_server *s, const ts_server_options *o, char *err, size_t errlen) {
  if (!(s->acceptor = ts_acceptor_new(s->server, o->max_connections, o->socket_mode))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int rc = 0;
  for (size_t i = 0; i < o->n_listen && !rc; i++) {
    char why[256] = "";
    int r = ts_acceptor_listen(s->acceptor, o->listen[i], why, sizeof why);
    if (r == 1) r = grpc_server_add_http2_port(s->server, o->listen[i], creds) ? 0 : -1;
    if (r != 0) {
      snprintf(err, errlen, "cannot listen on %s%s%s", o->listen[i], *why ? ": " : "", why);
      rc = -1;
    }
  }
  if (!rc && o->health_listen) {
    s->health = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(s->health, s->cq, NULL);
    if (!grpc_server_add_http2_port(s->health, o->health_listen, creds)) {
      snprintf(err, errlen, "cannot listen on %s", o->health_listen);
      rc = -1;
    }
  }
  grpc_server_credentials_release(creds);
  return rc;
}

ts_server *ts_server_start(const ts_server_options *o, char *err, size_t errlen) {
  keep_batch_memory();
  ts_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  const char *paths[sizeof methods / sizeof *methods];
  for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) paths[i] = methods[i].path;
  ts_metrics_set_methods(paths, sizeof methods / sizeof *methods);
  s->ctx = o->ctx;
  s->on_stopped = o->on_stopped;
  s->arg = o->arg;
  s->serving = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  s->t_shutdown = (tag){NULL, OP_SHUTDOWN};
  pthread_mutex_init(&s->watch_lock, NULL);
  grpc_arg a[4];
  grpc_channel_args args;
  server_args(o, a, &args);
  s->server = grpc_server_create(&args, NULL);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);
  if (listen_all(s, o, err, errlen) != 0) {
    ts_acceptor_free(s->acceptor);
    grpc_server_destroy(s->server);
    if (s->health) grpc_server_destroy(s->health);
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_destroy(s->cq);
    free(s);
    return NULL;
  }
  grpc_server_start(s->server);
  if (s->health) grpc_server_start(s->health);
  if (ts_acceptor_start(s->acceptor) != 0) ts_log(TS_ERROR, "acceptor_not_started", NULL);
  s->stall = ts_stall_new(o->stall_seconds);
  s->n_threads = o->threads > 0 ? o->threads : 1;
  s->threads = calloc((size_t)s->n_threads, sizeof *s->threads);
  /* One pending request per thread, so that many calls can arrive at once. */
  for (int i = 0; i < s->n_threads * 4; i++) request_next(s, 0);
  for (int i = 0; s->health && i < 2; i++) request_next(s, 1);
  for (int i = 0; i < s->n_threads; i++) pthread_create(&s->threads[i], NULL, cq_thread, s);
  return s;
}

void ts_server_drain(ts_server *s) {
  if (atomic_exchange(&s->draining, 1)) return;
  /* No new call from here on, before anyone hears NOT_SERVING: a client that reacts to it at once (a new
   * channel, a new call) must be refused, not slip in: on_new answers UNAVAILABLE from now on. Calls in
   * flight, the health watches among them, go on. */
  ts_acceptor_stop(s->acceptor); /* new connections are refused by the kernel from now on */
  set_serving(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
  if (atomic_load(&s->active) == 0) start_shutdown(s); /* else the last call to end starts it */
}

/* The numbers N of the "KEY":"N" entries of a channelz JSON page, at most MAX of them; *end tells whether the
 * page is the last one. Channelz pages are flat lists of references, so a scan for the key is enough. */
static size_t channelz_ids(const char *json, const char *key, intptr_t *ids, size_t max, int *end) {
  size_t n = 0, klen = strlen(key);
  for (const char *p = json; n < max && (p = strstr(p, key)) != NULL; p += klen)
    ids[n++] = (intptr_t)strtoll(p + klen, NULL, 10);
  *end = strstr(json, "\"end\":true") != NULL;
  return n;
}

/* Open sockets of channelz server ID, page by page. */
static long server_sockets(intptr_t id) {
  long total = 0;
  intptr_t ids[100];
  for (intptr_t start = 0;;) {
    char *page = grpc_channelz_get_server_sockets(id, start, 100);
    if (!page) return total;
    int end;
    size_t n = channelz_ids(page, "\"socketId\":\"", ids, 100, &end);
    gpr_free(page);
    total += (long)n;
    if (end || n == 0) return total;
    start = ids[n - 1] + 1;
  }
}

long ts_server_connections(ts_server *s) {
  long total = (long)ts_acceptor_connections(s->acceptor); /* channelz does not see these */
  intptr_t ids[16];
  for (intptr_t start = 0;;) {
    char *page = grpc_channelz_get_servers(start);
    if (!page) return total;
    int end;
    size_t n = channelz_ids(page, "\"serverId\":\"", ids, 16, &end);
    gpr_free(page);
    for (size_t i = 0; i < n; i++) total += server_sockets(ids[i]);
    if (end || n == 0) return total;
    start = ids[n - 1] + 1;
  }
}

void ts_server_cancel_all(ts_server *s) {
  start_shutdown(s); /* cancelling is for after gRPC's shutdown */
  cancel_calls(s);
}

void ts_server_free(ts_server *s) {
  if (!s) return;
  for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  free(s->threads);
  ts_stall_free(s->stall);
  grpc_server_destroy(s->server);
  if (s->health) grpc_server_destroy(s->health);
  ts_acceptor_free(s->acceptor);
  grpc_completion_queue_destroy(s->cq);
  pthread_mutex_destroy(&s->watch_lock);
  free(s);
}
