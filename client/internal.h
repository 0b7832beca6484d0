/* libtablecar internals, shared by the client sources and their unit tests. Not installed. */
#ifndef TC__INTERNAL_H
#define TC__INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "tablecar.h"

#define TC__NO_DEADLINE INT64_MAX

/* Result of a retriable failure to connect (refused, socket missing): never returned to the user. */
#define TC__ECONNECT_RETRY (-100)

/* ---- clock.c: monotonic time and deadlines ---- */
int64_t tc__now_ms(void);
int64_t tc__deadline(int64_t timeout_ms); /* timeout < 0, or too far to represent: TC__NO_DEADLINE */

/* ---- arena.c: bump allocator; everything of one result is freed at once ---- */
typedef struct tc__chunk tc__chunk;
typedef struct tc__arena {
  tc__chunk *head;
} tc__arena;

void *tc__arena_alloc(tc__arena *a, size_t size); /* zeroed, 16-byte aligned; NULL when out of memory */
char *tc__arena_strndup(tc__arena *a, const void *s, size_t n);
void tc__arena_free(tc__arena *a);

/* ---- errors.c ---- */
/* grpc-message is percent-encoded: decodes %XX; malformed escapes stay as they are. out gets at most
   outcap - 1 bytes and a NUL; returns the decoded length (not truncated). */
size_t tc__percent_decode(const char *in, size_t n, char *out, size_t outcap);
int tc__http_to_grpc(int http_status);
int tc__h2_error_to_grpc(uint32_t h2_error);
/* Nonzero when [s, s + n) is valid UTF-8 (proto3 `string` fields must be: results hand out text). */
int tc__utf8_ok(const char *s, size_t n);

/* ---- target.c ---- */
enum { TC__TARGET_UNIX = 1, TC__TARGET_ABSTRACT, TC__TARGET_TCP };
typedef struct tc__target {
  int kind;
  char path[108]; /* UNIX: NUL-terminated path; ABSTRACT: name (no leading NUL) */
  size_t path_len;
  char host[256]; /* TCP: name or address, without brackets */
  char port[16];
  char authority[280];
} tc__target;

int tc__target_parse(const char *s, tc__target *t, char *err, size_t errlen);
/* Connects before deadline. Returns TC_OK with *fd (non-blocking, CLOEXEC), TC__ECONNECT_RETRY (may work
   later), TC_ECONNECT (will not), TC_EDEADLINE_EXCEEDED or TC_ENOMEM; err says why. */
int tc__target_connect(const tc__target *t, int64_t deadline, int *fd, char *err, size_t errlen);

/* ---- grpc_frame.c: gRPC length-prefixed messages ---- */
typedef struct tc__msg {
  struct tc__msg *next;
  size_t len;
  unsigned char data[]; /* 16-byte aligned */
} tc__msg;

typedef struct tc__msgq {
  tc__msg *head, *tail;
  size_t count;
} tc__msgq;

typedef struct tc__deframer {
  unsigned char hdr[5];
  size_t hdr_got;
  tc__msg *cur; /* message being filled, exactly its length */
  size_t got;
  size_t max;     /* largest message accepted */
  size_t bad_len; /* length of a rejected message, for the error text */
} tc__deframer;

void tc__deframer_init(tc__deframer *d, size_t max);
/* Feeds bytes; complete messages are appended to q. Returns TC_OK, TC_ERESOURCE_EXHAUSTED (too large),
   TC_EPROTO (compressed: we never ask for compression) or TC_ENOMEM. */
int tc__deframe(tc__deframer *d, const uint8_t *p, size_t n, tc__msgq *q);
int tc__deframer_partial(const tc__deframer *d); /* nonzero if in the middle of a message */
void tc__deframer_free(tc__deframer *d);
void tc__msgq_push(tc__msgq *q, tc__msg *m);
tc__msg *tc__msgq_pop(tc__msgq *q);
void tc__msgq_free(tc__msgq *q);
void tc__grpc_prefix(uint8_t out[5], size_t len);
/* grpc-timeout value for ms ("100m", "3600S"...): at most 8 digits and a unit. Returns its length. */
size_t tc__grpc_timeout(int64_t ms, char out[16]);

/* ---- wire.c: the protobuf reader, and Batch/TableInfo parsers that point into the message ---- */
typedef struct tc__pb {
  const uint8_t *p, *end;
} tc__pb;
typedef struct tc__pb_field {
  uint32_t num;
  int wt;              /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
  uint64_t v;          /* wt 0, 1, 5 */
  const uint8_t *data; /* wt 2 */
  size_t len;
} tc__pb_field;

int tc__pb_varint(tc__pb *r, uint64_t *v);   /* 0, or -1 if malformed */
int tc__pb_next(tc__pb *r, tc__pb_field *f); /* 1: a field, 0: end, -1: malformed */

/* Parses a Batch in m; on success the batch owns m, on failure m is freed. */
int tc__batch_parse(tc__msg *m, tc_batch **out, char *err, size_t errlen);
/* The same, for a response to a request naming a shared-memory slot: SLOT (SLOT_SIZE bytes) is where its
   spans point (a span outside it, or spans without a slot, are malformed). */
int tc__batch_parse_shm(tc__msg *m, const uint8_t *slot, size_t slot_size, tc_batch **out, char *err, size_t errlen);
int tc__table_info_parse(tc__msg *m, tc_table_info **out, char *err, size_t errlen); /* frees m */
int tc__table_list_parse(tc__msg *m, tc_table_list **out, char *err, size_t errlen); /* frees m */

