/* Unit tests for server/config.c: flags, environment, sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const char *const *fake_env;

static const char *get(const char *name) {
  for (const char *const *e = fake_env; e && *e; e += 2)
    if (strcmp(e[0], name) == 0) return e[1];
  return NULL;
}

static int parse(ts_config *c, char **argv, const char *const *env, char *err) {
  int argc = 0;
  while (argv[argc]) argc++;
  fake_env = env;
  FILE *out = fopen("/dev/null", "w");
  int rc = ts_config_parse(c, argc, argv, get, err, 256, out);
  fclose(out);
  return rc;
}

static void test_sizes(void **state) {
  assert_int_equal(ts_parse_size("4096"), 4096);
  assert_int_equal(ts_parse_size("64M"), 64LL << 20);
  assert_int_equal(ts_parse_size("1GiB"), 1LL << 30);
  assert_int_equal(ts_parse_size("2k"), 2048);
  assert_int_equal(ts_parse_size("1.5G"), 3LL << 29);
  assert_int_equal(ts_parse_size("12x"), -1);
  assert_int_equal(ts_parse_size("-1"), -1);
  assert_int_equal(ts_parse_size(""), -1);
}

static void test_defaults_and_flags(void **state) {
  ts_config c;
  char err[256];
  char *argv[] = {"tablecar-server", "--data-dir",  "/data",    "--cache-bytes=2G",
                  "--listen",        "/tmp/x.sock", "--listen", "127.0.0.1:7700",
                  "--log-level",     "debug",       NULL};
  assert_int_equal(parse(&c, argv, NULL, err), TS_CONFIG_OK);
  assert_string_equal(c.data_dir, "/data");
  assert_null(c.state_dir);
  assert_int_equal(c.cache_bytes, 2LL << 30);
  assert_int_equal(c.max_message_bytes, 64 << 20);
  assert_int_equal(c.permutation_bytes, 256 << 20);
  assert_int_equal(c.socket_mode, 0660);
  assert_int_equal(c.n_listen, 2);
  assert_string_equal(c.listen[0], "unix:/tmp/x.sock");
  assert_string_equal(c.listen[1], "127.0.0.1:7700");
  assert_int_equal(c.log_level, TS_DEBUG);
  ts_config_free(&c);
}

static void test_env_and_flag_precedence(void **state) {
  ts_config c;
  char err[256];
  const char *env[] = {"TABLECAR_DATA_DIR",
                       "/envdata",
                       "TABLECAR_LISTEN",
                       "unix:/a.sock,127.0.0.1:1",
                       "TABLECAR_MAX_MESSAGE_BYTES",
                       "1M",
                       "TABLECAR_DRAIN_SECONDS",
                       "2.5",
                       "TABLECAR_PERMUTATION_BYTES",
                       "8M",
                       "TABLECAR_SOCKET_MODE",
                       "0666",
                       NULL};
  char *argv[] = {"tablecar-server", "--max-message-bytes", "2M", NULL};
  assert_int_equal(parse(&c, argv, env, err), TS_CONFIG_OK);
  assert_string_equal(c.data_dir, "/envdata");
  assert_int_equal(c.n_listen, 2);
  assert_string_equal(c.listen[0], "unix:/a.sock");
  assert_int_equal(c.max_message_bytes, 2 << 20); /* the flag wins */
  assert_true(c.drain_seconds == 2.5);
  assert_int_equal(c.permutation_bytes, 8 << 20);
  assert_int_equal(c.socket_mode, 0666);
  ts_config_free(&c);
  char *argv2[] = {"tablecar-server", "--listen", "unix:/b.sock", NULL};
  assert_int_equal(parse(&c, argv2, env, err), TS_CONFIG_OK);
  assert_int_equal(c.n_listen, 1); /* flags replace TABLECAR_LISTEN */
  assert_string_equal(c.listen[0], "unix:/b.sock");
  ts_config_free(&c);
}

