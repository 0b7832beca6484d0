/* StreamBatches: an iterator over a server stream, one message at a time, resumable.
 *
 * Flow control: the call's stream-level credit is returned only inside tc_stream_next, for the message it
 * hands out (and for the one being received while it waits: h2.c), so the server can run at most one window
 * ahead of the application, even while other calls on the handle receive the stream's data.
 *
 * Resume: batches are consecutive runs of batch_size positions, so after n delivered rows the rest of the
 * stream is the same request with start moved by n (times shard_count for a shard: the shard's positions
 * are start + shard_index + k * shard_count). A lost connection, a restarted sidecar or use in a forked
 * child re-issues the request from there; offsets of the new batches are shifted to continue the old. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tablecar/v1/tablecar.pb-c.h"

#define SVC_STREAM "/tablecar.v1.Tablecar/StreamBatches"

struct tc_stream {
  tc_client *cl;
  tc__call call;
  int active; /* call holds a request */
  int done;   /* finished: final_rc for ever */
  int final_rc;
  unsigned char *req; /* encoded request of the current attempt */
  size_t req_len;
  /* the request, kept to resume */
  char *permutation, *split;
  char **columns;
  size_t n_columns;
  int64_t start, end, batch_size;
  int32_t shard_index, shard_count;
  /* progress */
  int64_t delivered; /* rows handed out */
  int resumed;       /* the current attempt continues an earlier one */
  int fix_pending;   /* the next batch fixes offset_fix */
  int64_t next_offset, offset_fix;
  int64_t timeout_ms;
  int no_retry;
};

static void free_request(tc_stream *s) {
  for (size_t i = 0; s->columns && i < s->n_columns; i++) free(s->columns[i]);
  free(s->columns);
  free(s->permutation);
  free(s->split);
  free(s->req);
}

static int copy_request(tc_stream *s, const tc_stream_req *r) {
  s->permutation = strdup(r->permutation ? r->permutation : "");
  s->split = strdup(r->split ? r->split : "");
  if (!s->permutation || !s->split) return -1;
  if (r->n_columns) {
    s->columns = calloc(r->n_columns, sizeof *s->columns);
    if (!s->columns) return -1;
    s->n_columns = r->n_columns;
    for (size_t i = 0; i < r->n_columns; i++)
      if (!(s->columns[i] = strdup(r->columns[i] ? r->columns[i] : ""))) return -1;
  }
  s->start = r->start;
  s->end = r->end;
  s->batch_size = r->batch_size;
  s->shard_index = r->shard_index;
  s->shard_count = r->shard_count;
  return 0;
}

/* Encodes the request for the rows not delivered yet; returns -1 when out of memory. */
static int encode(tc_stream *s, int64_t start) {
  Tablecar__V1__StreamBatchesRequest r = TABLECAR__V1__STREAM_BATCHES_REQUEST__INIT;
  r.permutation = s->permutation;
  r.split = s->split;
  r.start = start;
  r.end = s->end;
  r.batch_size = s->batch_size;
  r.shard_index = s->shard_index;
  r.shard_count = s->shard_count;
  r.n_columns = s->n_columns;
  r.columns = s->columns;
  size_t n = protobuf_c_message_get_packed_size(&r.base);
  unsigned char *p = realloc(s->req, 5 + n);
  if (!p) return -1;
  s->req = p;
  s->req_len = 5 + n;
  tc__grpc_prefix(p, n);
  protobuf_c_message_pack(&r.base, p + 5);
  return 0;
}

static int finish(tc_stream *s, int rc) {
  if (s->active) tc__call_end(&s->call);
  s->active = 0;
  s->done = 1;
  s->final_rc = rc;
  return rc;
}

/* Sends the request (again). Returns TC_OK, with s->done set if nothing is left. */
static int start_call(tc_stream *s, int64_t deadline) {
  int64_t stride = s->shard_count > 1 ? s->shard_count : 1;
  int64_t start = s->start + s->delivered * stride;
  if (s->delivered > 0 && s->end > 0 && start >= s->end) return finish(s, TC_OK);
  if (encode(s, start)) return tc__seterr(s->cl, TC_ENOMEM, "out of memory");
  int rc = tc__conn_ensure(s->cl, deadline);
  if (rc) return rc;
  tc__call_init(&s->call, s->cl);
  s->active = 1;
  s->resumed = s->fix_pending = s->delivered > 0;
  /* No grpc-timeout: the stream may rightly outlive any per-batch deadline. */
  return tc__call_start(&s->call, SVC_STREAM, s->req, s->req_len, deadline, 0);
}

