/* Batches through shared memory (client/shm.c, server/shm.c + shm_socket.c), end to end: a real server,
 * libtablecar's pools, and hand-made side-socket exchanges for what the library never sends.
 *
 * The server is started with a small --shm-pool-bytes so that "too big" can be asked for cheaply. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_server_util.h"

#define POOL_CAP "64M" /* --shm-pool-bytes of the test server */

static int setup(void **state) {
  server *s = server_new(NULL);
  char path[300];
  if (!s) return -1;
  *state = s;
  s->extra_args[0] = "--shm-pool-bytes";
  s->extra_args[1] = POOL_CAP;
  snprintf(path, sizeof path, "%s/example.arrow", s->data);
  if (write_example(path, FX_EXAMPLE_SHAPE, EXAMPLE_ROWS, 64, AW_LZ4)) return setup_failed(s, state);
  fx_table all;
  snprintf(path, sizeof path, "%s/all.arrow", s->data);
  if (fx_all_types(&all) || fx_table_write(path, &(aw_options){0}, &all)) return setup_failed(s, state);
  fx_table_free(&all);
  return server_start(s, state);
}

/* ---- comparing batches ---- */

static void same_bytes(const char *what, const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
  if (na != nb) fail_msg("%s: %zu bytes over shared memory, %zu over the socket", what, na, nb);
  if (na && memcmp(a, b, na) != 0) fail_msg("%s: the bytes differ", what);
}

/* Every buffer of X lies in the slot [lo, lo + n) at a 64-byte aligned address. */
static void in_slot(const tc_column *x, const uint8_t *lo, size_t n) {
  const uint8_t *bufs[3] = {x->validity, x->offsets, x->values};
  size_t sizes[3] = {x->validity_size, x->offsets_size, x->values_size};
  for (int i = 0; i < 3; i++) {
    if (!sizes[i]) continue;
    assert_true(bufs[i] >= lo && bufs[i] + sizes[i] <= lo + n);
    assert_int_equal((uintptr_t)bufs[i] % 64, 0);
  }
  for (size_t i = 0; i < x->n_children; i++) in_slot(&x->children[i], lo, n);
}

static void same_column(const tc_column *a, const tc_column *b) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->length, b->length);
  assert_int_equal(a->null_count, b->null_count);
  same_bytes(a->name, a->validity, a->validity_size, b->validity, b->validity_size);
  same_bytes(a->name, a->offsets, a->offsets_size, b->offsets, b->offsets_size);
  same_bytes(a->name, a->values, a->values_size, b->values, b->values_size);
  assert_int_equal(a->n_children, b->n_children);
  for (size_t i = 0; i < a->n_children; i++) same_column(&a->children[i], &b->children[i]);
}

static void same_batch(const tc_batch *a, const tc_batch *b) {
  assert_int_equal(a->num_rows, b->num_rows);
  assert_int_equal(a->offset, b->offset);
  assert_string_equal(a->version, b->version);
  same_bytes("row_ids", a->row_ids, a->row_ids_size, b->row_ids, b->row_ids_size);
  assert_int_equal(a->n_columns, b->n_columns);
  for (size_t i = 0; i < a->n_columns; i++) same_column(&a->columns[i], &b->columns[i]);
}

static tc_shm_pool *attached_pool(tc_client *c, size_t slot_bytes, size_t n_slots) {
  tc_shm_pool *p;
  CHECK(c, tc_shm_pool_new(slot_bytes, n_slots, &p), TC_OK);
  CHECK(c, tc_shm_attach(p, c), TC_OK);
  assert_true(tc_shm_attached(p));
  CHECK(c, tc_shm_attach(p, c), TC_OK); /* again: nothing to do */
  return p;
}

/* TakeRows of every row of every type, shuffled with repeats, with and without the pool: the same bytes,
 * and the pool's are in the slot. */
static void test_take_rows_every_type(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_shm_pool *p = attached_pool(c, 1 << 20, 2);
  int64_t idx[2 * FX_ALL_TYPES_ROWS];
  for (int i = 0; i < 2 * FX_ALL_TYPES_ROWS; i++) idx[i] = (i * 7 + 3) % FX_ALL_TYPES_ROWS;
  uint32_t slot;
  uint64_t ticket;
  CHECK(c, tc_shm_acquire(p, &slot, &ticket), TC_OK);
  tc_take_rows_req req = {.table = "all", .indices = idx, .n_indices = 2 * FX_ALL_TYPES_ROWS};
  tc_batch *plain, *shm;
  CHECK(c, tc_take_rows(c, &req, NULL, &plain), TC_OK);
  req.shm = p;
  req.shm_slot = slot;
  CHECK(c, tc_take_rows(c, &req, NULL, &shm), TC_OK);
  assert_int_equal(plain->shm, 0);
  assert_int_equal(shm->shm, 1);
  assert_true(shm->n_columns > 20);
  size_t size;
  uint8_t *lo = tc_shm_slot_data(p, slot, &size);
  assert_true(shm->row_ids >= lo && shm->row_ids + shm->row_ids_size <= lo + size);
  for (size_t i = 0; i < shm->n_columns; i++) in_slot(&shm->columns[i], lo, size);
  same_batch(shm, plain);
  tc_batch_free(shm);
  tc_batch_free(plain);
  CHECK(c, tc_shm_release(p, slot, ticket), TC_OK);
  tc_shm_pool_free(p);
  tc_client_free(c);
}

