/* config.h: tablecar-server's settings, from flags and TABLECAR_* environment variables (a flag wins). */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stddef.h>

#include "tablecar.h"

#define TS_MAX_LISTEN 8

#define TS_STR_(x) #x
#define TS_STR(x) TS_STR_(x)
/* The server's version: the public header's, kept there once. */
#define TS_VERSION TS_STR(TC_VERSION_MAJOR) "." TS_STR(TC_VERSION_MINOR) "." TS_STR(TC_VERSION_PATCH)

typedef struct ts_config {
  const char *data_dir;              /* --data-dir, TABLECAR_DATA_DIR (required) */
  const char *state_dir;             /* --state-dir, TABLECAR_STATE_DIR (optional) */
  const char *listen[TS_MAX_LISTEN]; /* --listen (repeatable), TABLECAR_LISTEN (comma-separated) */
  size_t n_listen;
  size_t cache_bytes;            /* --cache-bytes, TABLECAR_CACHE_BYTES */
  size_t max_message_bytes;      /* --max-message-bytes, TABLECAR_MAX_MESSAGE_BYTES */
  size_t max_request_bytes;      /* --max-request-bytes, TABLECAR_MAX_REQUEST_BYTES */
  size_t permutation_bytes;      /* --permutation-bytes, TABLECAR_PERMUTATION_BYTES */
  int log_level;                 /* --log-level, TABLECAR_LOG_LEVEL */
  double drain_seconds;          /* --drain-seconds, TABLECAR_DRAIN_SECONDS */
  double rescan_seconds;         /* --rescan-seconds, TABLECAR_RESCAN_SECONDS (0: only on demand) */
  int threads;                   /* --threads, TABLECAR_THREADS */
  int socket_mode;               /* --socket-mode, TABLECAR_SOCKET_MODE: permissions of Unix sockets */
  const char *remote_cache_dir;  /* --remote-cache-dir, TABLECAR_REMOTE_CACHE_DIR (s3:// data dirs) */
  size_t remote_cache_bytes;     /* --remote-cache-bytes, TABLECAR_REMOTE_CACHE_BYTES */
  double remote_timeout_seconds; /* --remote-timeout-seconds, TABLECAR_REMOTE_TIMEOUT_SECONDS */
  const char *health_listen;     /* --health-listen, TABLECAR_HEALTH_LISTEN: grpc.health.v1 only (or NULL) */
  const char *metrics_listen;    /* --metrics-listen, TABLECAR_METRICS_LISTEN: Prometheus [HOST:]PORT */
  int expose_data;               /* --expose-data-on-network, TABLECAR_EXPOSE_DATA_ON_NETWORK=1 */
  size_t shm_bytes;              /* --shm-bytes: clients' shared-memory pools mapped at once (0: none) */
  size_t shm_pool_bytes;         /* --shm-pool-bytes: the largest one pool */
  /* Limits a broken or hostile client cannot get around (config.c's apply_limit). */
  int max_connections;               /* --max-connections: more are accepted and closed at once */
  int max_streams;                   /* --max-streams: concurrent calls on one connection (HTTP/2 setting) */
  double idle_seconds;               /* --idle-seconds: a connection without calls this long is closed (0: never) */
  double stall_seconds;              /* --stall-seconds: a stream not read this long is cancelled (0: never) */
  char storage[TS_MAX_LISTEN][1024]; /* normalized listen addresses live here */
  char *env_listen;                  /* copy of TABLECAR_LISTEN, split in place */
} ts_config;

enum { TS_CONFIG_OK = 0, TS_CONFIG_EXIT = 1, TS_CONFIG_ERROR = 2 };

/* Fills CFG from ENVP-style getenv and ARGV. Returns TS_CONFIG_OK, TS_CONFIG_EXIT (--help/--version were
 * printed to OUT) or TS_CONFIG_ERROR with a message in err. Free with ts_config_free. */
int ts_config_parse(ts_config *cfg, int argc, char **argv, const char *(*getenv_fn)(const char *), char *err,
                    size_t errlen, void *out_file);
void ts_config_free(ts_config *cfg);

/* The socket file of a unix:PATH (unix:///PATH) address; NULL for any other address. */
const char *ts_listen_unix_path(const char *addr);

/* 1 when a gRPC address can only be reached from this machine: a Unix socket or a loopback TCP address. */
int ts_listen_is_local(const char *addr);

/* "64M", "1GiB", "4096" -> bytes; -1 on a malformed size. */
long long ts_parse_size(const char *s);

#endif