static int deliver(tc_stream *s, tc__msg *m, tc_batch **out) {
  tc_batch *b;
  int rc = tc__batch_parse(m, &b, s->cl->err, sizeof s->cl->err);
  if (rc) return finish(s, rc);
  if (s->fix_pending) {
    s->offset_fix = s->next_offset - b->offset;
    s->fix_pending = 0;
  }
  b->offset += s->offset_fix;
  s->next_offset = b->offset + b->num_rows;
  s->delivered += b->num_rows;
  *out = b;
  return TC_OK;
}

/* Runs the current attempt until a batch, the end, or a failure. */
static int attempt(tc_stream *s, int64_t deadline, tc_batch **out) {
  tc__call *c = &s->call;
  int rc = tc__call_wait(c, deadline, 1);
  if (rc) return rc;
  tc__msg *m = tc__call_pop(c);
  if (m) return deliver(s, m, out);
  rc = tc__call_status(c);
  if (!rc && tc__deframer_partial(&c->df)) rc = tc__seterr(s->cl, TC_EINTERNAL, "truncated response message");
  /* Resuming exactly at the end of the split (the trailers were lost): nothing is left. */
  if (rc == TC_EOUT_OF_RANGE && s->resumed && s->end == 0) rc = TC_OK;
  if (!rc) return finish(s, TC_OK);
  return rc;
}

int tc_stream_next(tc_stream *s, tc_batch **out) {
  if (!s || !out) return TC_EINVAL;
  *out = NULL;
  tc_client *cl = s->cl;
  tc__clearerr(cl);
  tc__conn_check_pid(cl);
  if (s->done) {
    if (s->final_rc) tc__seterr(cl, s->final_rc, "stream already failed: %s", tc_strerror(s->final_rc));
    return s->final_rc;
  }
  int64_t deadline = tc__deadline(s->timeout_ms);
  int transparent_used = 0;
  for (int n = 0;;) {
    int rc = s->active ? TC_OK : start_call(s, deadline);
    if (s->done) return s->final_rc;
    if (!rc) rc = attempt(s, deadline, out);
    if (!rc || s->done) {
      if (!rc) tc__clearerr(cl);
      return rc;
    }
    /* A deadline leaves the stream as it is: the caller may wait again. */
    if (rc == TC_EDEADLINE_EXCEEDED) return rc;
    int transparent = s->active && (s->call.refused || (s->call.lost && s->call.received == 0));
    if (s->active) tc__call_end(&s->call);
    s->active = 0;
    if (!tc__is_retriable(rc)) return finish(s, rc);
    if (transparent && !transparent_used) {
      transparent_used = 1;
      continue;
    }
    if (s->no_retry) return finish(s, rc == TC__ECONNECT_RETRY ? TC_ECONNECT : rc);
    if (tc__backoff_sleep(cl, n++, deadline)) {
      char last[sizeof cl->err];
      memcpy(last, cl->err, sizeof last);
      return tc__seterr(cl, TC_EDEADLINE_EXCEEDED, "deadline exceeded after %d attempts; last error: %s", n, last);
    }
  }
}

int tc_stream_batches(tc_client *cl, const tc_stream_req *req, const tc_call_opts *co, tc_stream **out) {
  if (!cl) return TC_EINVAL;
  tc__clearerr(cl);
  if (!out || !req || (req->n_columns && !req->columns))
    return tc__seterr(cl, TC_EINVAL, "bad arguments to tc_stream_batches");
  *out = NULL;
  tc_stream *s = calloc(1, sizeof *s);
  if (!s) return tc__seterr(cl, TC_ENOMEM, "out of memory");
  s->cl = cl;
  if (copy_request(s, req)) {
    free_request(s);
    free(s);
    return tc__seterr(cl, TC_ENOMEM, "out of memory");
  }
  s->timeout_ms = co && co->timeout_ms ? co->timeout_ms : cl->opts.timeout_ms;
  s->no_retry = (co && co->no_retry) || !cl->opts.retry;
  /* Send the request now, so the server starts producing while the caller does something else; failures
   * to connect are retried (and reported) by tc_stream_next. */
  int64_t deadline = tc__deadline(s->timeout_ms);
  tc__conn_check_pid(cl);
  int rc = start_call(s, deadline);
  if (rc == TC_ENOMEM) {
    tc_stream_free(s);
    return rc;
  }
  if (rc && s->active) {
    tc__call_end(&s->call);
    s->active = 0;
  }
  tc__clearerr(cl);
  *out = s;
  return TC_OK;
}

void tc_stream_free(tc_stream *s) {
  if (!s) return;
  tc__conn_check_pid(s->cl); /* in a child: leave the parent's stream alone */
  if (s->active) tc__call_end(&s->call);
  free_request(s);
  free(s);
}