/* ReadBatch over a whole split, slots reused: every batch equal to the socket path's; a slot too small for
 * a batch gets it in the message (shm 0), and the same bytes. */
static void test_read_batch_split(void **state) {
  server *s = *state;
  tc_client *c = client(s);
  tc_permutation_info *info = make_perm(c);
  tc_shm_pool *p = attached_pool(c, 256 << 10, 3);
  tc_shm_pool *tiny = attached_pool(c, 4096, 1);
  int64_t n = info->splits[0].num_rows, in_shm = 0;
  for (int64_t off = 0; off < n; off += 100) {
    uint32_t slot;
    uint64_t ticket;
    CHECK(c, tc_shm_acquire(p, &slot, &ticket), TC_OK);
    tc_read_batch_req req = {.permutation = info->id, .split = "train", .offset = off, .batch_size = 100};
    tc_batch *plain, *shm, *small;
    CHECK(c, tc_read_batch(c, &req, NULL, &plain), TC_OK);
    req.shm = p, req.shm_slot = slot;
    CHECK(c, tc_read_batch(c, &req, NULL, &shm), TC_OK);
    in_shm += shm->shm;
    same_batch(shm, plain);
    assert_rows(shm, FX_EXAMPLE_SHAPE);
    req.shm = tiny, req.shm_slot = 0;
    CHECK(c, tc_read_batch(c, &req, NULL, &small), TC_OK);
    assert_int_equal(small->shm, 0); /* 100 rows of 192-byte images and more: not in 4 KiB */
    same_batch(small, plain);
    tc_batch_free(small);
    tc_batch_free(shm);
    tc_batch_free(plain);
    CHECK(c, tc_shm_release(p, slot, ticket), TC_OK);
  }
  assert_int_equal(in_shm, (n + 99) / 100);
  tc_shm_pool_free(tiny);
  tc_shm_pool_free(p);
  tc_permutation_info_free(info);
  tc_client_free(c);
}

/* ---- slots ---- */

static void test_slots(void **state) {
  (void)state;
  tc_shm_pool *p;
  assert_int_equal(tc_shm_pool_new(0, 1, &p), TC_EINVAL);
  assert_int_equal(tc_shm_pool_new(4096, 0, &p), TC_EINVAL);
  assert_int_equal(tc_shm_pool_new(4096, 3, &p), TC_OK);
  assert_false(tc_shm_attached(p));
  uint32_t s[3], x;
  uint64_t t[3], tx;
  for (int i = 0; i < 3; i++) assert_int_equal(tc_shm_acquire(p, &s[i], &t[i]), TC_OK);
  assert_int_equal(tc_shm_acquire(p, &x, &tx), TC_ERESOURCE_EXHAUSTED);
  size_t n, held;
  tc_shm_pool_stats(p, &n, &held);
  assert_int_equal(n, 3);
  assert_int_equal(held, 3);

  /* A forked copy of the holder cannot release its parent's slot. */
  pid_t pid = fork();
  if (pid == 0) _exit(tc_shm_release(p, s[0], t[0]) == TC_EFAILED_PRECONDITION ? 0 : 1);
  assert_int_equal(wait_exit(pid), 0);
  assert_int_equal(tc_shm_acquire(p, &x, &tx), TC_ERESOURCE_EXHAUSTED);

  /* A child takes a slot over (adopt) and dies holding it: the slot is taken back by the next acquire. */
  assert_int_equal(tc_shm_release(p, s[1], t[1]), TC_OK);
  assert_int_equal(tc_shm_release(p, s[1], t[1]), TC_EFAILED_PRECONDITION); /* released already */
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid = fork();
  if (pid == 0) {
    uint32_t cs;
    uint64_t ct;
    int ok = tc_shm_acquire(p, &cs, &ct) == TC_OK && cs == s[1];
    if (write(pipefd[1], &ct, sizeof ct) != sizeof ct) ok = 0;
    _exit(ok ? 0 : 1); /* without releasing */
  }
  uint64_t child_ticket;
  assert_int_equal(read(pipefd[0], &child_ticket, sizeof child_ticket), sizeof child_ticket);
  assert_int_equal(wait_exit(pid), 0);
  close(pipefd[0]), close(pipefd[1]);
  assert_int_equal(tc_shm_acquire(p, &x, &tx), TC_OK);
  assert_int_equal(x, s[1]);
  /* The dead holder's ticket is stale now: it adopts and releases nothing. */
  uint64_t stale = child_ticket;
  assert_int_equal(tc_shm_adopt(p, x, &stale), TC_EFAILED_PRECONDITION);
  /* Handing over: the holder's ticket lets another process (here: us again) adopt it. */
  uint64_t handed = tx;
  assert_int_equal(tc_shm_adopt(p, x, &handed), TC_OK);
  assert_int_equal(handed, tx); /* same process, same generation */
  assert_int_equal(tc_shm_release(p, x, handed), TC_OK);
  for (int i = 0; i < 3; i += 2) assert_int_equal(tc_shm_release(p, s[i], t[i]), TC_OK);
  tc_shm_pool_stats(p, &n, &held);
  assert_int_equal(held, 0);
  tc_shm_pool_free(p);
}