static void test_errors(void **state) {
  ts_config c;
  char err[256];
  char *no_dir[] = {"tablecar-server", NULL};
  assert_int_equal(parse(&c, no_dir, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "--data-dir"));
  ts_config_free(&c);
  char *bad_size[] = {"tablecar-server", "--data-dir", "/d", "--cache-bytes", "lots", NULL};
  assert_int_equal(parse(&c, bad_size, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "cache-bytes"));
  ts_config_free(&c);
  char *unknown[] = {"tablecar-server", "--data-dir", "/d", "--frobnicate", "1", NULL};
  assert_int_equal(parse(&c, unknown, NULL, err), TS_CONFIG_ERROR);
  ts_config_free(&c);
  char *bad_mode[] = {"tablecar-server", "--data-dir", "/d", "--socket-mode", "rw-rw----", NULL};
  assert_int_equal(parse(&c, bad_mode, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "socket-mode"));
  ts_config_free(&c);
  char *missing[] = {"tablecar-server", "--data-dir", NULL};
  assert_int_equal(parse(&c, missing, NULL, err), TS_CONFIG_ERROR);
  ts_config_free(&c);
  char *help[] = {"tablecar-server", "--help", NULL};
  assert_int_equal(parse(&c, help, NULL, err), TS_CONFIG_EXIT);
  ts_config_free(&c);
  const char *bad_env[] = {"TABLECAR_DATA_DIR", "/d", "TABLECAR_THREADS", "0", NULL};
  char *plain[] = {"tablecar-server", NULL};
  assert_int_equal(parse(&c, plain, bad_env, err), TS_CONFIG_ERROR);
  ts_config_free(&c);
}

static void test_remote_settings(void **state) {
  ts_config c;
  char err[256];
  char *argv[] = {"tablecar-server", "--data-dir", "s3://bkt/pfx", "--remote-cache-bytes", "3G", NULL};
  const char *env[] = {"TABLECAR_REMOTE_CACHE_DIR",
                       "/var/cache/tc",
                       "TABLECAR_REMOTE_TIMEOUT_SECONDS",
                       "2.5",
                       "TABLECAR_REMOTE_CACHE_BYTES",
                       "1G",
                       NULL};
  assert_int_equal(parse(&c, argv, env, err), TS_CONFIG_OK);
  assert_string_equal(c.data_dir, "s3://bkt/pfx");
  assert_string_equal(c.remote_cache_dir, "/var/cache/tc");
  assert_int_equal(c.remote_cache_bytes, 3LL << 30); /* the flag wins */
  assert_true(c.remote_timeout_seconds == 2.5);
  ts_config_free(&c);
  char *dflt[] = {"tablecar-server", "--data-dir", "s3://bkt", NULL};
  assert_int_equal(parse(&c, dflt, NULL, err), TS_CONFIG_OK);
  assert_null(c.remote_cache_dir);
  assert_int_equal(c.remote_cache_bytes, 10LL << 30);
  assert_true(c.remote_timeout_seconds == 30);
  ts_config_free(&c);
  char *bad[] = {"tablecar-server", "--data-dir", "s3://bkt", "--remote-timeout-seconds", "0", NULL};
  assert_int_equal(parse(&c, bad, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "remote-timeout-seconds"));
  ts_config_free(&c);
}

