/* grpcjs_testutil.h: what test_client_grpcjs.c and test_client_grpcjs_conn.c share: tests/peers/fake_server.mjs
 * (@grpc/grpc-js) as a real process on a temporary Unix socket (plus its raw node:http2 socket and a socket that
 * breaks HTTP/2), started by the cmocka group setup; handles to it, CHECK and NEED_NODE (skip without node). */
#ifndef TC_GRPCJS_TESTUTIL_H
#define TC_GRPCJS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tablecar.h"

/* The temporary directory, its sockets and their targets; the node process; whether node and the peers exist. */
extern char g_dir[256], g_sock[320], g_raw[320], g_bad[320], g_target[340], g_raw_target[340], g_bad_target[340];
extern pid_t g_server;
extern int g_have_node;

extern const tc_call_opts kSlowStart; /* node takes a while to start */
extern const tc_call_opts kNoRetry;
/* A deadline that only a hang reaches (see grpcjs_testutil.c). */
extern const tc_call_opts kHangGuard;

#define NEED_NODE()                                                                                                    \
  do {                                                                                                                 \
    if (!g_have_node) {                                                                                                \
      print_message("skipped: node or tests/peers/node_modules missing (run .ci/install-deps)\n");                     \
      skip();                                                                                                          \
    }                                                                                                                  \
  } while (0)

#define CHECK(c, expr, want)                                                                                           \
  do {                                                                                                                 \
    int rc_ = (expr);                                                                                                  \
    if (rc_ != (want))                                                                                                 \
      fail_msg("%s: got %d (%s), want %d: %s", #expr, rc_, tc_strerror(rc_), (want), tc_last_error(c));                \
  } while (0)

double now_s(void);
int have_node(void);
/* Starts fake_server.mjs on the three sockets (g_server); kills it. */
void start_server(void);
void stop_server(void);
/* cmocka group setup and teardown: the directory and the server, when node is there. */
int group_setup(void **state);
int group_teardown(void **state);
/* A handle to g_target (asserts). */
tc_client *client(void);
/* A handle whose first backoff is past any deadline. */
tc_client *one_attempt_client(const char *target);
/* Element I of int64 values at P. */
int64_t i64_at(const uint8_t *p, size_t i);
/* A sequential 70/30 train/test permutation of "numbers". */
tc_permutation_info *train_test(tc_client *c);
/* Reads a whole stream; checks rows are consecutive values of x from first, offsets continue. */
int64_t drain(tc_client *c, tc_stream *s, int64_t first_x, int64_t x_step, int64_t first_offset, int64_t *batches);

#endif