/* ---- the server's side ---- */

/* The server's mappings of pools: lines of /proc/PID/maps naming our memfds. */
static int server_pool_mappings(pid_t pid) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "r");
  int n = 0;
  while (f && fgets(line, sizeof line, f)) n += strstr(line, "memfd:tablecar-pool") != NULL;
  if (f) fclose(f);
  return n;
}

static int open_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  int n = 0;
  while (d && readdir(d)) n++;
  if (d) closedir(d);
  return n;
}

/* Waits (a hang guard only) until the server maps WANT pools. */
static void wait_mappings(const server *s, int want) {
  for (double t0 = now_s(); server_pool_mappings(s->pid) != want; sleep_ms(10))
    if (now_s() - t0 > 60) fail_msg("the server maps %d pools, want %d", server_pool_mappings(s->pid), want);
}

/* A process that attached a pool and died: the server lets the mapping go, and its descriptors. */
static void test_dead_client_unmapped(void **state) {
  server *s = *state;
  wait_mappings(s, 0);
  int fds = open_fds(s->pid);
  int go[2];
  assert_int_equal(pipe(go), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[0]);
    tc_client *c = NULL;
    tc_shm_pool *p;
    int rc = tc_client_new(s->target, NULL, &c);
    if (!rc) rc = tc_shm_pool_new(1 << 20, 2, &p);
    if (!rc) rc = tc_shm_attach(p, c);
    if (rc) fprintf(stderr, "child: %s: %s\n", tc_strerror(rc), tc_last_error(c));
    char b = rc ? 'E' : 'A';
    if (write(go[1], &b, 1) != 1 || rc) _exit(1);
    for (;;) pause(); /* until SIGKILL */
  }
  close(go[1]); /* so that a child dying before it writes gives an end, not a wait */
  char b = 0;
  assert_int_equal(read(go[0], &b, 1), 1);
  assert_int_equal(b, 'A');
  wait_mappings(s, 1);
  kill(pid, SIGKILL);
  assert_int_equal(wait_exit(pid), 128 + SIGKILL);
  wait_mappings(s, 0);
  for (double t0 = now_s(); open_fds(s->pid) > fds; sleep_ms(10))
    if (now_s() - t0 > 60) fail_msg("server fds: %d, %d before", open_fds(s->pid), fds);
  close(go[0]);
}

/* One side-socket exchange by hand: HDR (LEN bytes) with FD (or none); the server's status. */
static int exchange(const server *s, const void *hdr, size_t len, int fd, char *msg, size_t msglen) {
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  char path[300];
  snprintf(path, sizeof path, "%s.shm", s->sock);
  assert_true(strlen(path) < sizeof a.sun_path);
  memcpy(a.sun_path, path, strlen(path) + 1);
  assert_int_equal(connect(sock, (struct sockaddr *)&a, sizeof a), 0);
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {(void *)hdr, len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    m.msg_control = ctl.b, m.msg_controllen = sizeof ctl.b;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  assert_int_equal(sendmsg(sock, &m, 0), (ssize_t)len);
  uint8_t buf[600];
  size_t got = 0;
  ssize_t k;
  while ((k = recv(sock, buf + got, sizeof buf - got, 0)) > 0) got += (size_t)k; /* the server closes it */
  close(sock);
  assert_true(got >= 24);
  uint32_t status, n;
  memcpy(&status, buf, 4), memcpy(&n, buf + 4, 4);
  snprintf(msg, msglen, "%.*s", (int)(got - 24 < n ? got - 24 : n), (const char *)buf + 24);
  return (int)status;
}

static void header(uint8_t hdr[16], uint64_t size) {
  memcpy(hdr, "TCSHM\0\0\1", 8);
  memcpy(hdr + 8, &size, 8);
}

static int memfd(size_t size, unsigned seals) {
  int fd = memfd_create("tablecar-pool", MFD_ALLOW_SEALING);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)size), 0);
  if (seals) assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
  return fd;
}

