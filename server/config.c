/* config.c: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include "tablecar.h"

static const char usage[] =
    "usage: tablecar-server --data-dir DIR [options]\n"
    "Serves the Arrow tables of DIR, and permutations of them, over gRPC (tablecar.v1).\n"
    "\n"
    "  --data-dir DIR            tables: NAME.arrow|.feather|.ipc files and directories of them (read only);\n"
    "                            or s3://BUCKET/PREFIX (credentials and endpoint from AWS_* variables)\n"
    "  --state-dir DIR           where permutations are kept across restarts (writable; default: memory)\n"
    "  --listen ADDR             unix:/path, unix-abstract:NAME or HOST:PORT; repeatable\n"
    "                            (default unix:/tmp/tablecar.sock)\n"
    "  --health-listen ADDR      a TCP address (e.g. 0.0.0.0:8081) serving only grpc.health.v1, for\n"
    "                            Kubernetes' grpc: probes; no table is reachable through it\n"
    "  --metrics-listen ADDR     [HOST:]PORT serving Prometheus metrics over HTTP at /metrics\n"
    "  --expose-data-on-network  allow a --listen on a TCP address other than loopback: anyone who can\n"
    "                            reach it reads every table (without this flag the server refuses)\n"
    "  --cache-bytes N           decoded (decompressed) record batches to keep (default 1G)\n"
    "  --max-message-bytes N     largest batch sent (default 64M)\n"
    "  --max-request-bytes N     largest request accepted (default 64M)\n"
    "  --permutation-bytes N     built permutations to keep (4 bytes a row; default 256M); the least\n"
    "                            recently used are made again from their spec when needed\n"
    "  --threads N               request threads (default 2 per core, at least 4)\n"
    "  --socket-mode MODE        permissions of the Unix sockets (default 0660: owner and group; 0666 lets\n"
    "                            any user connect, e.g. a trainer container running as another user)\n"
    "  --drain-seconds S         on SIGTERM, time given to calls in flight (default 30)\n"
    "  --rescan-seconds S        how often the data dir is checked for changes (default 10; 0: never)\n"
    "  --remote-cache-dir DIR    where objects fetched from s3:// are kept across restarts\n"
    "                            (default STATE_DIR/remote-cache, else /tmp/tablecar-remote-cache-UID)\n"
    "  --remote-cache-bytes N    the cache's budget: objects no longer listed go first, then the least\n"
    "                            recently used bytes fetched (default 10G)\n"
    "  --remote-timeout-seconds S  a listing or fetch, retries included, gives up after S (default 30)\n"
    "  --shm-bytes N             clients' shared-memory pools mapped at once, in all (default 1G; 0: no\n"
    "                            side socket, every batch in the message)\n"
    "  --shm-pool-bytes N        the largest pool one client may hand over (default 512M)\n"
    "  --log-level L             debug, info, warn or error (default info)\n"
    "  --max-connections N       client connections at once; more are closed at once (default 512)\n"
    "  --max-streams N           calls at once on one connection; more wait for the client (default 100)\n"
    "  --idle-seconds S          a connection with no call for S seconds is closed (default 600; 0: never)\n"
    "  --stall-seconds S         a stream whose client reads nothing for S seconds is cancelled, freeing\n"
    "                            its batches (default 300; 0: never)\n"
    "  --help, --version\n"
    "Every option can also be set by an environment variable: --cache-bytes is TABLECAR_CACHE_BYTES, etc.\n";

long long ts_parse_size(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0) return -1;
  while (*end == ' ') end++;
  double mult = 1;
  switch (toupper((unsigned char)*end)) {
  case 'K':
    mult = 1024.0;
    end++;
    break;
  case 'M':
    mult = 1024.0 * 1024;
    end++;
    break;
  case 'G':
    mult = 1024.0 * 1024 * 1024;
    end++;
    break;
  case 'T':
    mult = 1024.0 * 1024 * 1024 * 1024;
    end++;
    break;
  }
  if (mult > 1 && *end == 'i') end++;
  if (mult > 1 && toupper((unsigned char)*end) == 'B')
    end++;
  else if (mult == 1 && toupper((unsigned char)*end) == 'B')
    end++;
  if (*end != '\0' || v * mult > 9.0e18) return -1;
  return (long long)(v * mult);
}

static int parse_seconds(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || v < 0 || v > 86400 * 365) return -1;
  *out = v;
  return 0;
}

/* unix:///p and unix:/p are gRPC's; a bare absolute path is taken as a Unix socket too. */
static int add_listen(ts_config *c, const char *addr, char *err, size_t errlen) {
  if (c->n_listen == TS_MAX_LISTEN) {
    snprintf(err, errlen, "at most %d --listen addresses", TS_MAX_LISTEN);
    return -1;
  }
  if (!*addr) {
    snprintf(err, errlen, "empty --listen address");
    return -1;
  }
  char *dst = c->storage[c->n_listen];
  int n = snprintf(dst, sizeof c->storage[0], "%s%s", addr[0] == '/' ? "unix:" : "", addr);
  if (n < 0 || (size_t)n >= sizeof c->storage[0]) {
    snprintf(err, errlen, "--listen address too long");
    return -1;
  }
  c->listen[c->n_listen++] = dst;
  return 0;
}

