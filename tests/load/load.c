/* tc-load: 64 client processes against one real tablecar-server, each mixing unary calls (TakeRows,
 * ReadBatch, DescribePermutation, health) and whole streams for a fixed number of rounds. Prints the
 * errors (must be 0), the server's descriptors before and after (must come back to the baseline) and its
 * peak RSS against --cache-bytes + --permutation-bytes. Not a timed test: the figures are for the report.
 *
 *   tc-load SERVER_BIN [--procs N] [--rounds N] [--rows N]      exit 0 when every check holds
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "server_proc.h"
#include "tablecar.h"

static long rss_kib(pid_t pid, const char *key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, strlen(key))) v = strtol(line + strlen(key) + 1, NULL, 10);
  if (f) fclose(f);
  return v;
}

/* One client process: ROUNDS rounds of every kind of call; the number of failed calls. */
static int child(const char *target, const char *perm, int k, int rounds, int rows) {
  tc_client *c;
  if (tc_client_new(target, NULL, &c)) return 1;
  int bad = 0, st;
  for (int r = 0; r < rounds; r++) {
    int64_t idx[8];
    for (int i = 0; i < 8; i++) idx[i] = (k * 131 + r * 17 + i * 7) % rows;
    tc_take_rows_req t = {.table = "example", .indices = idx, .n_indices = 8};
    tc_batch *b;
    if (tc_take_rows(c, &t, NULL, &b) == TC_OK)
      tc_batch_free(b);
    else
      bad++;
    tc_read_batch_req rb = {.permutation = perm, .split = "0", .offset = (k * 37 + r) % (rows - 64), .batch_size = 64};
    if (tc_read_batch(c, &rb, NULL, &b) == TC_OK)
      tc_batch_free(b);
    else
      bad++;
    tc_permutation_info *p;
    if (tc_describe_permutation(c, perm, NULL, &p) == TC_OK)
      tc_permutation_info_free(p);
    else
      bad++;
    if (tc_health_check(c, NULL, NULL, &st) != TC_OK) bad++;
    tc_stream_req sr = {.permutation = perm, .split = "0", .batch_size = 256, .shard_index = k % 8, .shard_count = 8};
    tc_stream *s;
    if (tc_stream_batches(c, &sr, NULL, &s) != TC_OK) {
      bad++;
      continue;
    }
    int64_t got = 0;
    for (;;) {
      if (tc_stream_next(s, &b) != TC_OK) {
        bad++;
        break;
      }
      if (!b) break;
      got += b->num_rows;
      tc_batch_free(b);
    }
    if (got != (rows + 7 - k % 8) / 8) bad++;
    tc_stream_free(s);
  }
  if (bad) fprintf(stderr, "client %d: %d failed calls, last: %s\n", k, bad, tc_last_error(c));
  tc_client_free(c);
  return bad;
}

int main(int argc, char **argv) {
  int procs = 64, rounds = 50, rows = 20000;
  if (argc < 2) {
    fprintf(stderr, "usage: tc-load SERVER_BIN [--procs N] [--rounds N] [--rows N]\n");
    return 2;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--procs"))
      procs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds"))
      rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rows"))
      rows = atoi(argv[i + 1]);
  }
  sp_server *s = sp_new();
  fx_table t;
  char path[300];
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  aw_options opt = {.format = AW_FILE, .codec = AW_ZSTD}; /* decompressed into the cache */
  if (fx_example(&t, FX_EXAMPLE_SHAPE, rows, 1024) || fx_table_write(path, &opt, &t)) return 2;
  fx_table_free(&t);
  static const char *const flags[] = {
      "--cache-bytes", "64M", "--permutation-bytes", "16M", "--log-level", "warn", "--max-connections", "256", NULL};
  if (sp_start(s, argv[1], 0, flags)) return 2;
  tc_client *c;
  tc_client_new(s->target, NULL, &c);
  tc_permutation_spec spec = {.table = "example", .shuffle = 1, .shuffle_seed = 9};
  tc_permutation_info *p;
  if (tc_create_permutation(c, &spec, NULL, &p)) return 2;
  char perm[40];
  snprintf(perm, sizeof perm, "%s", p->id);
  tc_permutation_info_free(p);
  tc_client_free(c);
  sp_sleep_ms(200);
  int fds0 = sp_count_fds(s->pid);
  long rss0 = rss_kib(s->pid, "VmRSS:");
  double t0 = sp_now();
  pid_t *kids = calloc((size_t)procs, sizeof *kids);
  for (int k = 0; k < procs; k++)
    if ((kids[k] = fork()) == 0) _exit(child(s->target, perm, k, rounds, rows) ? 1 : 0);
  int failed = 0, peak_fds = 0;
  for (int done = 0; done < procs;) {
    int n = sp_count_fds(s->pid);
    if (n > peak_fds) peak_fds = n;
    int ws;
    pid_t r = waitpid(-1, &ws, WNOHANG);
    if (r > 0) {
      done++;
      failed += !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    } else {
      sp_sleep_ms(20);
    }
  }
  double dt = sp_now() - t0;
  /* the clients are gone: the server's descriptors come back to the baseline (condition, with a guard) */
  int fds1 = -1;
  for (double w = sp_now(); sp_now() - w < 120 && (fds1 = sp_count_fds(s->pid)) > fds0; sp_sleep_ms(20)) {}
  long hwm = rss_kib(s->pid, "VmHWM:"), rss1 = rss_kib(s->pid, "VmRSS:");
  long budget = (64 + 16) * 1024; /* --cache-bytes + --permutation-bytes, KiB */
  long overhead = 128 * 1024;     /* stated: threads' stacks, gRPC buffers, 64 connections, the mapped file */
  printf("tc-load: %d processes x %d rounds (TakeRows, ReadBatch, DescribePermutation, health, one 1/8 "
         "shard stream) over %d rows in %.1f s\n",
         procs, rounds, rows, dt);
  printf("  failed client processes: %d\n", failed);
  printf("  server fds: %d before, peak %d, %d after\n", fds0, peak_fds, fds1);
  printf("  server RSS: %ld KiB before, peak %ld KiB, %ld KiB after; budget %ld KiB + overhead %ld KiB\n", rss0, hwm,
         rss1, budget, overhead);
  int stop = sp_stop(s);
  printf("  server exit after SIGTERM: %d\n", stop);
  int ok = failed == 0 && fds1 <= fds0 && hwm <= budget + overhead && stop == 0;
  if (!ok) sp_dump_log(s);
  sp_free(s);
  free(kids);
  printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
