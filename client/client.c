/* The handle: options, target, and the connection it opens lazily. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void tc_options_init(tc_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout_ms = 30000;
  o->max_recv_message_bytes = (size_t)256 << 20;
  o->stream_window_bytes = 16u << 20;
  o->connection_window_bytes = 64u << 20;
  o->retry = 1;
  o->backoff_initial_ms = 20;
  o->backoff_max_ms = 1000;
  o->backoff_multiplier = 1.6;
  o->backoff_jitter = 0.2;
}

/* What is wrong with the options, or NULL. */
static const char *check_options(const tc_options *o) {
  /* HTTP/2 windows are at most 2^31 - 1; a 4 GiB message does not fit the 32-bit gRPC length. */
  if (o->stream_window_bytes < 65535 || o->stream_window_bytes > 0x7fffffffu)
    return "stream_window_bytes is not 65535 .. 2^31-1";
  if (o->connection_window_bytes < 65535 || o->connection_window_bytes > 0x7fffffffu)
    return "connection_window_bytes is not 65535 .. 2^31-1";
  if (o->max_recv_message_bytes == 0 || o->max_recv_message_bytes > 0xffffffffu)
    return "max_recv_message_bytes is not 1 .. 2^32-1";
  if (o->backoff_initial_ms < 0 || o->backoff_max_ms < o->backoff_initial_ms)
    return "backoff_initial_ms is not 0 .. backoff_max_ms";
  if (o->backoff_multiplier < 1.0) return "backoff_multiplier is less than 1";
  if (o->backoff_jitter < 0 || o->backoff_jitter >= 1.0) return "backoff_jitter is not in [0, 1)";
  return NULL;
}

int tc_client_new(const char *target, const tc_options *opts, tc_client **out) {
  tc__set_new_error(TC_OK, "%s", "");
  if (!out) return tc__set_new_error(TC_EINVAL, "tc_client_new: out is NULL");
  *out = NULL;
  tc_client *cl = calloc(1, sizeof *cl);
  if (!cl) return tc__set_new_error(TC_ENOMEM, "out of memory");
  if (opts)
    cl->opts = *opts;
  else
    tc_options_init(&cl->opts);
  cl->conn.fd = -1;
  cl->pid = getpid();
  const char *bad = check_options(&cl->opts);
  int rc = bad ? tc__set_new_error(TC_EINVAL, "bad options: %s", bad) : TC_OK;
  if (!rc && tc__target_parse(target, &cl->target, cl->err, sizeof cl->err))
    rc = tc__set_new_error(TC_EINVAL, "%s", cl->err);
  if (rc) {
    free(cl);
    return rc;
  }
  const char *auth = cl->opts.authority ? cl->opts.authority : cl->target.authority;
  cl->authority = strdup(auth);
  if (!cl->authority) {
    free(cl);
    return tc__set_new_error(TC_ENOMEM, "out of memory");
  }
  cl->opts.authority = cl->authority;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  cl->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)cl ^ ((uint64_t)cl->pid << 40) ^
            0x9E3779B97F4A7C15ull;
  if (!cl->rng) cl->rng = 1;
  *out = cl;
  return TC_OK;
}

void tc_client_free(tc_client *cl) {
  if (!cl) return;
  tc__conn_check_pid(cl); /* in a child: only close() the inherited socket */
  tc__conn_close(cl);
  free(cl->scratch);
  free(cl->authority);
  free(cl);
}
