/* call_deadline.c: see call_deadline.h. */
#include "call_deadline.h"

#include <time.h>

static _Thread_local int64_t deadline;

int64_t ts_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ts_call_deadline_set(int64_t mono_ms) { deadline = mono_ms > 0 ? mono_ms : 0; }

int64_t ts_call_deadline(void) { return deadline; }

int64_t ts_call_deadline_within(int64_t timeout_ms, int *by_call) {
  int64_t own = ts_mono_ms() + timeout_ms;
  int call = deadline > 0 && deadline < own;
  if (by_call) *by_call = call;
  return call ? deadline : own;
}
