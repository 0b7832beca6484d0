/* main.c: tablecar-server. The main thread runs a libuv loop that owns process life: signals, the drain
 * deadline, the periodic rescan of the data dir (run on libuv's thread pool, so a slow scan never delays a
 * signal), and the wake-up when the gRPC server has stopped. Calls are served by service.c's threads. */
#include <errno.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cache.h"
#include "catalog.h"
#include "config.h"
#include "log.h"
#include "metrics_http.h"
#include "perms.h"
#include "remote.h"
#include "s3_util.h"
#include "service.h"
#include "shm_socket.h"
#include "signals.h"

typedef struct app {
  ts_config cfg;
  uv_loop_t *loop;
  ts_signals *signals; /* SIGTERM, SIGINT (signals.h) */
  uv_timer_t drain_timer, rescan_timer;
  uv_async_t stopped;
  uv_work_t rescan_work;
  int rescanning;
  ts_cache *cache;
  ts_catalog *catalog;
  ts_perms *perms;
  ts_server *_Atomic server; /* atomic: a metrics scrape (its own thread) reads it */
  ts_metrics_http *metrics;
  ts_remote *remote; /* when the data dir is s3://... */
  ts_shm *shm;       /* clients' shared-memory pools (NULL with --shm-bytes 0) */
  ts_shm_socket *shm_socket[TS_MAX_LISTEN];
} app;

static const char *env(const char *name) { return getenv(name); }

static void on_drain_deadline(uv_timer_t *t) {
  app *a = t->data;
  ts_log(TS_WARN, "drain_deadline", TS_S("action", "cancelling calls still in flight"), NULL);
  ts_server_cancel_all(a->server);
}

static void on_signal(int signum, void *arg) {
  app *a = arg;
  if (uv_is_active((uv_handle_t *)&a->drain_timer)) {
    ts_log(TS_WARN, "second_signal", TS_S("action", "cancelling calls"), NULL);
    ts_server_cancel_all(a->server);
    return;
  }
  ts_log(TS_INFO, "draining", TS_S("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"),
         TS_I("drain_ms", (long long)(a->cfg.drain_seconds * 1000)), NULL);
  uv_timer_stop(&a->rescan_timer);
  uv_timer_start(&a->drain_timer, on_drain_deadline, (uint64_t)(a->cfg.drain_seconds * 1000), 0);
  ts_server_drain(a->server);
}

/* From a server thread: the last call has finished. */
static void server_stopped(void *arg) {
  app *a = arg;
  uv_async_send(&a->stopped);
}

static void on_stopped(uv_async_t *h) {
  app *a = h->data;
  for (size_t i = 0; i < TS_MAX_LISTEN; i++) ts_shm_socket_stop(a->shm_socket[i]);
  ts_signals_close(a->signals);
  a->signals = NULL;
  uv_close((uv_handle_t *)&a->drain_timer, NULL);
  uv_close((uv_handle_t *)&a->rescan_timer, NULL);
  uv_close((uv_handle_t *)&a->stopped, NULL);
}

static void rescan(uv_work_t *w) {
  app *a = w->data;
  ts_catalog_refresh(a->catalog);
  ts_perms_prune(a->perms);
}

static void rescan_done(uv_work_t *w, int status) {
  app *a = w->data;
  a->rescanning = 0;
}

static void on_rescan(uv_timer_t *t) {
  app *a = t->data;
  if (a->rescanning) return;
  a->rescanning = 1;
  a->rescan_work.data = a;
  uv_queue_work(a->loop, &a->rescan_work, rescan, rescan_done);
}