/* ---- shm.c ---- */
/* The ShmTarget of slot SLOT of P (its token, returned length; offset and size in the pool) and the slot's
   memory here; 0 when P is not attached. */
int tc__shm_target(const tc_shm_pool *p, uint32_t slot, const uint8_t **token, size_t *offset, size_t *size,
                   uint8_t **data);

/* ---- h2.c: one HTTP/2 connection per handle, calls on it ---- */
typedef struct tc_client tc_client;
typedef struct tc__call tc__call;

typedef struct tc__conn {
  int fd;       /* -1: none */
  pid_t pid;    /* process that opened it */
  uint64_t gen; /* changes with every connection */
  nghttp2_session *ng;
  int broken;    /* nghttp2 refused to start a stream on it (closing): reconnect before the next call */
  int goaway;    /* GOAWAY received (or stream ids used up): no new streams */
  char why[160]; /* GOAWAY with an error, sent or received: why the session ended */
  int reused;    /* has completed a call: a failure may just mean it went stale */
  int rfull;     /* last recv filled the buffer: try recv before poll */
  unsigned char *rbuf;
  size_t rcap;
  unsigned char *wbuf;
  size_t wlen, woff, wcap;
} tc__conn;

struct tc__call {
  tc_client *cl;
  tc__call *next, *prev; /* the client's active calls */
  int32_t sid;           /* 0: no live stream */
  uint64_t gen;          /* connection the stream is on */
  const uint8_t *req;    /* request body (prefix + message), owned by the caller */
  size_t req_len, req_off;
  int http_status;
  int grpc_status;    /* -1 until grpc-status is seen */
  char *grpc_message; /* decoded, malloc'd; NULL if none */
  int grpc_content;   /* content-type is application/grpc* */
  int closed;         /* the stream is closed (normally or not) */
  uint32_t h2_error;  /* RST_STREAM / close error code */
  int refused;        /* never processed by the server (REFUSED_STREAM, GOAWAY): safe to retry */
  int lost;           /* the connection died under the stream */
  int err;            /* local error found while receiving (too large, ...) */
  int reset;          /* we sent RST_STREAM already */
  char errmsg[160];
  int unary;         /* one response message (a second is an error); credit returned as data arrives */
  int waiting;       /* a stream in tc__call_wait with nothing queued */
  size_t unconsumed; /* stream-level bytes not yet credited */
  size_t held;       /* bytes of gRPC framing received and not popped (queued or partial messages) */
  size_t received;   /* DATA bytes received */
  tc__deframer df;
  tc__msgq q;
};

struct tc_client {
  tc__target target;
  tc_options opts;
  char *authority;
  pid_t pid; /* process the handle state belongs to */
  tc__conn conn;
  uint64_t gen_counter;
  uint64_t rng;
  tc__call *calls;        /* active calls (list) */
  unsigned char *scratch; /* request encoding, reused */
  size_t scratch_cap;
  char err[1024];
};

/* Sets the handle's error message; returns status. */
int tc__seterr(tc_client *cl, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tc__clearerr(tc_client *cl);
/* Sets the message of this thread's last tc_client_new (tc_last_error(NULL)); returns status. */
int tc__set_new_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void tc__conn_check_pid(tc_client *cl);               /* in a forked child: drop the inherited connection */
int tc__conn_ensure(tc_client *cl, int64_t deadline); /* connects if needed; sets the error */
void tc__conn_close(tc_client *cl);

void tc__call_init(tc__call *c, tc_client *cl);
/* Opens a stream for path with body req (kept by the caller until tc__call_end). */
int tc__call_start(tc__call *c, const char *path, const uint8_t *req, size_t len, int64_t deadline, int send_timeout);
/* Runs the connection until c has a message (want_msg) or is closed. Returns TC_OK, or
   TC_EDEADLINE_EXCEEDED / TC_EUNAVAILABLE (connection lost) / TC_EPROTO / TC_ENOMEM; sets the error.
   A stream (not c->unary) waiting with nothing queued returns the credit of the message being received. */
int tc__call_wait(tc__call *c, int64_t deadline, int want_msg);
/* Takes the next message (NULL if none) and returns its stream-level flow-control credit. */
tc__msg *tc__call_pop(tc__call *c);
/* The status of a closed call (grpc-status, or what HTTP/2 said); sets the error message. */
int tc__call_status(tc__call *c);
/* Cancels the stream if still open, frees what the call holds. The caller has checked the pid
   (tc__conn_check_pid) in this API call: a child must not reset its parent's stream. */
void tc__call_end(tc__call *c);

/* ---- call.c: retries, backoff and the unary call ---- */
int tc__is_retriable(int status);
/* Sleeps the backoff delay of attempt (0-based) unless it would pass deadline: returns 0, or -1. */
int tc__backoff_sleep(tc_client *cl, int attempt, int64_t deadline);
int tc__call_deadline(const tc_client *cl, const tc_call_opts *co, int64_t *deadline);
/* Unary call of path with the protobuf-encoded request in cl->scratch[0..len) (prefix included).
   On TC_OK *resp is the single response message (free() it). */
int tc__unary(tc_client *cl, const char *path, size_t len, const tc_call_opts *co, tc__msg **resp);
/* Encodes a protobuf-c message, with its gRPC prefix, into cl->scratch; returns the length or 0. */
struct ProtobufCMessage;
size_t tc__encode(tc_client *cl, const struct ProtobufCMessage *msg);

#endif