const char *ts_listen_unix_path(const char *addr) {
  if (strncmp(addr, "unix:", 5) != 0) return NULL;
  return strncmp(addr + 5, "//", 2) == 0 ? addr + 7 : addr + 5;
}

int ts_listen_is_local(const char *a) {
  if (!strncmp(a, "unix:", 5) || !strncmp(a, "unix-abstract:", 14)) return 1;
  if (!strncmp(a, "ipv4:", 5) || !strncmp(a, "ipv6:", 5)) a += 5;
  if (!strncmp(a, "dns:", 4) || strchr(a, ',')) return 0; /* resolved later, or a list: not ours to vouch for */
  if (!strncmp(a, "127.", 4) || !strncmp(a, "localhost:", 10)) return 1;
  return !strncmp(a, "[::1]:", 6);
}

/* The field of the size setting NAME, or NULL. */
static size_t *size_setting(ts_config *c, const char *name) {
  if (!strcmp(name, "cache-bytes")) return &c->cache_bytes;
  if (!strcmp(name, "max-message-bytes")) return &c->max_message_bytes;
  if (!strcmp(name, "max-request-bytes")) return &c->max_request_bytes;
  if (!strcmp(name, "permutation-bytes")) return &c->permutation_bytes;
  if (!strcmp(name, "remote-cache-bytes")) return &c->remote_cache_bytes;
  if (!strcmp(name, "shm-bytes")) return &c->shm_bytes;
  if (!strcmp(name, "shm-pool-bytes")) return &c->shm_pool_bytes;
  return NULL;
}

/* The limits (config.h): 1 when NAME is one (*rc: 0, or -1 with a message), else 0. */
static int apply_limit(ts_config *c, const char *name, const char *value, int *rc, char *err, size_t errlen) {
  double *seconds = !strcmp(name, "idle-seconds")    ? &c->idle_seconds
                    : !strcmp(name, "stall-seconds") ? &c->stall_seconds
                                                     : NULL;
  *rc = 0;
  if (seconds) {
    if (parse_seconds(value, seconds) != 0) {
      snprintf(err, errlen, "--%s: '%s' is not a number of seconds", name, value);
      *rc = -1;
    }
    return 1;
  }
  int *count = !strcmp(name, "max-streams")       ? &c->max_streams
               : !strcmp(name, "max-connections") ? &c->max_connections
                                                  : NULL;
  if (!count) return 0;
  char *end;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (end == value || *end || errno || n < 1 || n > 1000000) {
    snprintf(err, errlen, "--%s: '%s' is not between 1 and 1000000", name, value);
    *rc = -1;
  } else {
    *count = (int)n;
  }
  return 1;
}

