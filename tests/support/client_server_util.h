/* client_server_util.h: what test_client_server.c and test_client_fork.c share: a real tablecar-server per
 * cmocka group (its temporary directory, tables written with the example rules of fixtures.h, started on a
 * Unix socket, stopped with SIGTERM), the checks of rows against the rules (usable in forked children: no
 * cmocka asserts), CHECK macros and the permutations several tests use. TC_KEEP=1 keeps the directory. */
#ifndef TC_CLIENT_SERVER_UTIL_H
#define TC_CLIENT_SERVER_UTIL_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fixtures.h"
#include "tablecar.h"

#define EXAMPLE_ROWS 1000
#define BIG_ROWS 5500 /* 3x64x64 images: 12 KiB a row, a 64.5 MiB batch */
#define BIG_SHAPE ((fx_shape){3, 64, 64})

/* A server and its files, one per group (the group state). */
typedef struct server {
  char dir[200]; /* data/, state/, the socket and server.log */
  char data[240], state[240], sock[240], log[240], target[256];
  const char *max_message_bytes; /* --max-message-bytes, or NULL for the default */
  const char *extra_args[6];     /* more flags for the server, NULL-terminated */
  pid_t pid;
  double stop_seconds; /* how long the last stop() took */
} server;

/* A SIGTERM with no call in flight must not wait for --drain-seconds (an hour here, so that waiting for it
 * shows as a server that stop() had to kill, with no measured time involved). */
#define DRAIN_SECONDS "3600"
#define STOP_GUARD_SECONDS 120

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

#define CHECK_MSG(c, needle)                                                                                           \
  do {                                                                                                                 \
    if (!strstr(tc_last_error(c), (needle)))                                                                           \
      fail_msg("tc_last_error is \"%s\", expected it to contain \"%s\"", tc_last_error(c), (needle));                  \
  } while (0)

double now_s(void);
void sleep_ms(int ms);
/* Options whose call deadline only a hang reaches. */
const tc_options *hang_guard_opts(void);
/* A new handle to S (asserts). */
tc_client *client(const server *s);
/* Writes the example table (fixtures.h) one batch at a time. */
int write_example(const char *path, fx_shape shape, int64_t rows, int64_t batch_rows, enum aw_codec codec);

/* Formats into err; returns -1. */
int bad(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Every cell of the columns b has, against the rules; 0, or -1 with the first difference in err. */
int check_rows(const tc_batch *b, fx_shape shape, char *err, size_t n);
void assert_rows(const tc_batch *b, fx_shape shape);

/* The server process: started after delay_ms; waited for (SERVING); stopped (SIGTERM, exit status). */
void spawn(server *s, int delay_ms);
void dump_log(const server *s);
int wait_ready(const server *s);
int stop(server *s);
/* nftw() callback removing everything. */
int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
server *server_new(const char *max_message_bytes);
int setup_failed(server *s, void **state);
int server_start(server *s, void **state);
/* cmocka group setups (the server in *state) and their teardown. */
int group_teardown(void **state);
int setup_main(void **state);
int setup_small_messages(void **state);
int setup_big(void **state);

/* example, shuffled, random 80/10/10 split named train/val/test. */
tc_permutation_spec example_spec(void);
tc_permutation_info *make_perm(tc_client *c);
/* The row ids of a whole split, read with ReadBatch in batches of 128 (values checked); malloc'd. */
int64_t *read_split(tc_client *c, const char *id, const char *split, int64_t n);
/* waitpid() until PID exits: its exit code, 128 + the signal, or -1. */
int wait_exit(pid_t pid);

#endif
