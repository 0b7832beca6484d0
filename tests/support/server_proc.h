/* A real tablecar-server for tests: a temporary directory (data/, state/, s.sock, server.log), started with
 * extra flags, waited for by condition (SERVING), stopped with SIGTERM or SIGKILL. */
#ifndef TS_TEST_SERVER_PROC_H
#define TS_TEST_SERVER_PROC_H

#include <sys/types.h>

typedef struct sp_server {
  char dir[200], data[240], state[240], sock[240], log[240], target[256];
  pid_t pid;
} sp_server;

/* A new temporary directory under TC_TEST_TMPDIR (or /tmp); NULL on failure. Nothing is started. */
sp_server *sp_new(void);
/* Starts BIN with --data-dir, --state-dir, --listen and the NULL-terminated EXTRA flags; 0 once it answers
 * SERVING, -1 if it exited or did not within a long guard (a hang). RLIMIT_NOFILE is set to NOFILE when
 * NOFILE > 0. */
int sp_start(sp_server *s, const char *bin, long nofile, const char *const *extra);
/* SIGTERM, then waits (SIGKILL after a long guard): its exit status, or -1. */
int sp_stop(sp_server *s);
/* SIGKILL and reap. */
void sp_kill(sp_server *s);
/* Whether the log contains NEEDLE. */
int sp_log_has(const sp_server *s, const char *needle);
/* Prints the end of the log to stderr. */
void sp_dump_log(const sp_server *s);
/* Removes the directory and frees S (stops the server first if it runs). */
void sp_free(sp_server *s);
/* Number of open file descriptors of PID (from /proc), or -1. */
int sp_count_fds(pid_t pid);
/* Monotonic seconds. */
double sp_now(void);
void sp_sleep_ms(int ms);

#endif