static int check_dirs(const ts_config *c) {
  struct stat st;
  if (!ts_s3_is_url(c->data_dir) && (stat(c->data_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
    fprintf(stderr, "tablecar-server: --data-dir %s is not a directory\n", c->data_dir);
    return -1;
  }
  if (c->state_dir && (mkdir(c->state_dir, 0755) != 0 && (stat(c->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)))) {
    fprintf(stderr, "tablecar-server: --state-dir %s is not a directory and cannot be made\n", c->state_dir);
    return -1;
  }
  return 0;
}

static int start_server(app *a) {
  ts_server_options o = {
      .ctx = {.catalog = a->catalog, .perms = a->perms, .max_message_bytes = a->cfg.max_message_bytes, .shm = a->shm},
      .listen = a->cfg.listen,
      .n_listen = a->cfg.n_listen,
      .health_listen = a->cfg.health_listen,
      .threads = a->cfg.threads,
      .max_request_bytes = a->cfg.max_request_bytes,
      .max_connections = a->cfg.max_connections,
      .max_streams = a->cfg.max_streams,
      .idle_seconds = a->cfg.idle_seconds,
      .stall_seconds = a->cfg.stall_seconds,
      .socket_mode = a->cfg.socket_mode,
      .on_stopped = server_stopped,
      .arg = a,
  };
  char err[512];
  ts_server *s = ts_server_start(&o, err, sizeof err);
  if (!s) {
    ts_log(TS_ERROR, "listen_failed", TS_S("error", err), NULL);
    return -1;
  }
  a->server = s;
  for (size_t i = 0; i < a->cfg.n_listen; i++) ts_log(TS_INFO, "listening", TS_S("addr", a->cfg.listen[i]), NULL);
  if (a->cfg.health_listen)
    ts_log(TS_INFO, "listening", TS_S("addr", a->cfg.health_listen), TS_S("serves", "grpc.health.v1 only"), NULL);
  return 0;
}

/* A side socket for shared-memory pools next to every Unix-socket address (shm_socket.h). */
static int start_shm_sockets(app *a) {
  for (size_t i = 0; a->shm && i < a->cfg.n_listen; i++) {
    const char *path = ts_listen_unix_path(a->cfg.listen[i]);
    if (!path) continue;
    char side[1100], err[512];
    snprintf(side, sizeof side, "%s" TC_SHM_SIDE_SUFFIX, path);
    if (!(a->shm_socket[i] = ts_shm_socket_start(a->loop, a->shm, side, a->cfg.socket_mode, a->cfg.max_connections, err,
                                                 sizeof err))) {
      ts_log(TS_ERROR, "listen_failed", TS_S("error", err), NULL);
      return -1;
    }
    ts_log(TS_INFO, "listening", TS_S("addr", side), TS_S("serves", "shared-memory pools"), NULL);
  }
  return 0;
}

/* Scrape time, on the HTTP thread: the cache and the permutations lock their own state. */
static void gauges(void *arg, ts_metrics_gauges *g) {
  app *a = arg;
  ts_cache_get_stats(a->cache, &g->cache);
  g->permutation_bytes = ts_perms_built_bytes(a->perms);
  ts_server *s = a->server;
  g->connections = s ? ts_server_connections(s) : 0;
  if (a->shm) ts_shm_stats(a->shm, &g->shm_pools, &g->shm_bytes);
  if (a->remote) {
    g->remote = 1;
    g->remote_cache_bytes = ts_remote_cache_bytes(a->remote);
    g->remote_evicted_bytes = ts_remote_evicted_bytes(a->remote);
  }
}

static int start_metrics(app *a) {
  if (!a->cfg.metrics_listen) return 0;
  char err[512];
  if (!(a->metrics = ts_metrics_http_start(a->cfg.metrics_listen, gauges, a, err, sizeof err))) {
    ts_log(TS_ERROR, "listen_failed", TS_S("error", err), NULL);
    return -1;
  }
  ts_log(TS_INFO, "listening", TS_S("addr", a->cfg.metrics_listen), TS_S("serves", "Prometheus /metrics"), NULL);
  return 0;
}

/* -1 when SIGTERM cannot be taken: it is blocked in every thread, so a server that started anyway could
 * be stopped only by SIGKILL. */
static int setup_loop(app *a) {
  a->loop = uv_default_loop();
  uv_timer_init(a->loop, &a->drain_timer);
  uv_timer_init(a->loop, &a->rescan_timer);
  uv_async_init(a->loop, &a->stopped, on_stopped);
  a->drain_timer.data = a->rescan_timer.data = a->stopped.data = a;
  uint64_t every = (uint64_t)(a->cfg.rescan_seconds * 1000);
  if (every > 0) uv_timer_start(&a->rescan_timer, on_rescan, every, every);
  if ((a->signals = ts_signals_start(a->loop, on_signal, a))) return 0;
  ts_log(TS_ERROR, "signals_not_watched", TS_S("error", "out of memory or threads"), NULL);
  return -1;
}

static ts_status remote_sync(void *arg, ts_error *err) { return ts_remote_sync(arg, err); }

/* For --data-dir s3://...: the remote data dir and where its objects are cached. */
static int open_remote(app *a) {
  char dflt[512], err[512];
  const char *dir = a->cfg.remote_cache_dir;
  if (!dir && a->cfg.state_dir)
    snprintf(dflt, sizeof dflt, "%s/remote-cache", a->cfg.state_dir), dir = dflt;
  else if (!dir)
    snprintf(dflt, sizeof dflt, "/tmp/tablecar-remote-cache-%ld", (long)getuid()), dir = dflt;
  a->remote = ts_remote_new(a->cfg.data_dir, dir, a->cfg.remote_cache_bytes,
                            (int64_t)(a->cfg.remote_timeout_seconds * 1000), env, err, sizeof err);
  if (!a->remote) {
    fprintf(stderr, "tablecar-server: %s\n", err);
    return -1;
  }
  ts_log(TS_INFO, "remote_data_dir", TS_S("url", a->cfg.data_dir), TS_S("cache_dir", dir),
         TS_I("cache_bytes", a->cfg.remote_cache_bytes), NULL);
  return 0;
}

int main(int argc, char **argv) {
  ts_signals_block(); /* before any thread exists: every thread inherits it (signals.h) */
  app a = {0};
  char err[512];
  int rc = ts_config_parse(&a.cfg, argc, argv, env, err, sizeof err, stdout);
  if (rc != TS_CONFIG_OK) {
    if (rc == TS_CONFIG_ERROR) fprintf(stderr, "tablecar-server: %s\n", err);
    return rc == TS_CONFIG_EXIT ? 0 : 2;
  }
  ts_log_set_level(a.cfg.log_level);
  if (check_dirs(&a.cfg) != 0) return 2;
  if (ts_s3_is_url(a.cfg.data_dir) && open_remote(&a) != 0) return 2;
  grpc_init();
  a.cache = ts_cache_new(a.cfg.cache_bytes);
  a.catalog = ts_catalog_new(a.remote ? ts_remote_dir(a.remote) : a.cfg.data_dir, a.cache);
  if (a.remote)
    ts_catalog_set_sync(a.catalog, remote_sync, a.remote), ts_catalog_set_io(a.catalog, ts_remote_io(a.remote));
  a.perms = ts_perms_new(a.cfg.state_dir, a.catalog, a.cfg.permutation_bytes);
  if (a.cfg.shm_bytes) a.shm = ts_shm_new(a.cfg.shm_bytes, a.cfg.shm_pool_bytes);
  ts_catalog_refresh(a.catalog);
  ts_log(TS_INFO, "starting", TS_S("data_dir", a.cfg.data_dir),
         TS_S("state_dir", a.cfg.state_dir ? a.cfg.state_dir : ""), TS_I("cache_bytes", a.cfg.cache_bytes),
         TS_I("max_message_bytes", a.cfg.max_message_bytes), TS_I("threads", a.cfg.threads), NULL);
  rc = setup_loop(&a);
  if (rc == 0) rc = start_metrics(&a);
  if (rc == 0) rc = start_shm_sockets(&a);
  if (rc == 0) rc = start_server(&a);
  if (rc == 0) {
    uv_run(a.loop, UV_RUN_DEFAULT);
    ts_metrics_http_stop(a.metrics); /* a scrape reads the server: no more of them */
    a.metrics = NULL;
    ts_server_free(a.server);
    ts_log(TS_INFO, "stopped", NULL);
  } else {
    on_stopped(&a.stopped);
    uv_run(a.loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(a.loop);
  ts_metrics_http_stop(a.metrics);
  ts_perms_free(a.perms);
  ts_catalog_free(a.catalog);
  ts_cache_free(a.cache);
  ts_remote_free(a.remote);
  ts_shm_free(a.shm);
  /* No grpc_shutdown_blocking(): the server and its queue are gone, nothing is left to flush, and it would
   * join gRPC's executor threads, one of which may sit up to 10 s in the TCP backup poller (iomgr's
   * tcp_posix.cc polls with a 10 s deadline once a large response has filled a socket), so a SIGTERM after
   * any big batch took 10 s to exit: past `docker stop`'s default grace period. */
  ts_config_free(&a.cfg);
  return rc == 0 ? 0 : 1;
}