/* Applies one setting NAME (without "--") = VALUE. */
static int apply(ts_config *c, const char *name, const char *value, char *err, size_t errlen) {
  long long size;
  size_t *size_field;
  int rc;
  if (apply_limit(c, name, value, &rc, err, errlen)) return rc;
  if (!strcmp(name, "data-dir")) {
    c->data_dir = value;
  } else if (!strcmp(name, "remote-cache-dir")) {
    c->remote_cache_dir = *value ? value : NULL;
  } else if (!strcmp(name, "remote-timeout-seconds")) {
    if (parse_seconds(value, &c->remote_timeout_seconds) != 0 || c->remote_timeout_seconds <= 0) {
      snprintf(err, errlen, "--remote-timeout-seconds: '%s' is not a positive number of seconds", value);
      return -1;
    }
  } else if (!strcmp(name, "state-dir")) {
    c->state_dir = *value ? value : NULL;
  } else if (!strcmp(name, "listen")) {
    return add_listen(c, value, err, errlen);
  } else if ((size_field = size_setting(c, name)) != NULL) {
    if ((size = ts_parse_size(value)) < 0 || (name[0] == 'm' && size < 1024)) {
      snprintf(err, errlen, "--%s: '%s' is not a size (e.g. 4096, 64M, 1G)", name, value);
      return -1;
    }
    *size_field = (size_t)size;
  } else if (!strcmp(name, "socket-mode")) {
    char *end;
    long m = strtol(value, &end, 8);
    if (*end || end == value || m < 0 || m > 0777) {
      snprintf(err, errlen, "--socket-mode: '%s' is not an octal mode such as 0660", value);
      return -1;
    }
    c->socket_mode = (int)m;
  } else if (!strcmp(name, "threads")) {
    char *end;
    long t = strtol(value, &end, 10);
    if (*end || t < 1 || t > 256) {
      snprintf(err, errlen, "--threads: '%s' is not between 1 and 256", value);
      return -1;
    }
    c->threads = (int)t;
  } else if (!strcmp(name, "drain-seconds") || !strcmp(name, "rescan-seconds")) {
    if (parse_seconds(value, name[0] == 'd' ? &c->drain_seconds : &c->rescan_seconds) != 0) {
      snprintf(err, errlen, "--%s: '%s' is not a number of seconds", name, value);
      return -1;
    }
  } else if (!strcmp(name, "health-listen") || !strcmp(name, "metrics-listen")) {
    if (!*value || !strncmp(value, "unix", 4)) {
      snprintf(err, errlen, "--%s: '%s' is not a TCP address such as 0.0.0.0:8081", name, value);
      return -1;
    }
    *(name[0] == 'h' ? &c->health_listen : &c->metrics_listen) = value;
  } else if (!strcmp(name, "expose-data-on-network")) {
    if (strcmp(value, "1") && strcmp(value, "true") && strcmp(value, "0") && strcmp(value, "false")) {
      snprintf(err, errlen, "TABLECAR_EXPOSE_DATA_ON_NETWORK: '%s' is not 1, true, 0 or false", value);
      return -1;
    }
    c->expose_data = value[0] == '1' || value[0] == 't';
  } else if (!strcmp(name, "log-level")) {
    if ((c->log_level = ts_log_parse_level(value)) < 0) {
      snprintf(err, errlen, "--log-level: '%s' is not debug, info, warn or error", value);
      return -1;
    }
  } else {
    snprintf(err, errlen, "unknown option --%s (see --help)", name);
    return -1;
  }
  return 0;
}

static const char *const env_names[][2] = {
    {"data-dir", "TABLECAR_DATA_DIR"},
    {"state-dir", "TABLECAR_STATE_DIR"},
    {"cache-bytes", "TABLECAR_CACHE_BYTES"},
    {"max-message-bytes", "TABLECAR_MAX_MESSAGE_BYTES"},
    {"max-request-bytes", "TABLECAR_MAX_REQUEST_BYTES"},
    {"permutation-bytes", "TABLECAR_PERMUTATION_BYTES"},
    {"threads", "TABLECAR_THREADS"},
    {"socket-mode", "TABLECAR_SOCKET_MODE"},
    {"drain-seconds", "TABLECAR_DRAIN_SECONDS"},
    {"rescan-seconds", "TABLECAR_RESCAN_SECONDS"},
    {"log-level", "TABLECAR_LOG_LEVEL"},
    {"remote-cache-dir", "TABLECAR_REMOTE_CACHE_DIR"},
    {"remote-cache-bytes", "TABLECAR_REMOTE_CACHE_BYTES"},
    {"remote-timeout-seconds", "TABLECAR_REMOTE_TIMEOUT_SECONDS"},
    {"health-listen", "TABLECAR_HEALTH_LISTEN"},
    {"metrics-listen", "TABLECAR_METRICS_LISTEN"},
    {"expose-data-on-network", "TABLECAR_EXPOSE_DATA_ON_NETWORK"},
    {"max-streams", "TABLECAR_MAX_STREAMS"},
    {"idle-seconds", "TABLECAR_IDLE_SECONDS"},
    {"max-connections", "TABLECAR_MAX_CONNECTIONS"},
    {"stall-seconds", "TABLECAR_STALL_SECONDS"},
    {"shm-bytes", "TABLECAR_SHM_BYTES"},
    {"shm-pool-bytes", "TABLECAR_SHM_POOL_BYTES"},
};

