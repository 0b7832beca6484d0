/* signals.c: see signals.h. */
#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PENDING 8 /* signals received before the loop took them: more are the same request again */

struct ts_signals {
  uv_async_t async;
  pthread_t thread;
  pthread_mutex_t lock; /* guards pending, n and closed */
  int pending[MAX_PENDING];
  size_t n;
  int closed;
  void (*fn)(int signum, void *arg);
  void *arg;
};

static void the_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
}

void ts_signals_block(void) {
  sigset_t set;
  the_set(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *waiter(void *arg) {
  ts_signals *s = arg;
  sigset_t set;
  the_set(&set);
  for (;;) {
    int sig;
    if (sigwait(&set, &sig) != 0) continue;
    pthread_mutex_lock(&s->lock);
    int closed = s->closed;
    if (!closed) {
      if (s->n < MAX_PENDING) s->pending[s->n++] = sig;
      uv_async_send(&s->async);
    }
    pthread_mutex_unlock(&s->lock);
    if (closed) return NULL;
  }
}

static void on_async(uv_async_t *h) {
  ts_signals *s = h->data;
  int got[MAX_PENDING];
  pthread_mutex_lock(&s->lock);
  size_t n = s->n;
  memcpy(got, s->pending, n * sizeof *got);
  s->n = 0;
  pthread_mutex_unlock(&s->lock);
  for (size_t i = 0; i < n; i++) s->fn(got[i], s->arg);
}

static void free_signals(uv_handle_t *h) {
  ts_signals *s = h->data;
  pthread_mutex_destroy(&s->lock);
  free(s);
}

ts_signals *ts_signals_start(uv_loop_t *loop, void (*fn)(int signum, void *arg), void *arg) {
  ts_signals *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->fn = fn;
  s->arg = arg;
  pthread_mutex_init(&s->lock, NULL);
  if (uv_async_init(loop, &s->async, on_async) != 0) {
    free(s);
    return NULL;
  }
  s->async.data = s;
  if (pthread_create(&s->thread, NULL, waiter, s) != 0) {
    uv_close((uv_handle_t *)&s->async, free_signals);
    return NULL;
  }
  return s;
}

void ts_signals_close(ts_signals *s) {
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  s->closed = 1;
  pthread_mutex_unlock(&s->lock);
  pthread_kill(s->thread, SIGTERM); /* blocked there too: its sigwait takes it, sees closed, and returns */
  pthread_join(s->thread, NULL);
  uv_close((uv_handle_t *)&s->async, free_signals);
}
