/* stall.c: see stall.h. */
#include "stall.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define BATCH 64 /* calls cancelled per pass of the list (the rest at the next pass) */

struct ts_stall {
  double seconds;
  pthread_mutex_t lock; /* guards the list and stop */
  pthread_cond_t wake;
  ts_stall_entry *head;
  int stop;
  pthread_t thread;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes a reference to each overdue call under the lock (an entry may be disarmed and its call freed as
 * soon as the lock is released), cancels outside it. */
static void cancel_overdue(ts_stall *s) {
  grpc_call *overdue[BATCH];
  size_t n = 0;
  double limit = now_s() - s->seconds;
  pthread_mutex_lock(&s->lock);
  for (ts_stall_entry *e = s->head; e && n < BATCH; e = e->next)
    if (e->since <= limit && e->since > 0) {
      grpc_call_ref(e->call);
      overdue[n++] = e->call;
      e->since = 0; /* cancelled once */
    }
  pthread_mutex_unlock(&s->lock);
  char text[160];
  snprintf(text, sizeof text, "the stream was not read for %g s (--stall-seconds): cancelled", s->seconds);
  for (size_t i = 0; i < n; i++) {
    grpc_call_cancel_with_status(overdue[i], GRPC_STATUS_UNAVAILABLE, text, NULL);
    grpc_call_unref(overdue[i]);
  }
  if (n) {
    char secs[32];
    snprintf(secs, sizeof secs, "%g", s->seconds);
    ts_log(TS_WARN, "stream_stalled", TS_I("cancelled", (long long)n), TS_S("stall_seconds", secs), NULL);
  }
}

static void *watch(void *arg) {
  ts_stall *s = arg;
  double step = s->seconds / 4 < 1 ? s->seconds / 4 : 1; /* cancelled within 1.25 x the limit */
  pthread_mutex_lock(&s->lock);
  while (!s->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + step;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    if (s->stop) break;
    pthread_mutex_unlock(&s->lock);
    cancel_overdue(s);
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

ts_stall *ts_stall_new(double seconds) {
  if (seconds <= 0) return NULL;
  ts_stall *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->seconds = seconds;
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&s->thread, NULL, watch, s) != 0) {
    ts_log(TS_ERROR, "stall_watch_not_started", TS_S("error", "pthread_create"), NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
  }
  return s;
}

void ts_stall_arm(ts_stall *s, ts_stall_entry *e, grpc_call *call) {
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  if (!e->armed) {
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    e->armed = 1;
  }
  e->call = call;
  e->since = now_s();
  pthread_mutex_unlock(&s->lock);
}

void ts_stall_disarm(ts_stall *s, ts_stall_entry *e) {
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  if (e->armed) {
    if (e->prev)
      e->prev->next = e->next;
    else
      s->head = e->next;
    if (e->next) e->next->prev = e->prev;
    e->armed = 0;
  }
  pthread_mutex_unlock(&s->lock);
}

void ts_stall_free(ts_stall *s) {
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  free(s);
}
