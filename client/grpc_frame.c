/* gRPC messages on an HTTP/2 stream: a 5-byte prefix (compressed flag, big-endian length) per message.
 * The deframer allocates each message once, at its exact length, so a large Batch is copied only once out
 * of the socket buffer and never moved again (its columns are handed out as views into it). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void tc__deframer_init(tc__deframer *d, size_t max) {
  memset(d, 0, sizeof *d);
  d->max = max;
}

void tc__deframer_free(tc__deframer *d) {
  free(d->cur);
  d->cur = NULL;
  d->hdr_got = 0;
  d->got = 0;
}

int tc__deframer_partial(const tc__deframer *d) { return d->hdr_got > 0 || d->cur != NULL; }

void tc__msgq_push(tc__msgq *q, tc__msg *m) {
  m->next = NULL;
  if (q->tail)
    q->tail->next = m;
  else
    q->head = m;
  q->tail = m;
  q->count++;
}

tc__msg *tc__msgq_pop(tc__msgq *q) {
  tc__msg *m = q->head;
  if (!m) return NULL;
  q->head = m->next;
  if (!q->head) q->tail = NULL;
  q->count--;
  m->next = NULL;
  return m;
}

void tc__msgq_free(tc__msgq *q) {
  tc__msg *m;
  while ((m = tc__msgq_pop(q))) free(m);
}

/* The header is complete: check it and allocate the message. */
static int start_message(tc__deframer *d) {
  const unsigned char *h = d->hdr;
  size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | (size_t)h[4];
  if (h[0] & 1) return TC_EPROTO; /* compressed, though we never sent grpc-accept-encoding */
  if (len > d->max) {
    d->bad_len = len;
    return TC_ERESOURCE_EXHAUSTED;
  }
  tc__msg *m = malloc(sizeof *m + (len ? len : 1));
  if (!m) return TC_ENOMEM;
  m->next = NULL;
  m->len = len;
  d->cur = m;
  d->got = 0;
  return TC_OK;
}

int tc__deframe(tc__deframer *d, const uint8_t *p, size_t n, tc__msgq *q) {
  while (n > 0) {
    if (!d->cur) {
      size_t k = 5 - d->hdr_got;
      if (k > n) k = n;
      memcpy(d->hdr + d->hdr_got, p, k);
      d->hdr_got += k;
      p += k;
      n -= k;
      if (d->hdr_got < 5) return TC_OK;
      int rc = start_message(d);
      if (rc) return rc;
    }
    size_t k = d->cur->len - d->got;
    if (k > n) k = n;
    memcpy(d->cur->data + d->got, p, k);
    d->got += k;
    p += k;
    n -= k;
    if (d->got == d->cur->len) {
      tc__msgq_push(q, d->cur);
      d->cur = NULL;
      d->hdr_got = 0;
      d->got = 0;
    }
  }
  return TC_OK;
}

void tc__grpc_prefix(uint8_t out[5], size_t len) {
  out[0] = 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

/* Formats v (0 < v <= 99999999) and unit; returns the length. (snprintf would do, at a cost per call.) */
static size_t fmt_timeout(int64_t v, char unit, char out[16]) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  out[n] = unit;
  out[n + 1] = '\0';
  return n + 1;
}

/* The spec allows at most 8 digits: use the finest unit that fits, rounding up so that the server never
 * gives up before we do. */
size_t tc__grpc_timeout(int64_t ms, char out[16]) {
  static const struct {
    int64_t div;
    char unit;
  } units[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};
  if (ms < 1) ms = 1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    int64_t v = ms / units[i].div + (ms % units[i].div != 0);
    if (v <= 99999999) return fmt_timeout(v, units[i].unit, out);
  }
  return fmt_timeout(99999999, 'H', out);
}
