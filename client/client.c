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

static int check_options(const tc_options *o) {
  /* HTTP/2 windows are at most 2^31 - 1; a 4 GiB message does not fit the 32-bit gRPC length. */
  if (o->stream_window_bytes < 65535 || o->stream_window_bytes > 0x7fffffffu) return -1;
  if (o->connection_window_bytes < 65535 || o->connection_window_bytes > 0x7fffffffu) return -1;
  if (o->max_recv_message_bytes == 0 || o->max_recv_message_bytes > 0xffffffffu) return -1;
  if (o->backoff_initial_ms < 0 || o->backoff_max_ms < o->backoff_initial_ms) return -1;
  if (o->backoff_multiplier < 1.0 || o->backoff_jitter < 0 || o->backoff_jitter >= 1.0) return -1;
  return 0;
}

int tc_client_new(const char *target, const tc_options *opts, tc_client **out) {
  if (!out) return TC_EINVAL;
  *out = NULL;
  tc_client *cl = calloc(1, sizeof *cl);
  if (!cl) return TC_ENOMEM;
  if (opts) cl->opts = *opts;
  else tc_options_init(&cl->opts);
  cl->conn.fd = -1;
  cl->pid = getpid();
  if (check_options(&cl->opts) || tc__target_parse(target, &cl->target, cl->err, sizeof cl->err)) {
    free(cl);
    return TC_EINVAL;
  }
  const char *auth = cl->opts.authority ? cl->opts.authority : cl->target.authority;
  cl->authority = strdup(auth);
  if (!cl->authority) {
    free(cl);
    return TC_ENOMEM;
  }
  cl->opts.authority = cl->authority;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  cl->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)cl ^
            ((uint64_t)cl->pid << 40) ^ 0x9E3779B97F4A7C15ull;
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