#define REFUSED(s, hdr, len, fd, status, needle)                                                                       \
  do {                                                                                                                 \
    char m_[600];                                                                                                      \
    assert_int_equal(exchange(s, hdr, len, fd, m_, sizeof m_), status);                                                \
    if (!strstr(m_, needle)) fail_msg("the server said \"%s\", expected \"%s\"", m_, needle);                          \
  } while (0)

/* Whatever a client hands over that is not a sealed memfd of the announced size within the caps is
 * refused with a reason, maps nothing and leaks no descriptor; the server keeps serving. */
static void test_hostile_pools(void **state) {
  server *s = *state;
  wait_mappings(s, 0);
  int fds = open_fds(s->pid);
  uint8_t hdr[16];
  const unsigned sealed = F_SEAL_SHRINK | F_SEAL_GROW;
  header(hdr, 1 << 20);
  int fd = memfd(1 << 20, 0);
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not sealed"); /* could be shrunk under the mapping */
  close(fd);
  fd = memfd(1 << 20, F_SEAL_SHRINK);
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not sealed");
  close(fd);
  fd = memfd(1 << 19, sealed); /* smaller than announced */
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not the 1048576 announced");
  close(fd);
  fd = memfd(1 << 20, sealed); /* sealed, the right size, but its pages never touched by its owner */
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not faulted in");
  close(fd);
  fd = memfd(0, sealed);
  header(hdr, 0);
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "empty");
  close(fd);
  fd = memfd(128 << 20, sealed); /* sparse: no memory used */
  header(hdr, 128 << 20);
  REFUSED(s, hdr, 16, fd, TC_ERESOURCE_EXHAUSTED, "per pool");
  close(fd);
  header(hdr, 1 << 20);
  fd = open("/dev/null", O_RDONLY); /* not a memfd */
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not a memfd");
  close(fd);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  REFUSED(s, hdr, 16, sv[0], TC_EINVALID_ARGUMENT, "not a memfd");
  close(sv[0]), close(sv[1]);
  char tmpl[] = "/tmp/tcshmXXXXXX"; /* a regular file takes no seals */
  fd = mkstemp(tmpl);
  assert_int_equal(ftruncate(fd, 1 << 20), 0);
  unlink(tmpl);
  REFUSED(s, hdr, 16, fd, TC_EINVALID_ARGUMENT, "not a memfd");
  close(fd);
  REFUSED(s, hdr, 16, -1, TC_EINVALID_ARGUMENT, "no memfd");
  fd = memfd(1 << 20, sealed);
  REFUSED(s, "GARBAGE!GARBAGE!", 16, fd, TC_EINVALID_ARGUMENT, "bad side-socket header");
  REFUSED(s, hdr, 9, fd, TC_EINVALID_ARGUMENT, "bad side-socket header");
  close(fd);
  wait_mappings(s, 0);
  for (double t0 = now_s(); open_fds(s->pid) > fds; sleep_ms(10))
    if (now_s() - t0 > 60) fail_msg("server fds: %d, %d before", open_fds(s->pid), fds);
  tc_client *c = client(s);
  int st;
  CHECK(c, tc_health_check(c, "", NULL, &st), TC_OK);
  assert_int_equal(st, TC_HEALTH_SERVING);
  tc_client_free(c);
}

/* A target that is not a Unix socket path cannot carry an fd; a server without a side socket is said so. */
static void test_attach_errors(void **state) {
  (void)state;
  tc_client *c;
  tc_shm_pool *p;
  assert_int_equal(tc_shm_pool_new(4096, 1, &p), TC_OK);
  assert_int_equal(tc_client_new("127.0.0.1:1", NULL, &c), TC_OK);
  CHECK(c, tc_shm_attach(p, c), TC_EUNIMPLEMENTED);
  tc_client_free(c);
  assert_int_equal(tc_client_new("unix:/nonexistent/tablecar.sock", NULL, &c), TC_OK);
  CHECK(c, tc_shm_attach(p, c), TC_EUNAVAILABLE);
  CHECK_MSG(c, "--shm-bytes 0");
  assert_false(tc_shm_attached(p));
  tc_client_free(c);
  tc_shm_pool_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_take_rows_every_type),
      cmocka_unit_test(test_read_batch_split),
      cmocka_unit_test(test_dead_client_unmapped),
      cmocka_unit_test(test_hostile_pools),
  };
  const struct CMUnitTest local[] = {cmocka_unit_test(test_slots), cmocka_unit_test(test_attach_errors)};
  int rc = cmocka_run_group_tests_name("local", local, NULL, NULL);
  return rc | cmocka_run_group_tests_name("server", tests, setup, group_teardown);
}