static int apply_env(ts_config *c, const char *(*get)(const char *), char *err, size_t errlen) {
  for (size_t i = 0; i < sizeof env_names / sizeof *env_names; i++) {
    const char *v = get(env_names[i][1]);
    if (v && *v && apply(c, env_names[i][0], v, err, errlen) != 0) return -1;
  }
  const char *l = get("TABLECAR_LISTEN");
  if (l && *l) {
    if (!(c->env_listen = strdup(l))) return -1;
    for (char *save, *tok = strtok_r(c->env_listen, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
      if (add_listen(c, tok, err, errlen) != 0) return -1;
  }
  return 0;
}

static int apply_args(ts_config *c, int argc, char **argv, int *listen_from_flags, char *err, size_t errlen,
                      FILE *out) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, out);
      return TS_CONFIG_EXIT;
    }
    if (!strcmp(a, "--version")) {
      fprintf(out, "tablecar-server %s\n", TS_VERSION);
      return TS_CONFIG_EXIT;
    }
    if (!strcmp(a, "--expose-data-on-network")) { /* the one flag without a value */
      c->expose_data = 1;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
      return TS_CONFIG_ERROR;
    }
    char name[64];
    const char *eq = strchr(a, '='), *value;
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    snprintf(name, sizeof name, "%.*s", (int)len, a + 2);
    if (eq) {
      value = eq + 1;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      snprintf(err, errlen, "--%s needs a value", name);
      return TS_CONFIG_ERROR;
    }
    if (!strcmp(name, "listen") && !(*listen_from_flags)++) c->n_listen = 0; /* flags replace TABLECAR_LISTEN */
    if (apply(c, name, value, err, errlen) != 0) return TS_CONFIG_ERROR;
  }
  return TS_CONFIG_OK;
}

int ts_config_parse(ts_config *c, int argc, char **argv, const char *(*get)(const char *), char *err, size_t errlen,
                    void *out_file) {
  memset(c, 0, sizeof *c);
  c->cache_bytes = (size_t)1 << 30;
  c->max_message_bytes = (size_t)64 << 20;
  c->max_request_bytes = (size_t)64 << 20;
  c->permutation_bytes = (size_t)256 << 20;
  c->log_level = TS_INFO;
  c->drain_seconds = 30;
  c->rescan_seconds = 10;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = cpus > 2 ? (int)(2 * cpus) : 4;
  c->socket_mode = 0660;
  c->max_connections = 512;
  c->max_streams = 100;
  c->idle_seconds = 600;
  c->stall_seconds = 300;
  c->remote_cache_bytes = (size_t)10 << 30;
  c->shm_bytes = (size_t)1 << 30;
  c->shm_pool_bytes = (size_t)512 << 20;
  c->remote_timeout_seconds = 30;
  if (apply_env(c, get, err, errlen) != 0) return TS_CONFIG_ERROR;
  int listen_from_flags = 0;
  int rc = apply_args(c, argc, argv, &listen_from_flags, err, errlen, out_file);
  if (rc != TS_CONFIG_OK) return rc;
  if (!c->data_dir || !*c->data_dir) {
    snprintf(err, errlen, "--data-dir is required (or TABLECAR_DATA_DIR; see --help)");
    return TS_CONFIG_ERROR;
  }
  if (c->n_listen == 0) add_listen(c, "unix:/tmp/tablecar.sock", err, errlen);
  for (size_t i = 0; i < c->n_listen && !c->expose_data; i++)
    if (!ts_listen_is_local(c->listen[i])) {
      snprintf(err, errlen,
               "--listen %s would serve every table to the network: use a Unix socket or a loopback address "
               "(probes: --health-listen), or say --expose-data-on-network",
               c->listen[i]);
      return TS_CONFIG_ERROR;
    }
  return TS_CONFIG_OK;
}

void ts_config_free(ts_config *c) {
  free(c->env_listen);
  c->env_listen = NULL;
}