static void test_network_exposure(void **state) {
  ts_config c;
  char err[256];
  assert_true(ts_listen_is_local("unix:/tmp/a.sock"));
  assert_true(ts_listen_is_local("unix-abstract:x"));
  assert_true(ts_listen_is_local("127.0.0.1:80"));
  assert_true(ts_listen_is_local("localhost:80"));
  assert_true(ts_listen_is_local("[::1]:80"));
  assert_true(ts_listen_is_local("ipv4:127.0.0.1:80"));
  assert_false(ts_listen_is_local("0.0.0.0:80"));
  assert_false(ts_listen_is_local("[::]:80"));
  assert_false(ts_listen_is_local("10.1.2.3:80"));
  assert_false(ts_listen_is_local("myhost:80"));
  assert_false(ts_listen_is_local("dns:localhost:80"));
  assert_false(ts_listen_is_local("127.0.0.1:80,10.0.0.1:80"));
  char *open_tcp[] = {"tablecar-server", "--data-dir", "/d", "--listen", "0.0.0.0:7700", NULL};
  assert_int_equal(parse(&c, open_tcp, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "--expose-data-on-network"));
  ts_config_free(&c);
  const char *env_open[] = {"TABLECAR_DATA_DIR", "/d", "TABLECAR_LISTEN", "unix:/a.sock,0.0.0.0:1", NULL};
  char *no_args[] = {"tablecar-server", NULL};
  assert_int_equal(parse(&c, no_args, env_open, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "0.0.0.0:1"));
  ts_config_free(&c);
  char *allowed[] = {"tablecar-server",
                     "--data-dir",
                     "/d",
                     "--listen",
                     "0.0.0.0:7700",
                     "--expose-data-on-network",
                     "--health-listen",
                     "0.0.0.0:8081",
                     "--metrics-listen",
                     "9090",
                     NULL};
  assert_int_equal(parse(&c, allowed, NULL, err), TS_CONFIG_OK);
  assert_true(c.expose_data);
  assert_string_equal(c.health_listen, "0.0.0.0:8081");
  assert_string_equal(c.metrics_listen, "9090");
  ts_config_free(&c);
  const char *env_allowed[] = {
      "TABLECAR_DATA_DIR", "/d", "TABLECAR_LISTEN", "[::]:1", "TABLECAR_EXPOSE_DATA_ON_NETWORK", "1", NULL};
  char *plain[] = {"tablecar-server", NULL};
  assert_int_equal(parse(&c, plain, env_allowed, err), TS_CONFIG_OK);
  ts_config_free(&c);
  char *health_unix[] = {"tablecar-server", "--data-dir", "/d", "--health-listen", "unix:/h.sock", NULL};
  assert_int_equal(parse(&c, health_unix, NULL, err), TS_CONFIG_ERROR);
  assert_non_null(strstr(err, "health-listen"));
  ts_config_free(&c);
}

static void test_limits(void **state) {
  ts_config c;
  char err[256];
  char *defaults[] = {"tablecar-server", "--data-dir", "/d", NULL};
  assert_int_equal(parse(&c, defaults, NULL, err), TS_CONFIG_OK);
  assert_int_equal(c.max_connections, 512);
  assert_int_equal(c.max_streams, 100);
  assert_true(c.idle_seconds == 600);
  assert_true(c.stall_seconds == 300);
  ts_config_free(&c);
  const char *env[] = {"TABLECAR_MAX_STREAMS", "7", "TABLECAR_STALL_SECONDS", "0", NULL};
  char *argv[] = {"tablecar-server", "--data-dir", "/d", "--max-connections", "3", "--idle-seconds=0.25", NULL};
  assert_int_equal(parse(&c, argv, env, err), TS_CONFIG_OK);
  assert_int_equal(c.max_connections, 3);
  assert_int_equal(c.max_streams, 7);
  assert_true(c.idle_seconds == 0.25);
  assert_true(c.stall_seconds == 0);
  ts_config_free(&c);
  const char *bad[][2] = {{"--max-streams", "0"},
                          {"--max-connections", "-1"},
                          {"--max-streams", "2x"},
                          {"--idle-seconds", "soon"},
                          {"--stall-seconds", "-1"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *a[] = {"tablecar-server", "--data-dir", "/d", (char *)bad[i][0], (char *)bad[i][1], NULL};
    assert_int_equal(parse(&c, a, NULL, err), TS_CONFIG_ERROR);
    assert_non_null(strstr(err, bad[i][0]));
    ts_config_free(&c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_defaults_and_flags),
      cmocka_unit_test(test_env_and_flag_precedence),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_remote_settings),
      cmocka_unit_test(test_network_exposure),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
