/* Calls: deadlines, retries with exponential backoff and jitter, and the unary call.
 *
 * Every RPC of tablecar.v1 is idempotent, so a call may be repeated whenever the sidecar could not be
 * reached, went away or said UNAVAILABLE: a restart of the sidecar costs a training run a pause, not a
 * failure. A failure on a connection that had been idle (the server may have closed it meanwhile) and a
 * stream the server refused are retried once at once, even when the caller asked for no retries, as
 * gRPC's transparent retries do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "internal.h"

int tc__is_retriable(int status) { return status == TC_EUNAVAILABLE || status == TC__ECONNECT_RETRY; }

int tc__call_deadline(const tc_client *cl, const tc_call_opts *co, int64_t *deadline) {
  int64_t t = co && co->timeout_ms ? co->timeout_ms : cl->opts.timeout_ms;
  *deadline = tc__deadline(t);
  return TC_OK;
}

/* xorshift64*: per handle, so no global state; reseeded with the pid after fork (h2.c). */
static double rng_uniform(tc_client *cl) {
  uint64_t x = cl->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  cl->rng = x;
  return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

int tc__backoff_sleep(tc_client *cl, int attempt, int64_t deadline) {
  const tc_options *o = &cl->opts;
  double d = (double)o->backoff_initial_ms;
  for (int i = 0; i < attempt && d < (double)o->backoff_max_ms; i++) d *= o->backoff_multiplier;
  if (d > (double)o->backoff_max_ms) d = (double)o->backoff_max_ms;
  d *= 1.0 + o->backoff_jitter * (2.0 * rng_uniform(cl) - 1.0);
  int64_t ms = d < 1 ? 1 : d >= 0x1p62 ? INT64_C(1) << 62 : (int64_t)d; /* backoff_max_ms may be huge */
  int64_t now = tc__now_ms();
  if (deadline != TC__NO_DEADLINE && ms >= deadline - now) return -1;
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
  return 0;
}

size_t tc__encode(tc_client *cl, const ProtobufCMessage *msg) {
  size_t n = msg ? protobuf_c_message_get_packed_size(msg) : 0;
  if (n > UINT32_MAX) return 0;
  if (5 + n > cl->scratch_cap) {
    size_t cap = cl->scratch_cap ? cl->scratch_cap : 256;
    while (cap < 5 + n) cap *= 2;
    unsigned char *p = realloc(cl->scratch, cap);
    if (!p) return 0;
    cl->scratch = p;
    cl->scratch_cap = cap;
  }
  tc__grpc_prefix(cl->scratch, n);
  if (n) protobuf_c_message_pack(msg, cl->scratch + 5);
  return 5 + n;
}

/* One attempt. *transparent: the failure says nothing about the server (stale connection, refused
 * stream), so one immediate retry is harmless. */
static int unary_once(tc_client *cl, const char *path, size_t len, int64_t deadline, tc__msg **resp, int *transparent) {
  *transparent = 0;
  int rc = tc__conn_ensure(cl, deadline);
  if (rc) return rc;
  int reused = cl->conn.reused;
  tc__call c;
  tc__call_init(&c, cl);
  c.unary = 1;
  rc = tc__call_start(&c, path, cl->scratch, len, deadline, 1);
  if (!rc) rc = tc__call_wait(&c, deadline, 0);
  if (!rc) rc = tc__call_status(&c);
  if (!rc && c.q.count != 1) /* none (more than one failed as the second arrived) */
    rc = tc__seterr(cl, TC_EINTERNAL, "%zu response messages for a unary call", c.q.count);
  if (!rc && tc__deframer_partial(&c.df)) rc = tc__seterr(cl, TC_EINTERNAL, "truncated response message");
  if (!rc) {
    *resp = tc__call_pop(&c);
    cl->conn.reused = 1;
  }
  if (c.refused || (c.lost && reused && c.received == 0)) *transparent = 1;
  tc__call_end(&c);
  return rc;
}

int tc__unary(tc_client *cl, const char *path, size_t len, const tc_call_opts *co, tc__msg **resp) {
  int64_t deadline;
  tc__call_deadline(cl, co, &deadline);
  int no_retry = (co && co->no_retry) || !cl->opts.retry;
  int transparent_used = 0;
  for (int attempt = 0;;) {
    int transparent;
    int rc = unary_once(cl, path, len, deadline, resp, &transparent);
    if (rc == TC_OK) {
      tc__clearerr(cl);
      return TC_OK;
    }
    if (!tc__is_retriable(rc)) return rc;
    if (transparent && !transparent_used) {
      transparent_used = 1;
      continue;
    }
    if (no_retry) return rc == TC__ECONNECT_RETRY ? TC_ECONNECT : rc;
    if (tc__backoff_sleep(cl, attempt++, deadline)) {
      char last[sizeof cl->err];
      memcpy(last, cl->err, sizeof last);
      return tc__seterr(cl, TC_EDEADLINE_EXCEEDED, "deadline exceeded after %d attempts; last error: %s", attempt,
                        last);
    }
  }
}
