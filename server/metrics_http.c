/* metrics_http.c: see metrics_http.h. libmicrohttpd rather than a hand-written HTTP server: a scraper,
 * a browser or curl all get a correct HTTP/1.1 answer, and the server's threads never see a scrape. */
#include "metrics_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct ts_metrics_http {
  struct MHD_Daemon *d;
  ts_metrics_gauges_fn gauges;
  void *arg;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result ret = MHD_queue_response(conn, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
  ts_metrics_http *h = cls;
  static char not_found[] = "not found: the metrics are at /metrics\n";
  static char bad_method[] = "only GET\n";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method, sizeof bad_method - 1,
                 MHD_RESPMEM_PERSISTENT);
  if (strcmp(url, "/metrics") != 0)
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT);
  ts_metrics_gauges g = {.connections = -1};
  h->gauges(h->arg, &g);
  size_t len;
  char *text = ts_metrics_render(&g, &len);
  if (!text) return MHD_NO; /* out of memory: drop the connection */
  return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE);
}

/* "9090", "0.0.0.0:9090", "[::]:9090" -> a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen) {
  char host[128] = "0.0.0.0";
  const char *port = addr, *colon = strrchr(addr, ':');
  if (colon) {
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') h++, n -= 2;
    if (n == 0 || n >= sizeof host) {
      snprintf(err, errlen, "--metrics-listen: '%s' is not [HOST:]PORT", addr);
      return -1;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    port = colon + 1;
  }
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res;
  if (getaddrinfo(host, port, &hints, &res) != 0) {
    snprintf(err, errlen, "--metrics-listen: '%s' is not [HOST:]PORT with a numeric host and port", addr);
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

ts_metrics_http *ts_metrics_http_start(const char *addr, ts_metrics_gauges_fn gauges, void *arg, char *err,
                                       size_t errlen) {
  struct sockaddr_storage ss = {0};
  if (parse_addr(addr, &ss, err, errlen) != 0) return NULL;
  ts_metrics_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->gauges = gauges;
  h->arg = arg;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "--metrics-listen: cannot listen on %s", addr);
    free(h);
    return NULL;
  }
  return h;
}

void ts_metrics_http_stop(ts_metrics_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->d);
  free(h);
}
