/* The clock of deadlines: monotonic milliseconds (a wall clock set back or forward moves no deadline). */
#include <time.h>

#include "internal.h"

int64_t tc__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tc__deadline(int64_t timeout_ms) {
  if (timeout_ms < 0) return TC__NO_DEADLINE;
  int64_t now = tc__now_ms(); /* saturates: INT64_MAX must not wrap to the past */
  return timeout_ms >= TC__NO_DEADLINE - now ? TC__NO_DEADLINE : now + timeout_ms;
}
