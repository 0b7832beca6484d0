/* Shared-memory pools (tablecar.h, "Batches through shared memory").
 *
 * Layout of the memfd: a header page {magic, slot count, slot size, data offset} then one 64-bit word per
 * slot saying who holds it: the holder's pid in the low 32 bits (0: free) and a generation in the high 32,
 * bumped at every release and take-back, so that a stale ticket (a holder that died and whose slot was
 * given to another) can never release or adopt the new holder's slot. Then the slots, page-aligned. The
 * words are lock-free atomics in shared memory: processes of the tree (fork children) change them with
 * compare-and-swap, and no lock can be left held by a process that dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define POOL_MAGIC 0x314c4f4f50435401ull /* "\x01TCPOOL1" */
#define MAX_SLOTS 4096
#define TOKEN_BYTES 16

typedef struct pool_header {
  uint64_t magic;
  uint64_t n_slots;
  uint64_t slot_bytes;
  uint64_t data_offset;
  _Atomic uint64_t held[]; /* per slot: generation << 32 | holder pid */
} pool_header;

struct tc_shm_pool {
  int fd;   /* the memfd */
  int side; /* the side connection holding the server's mapping, -1 before tc_shm_attach */
  uint8_t token[TOKEN_BYTES];
  char side_path[sizeof(((tc__target *)0)->path) + sizeof TC_SHM_SIDE_SUFFIX];
  uint8_t *base;
  size_t size;
  pool_header *h;
};

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* Faults every page in now, in this process, so that the server's writes and our reads never do, and the
 * memory is charged to us. MADV_POPULATE_WRITE (Linux 5.14) does it in one call; else a write per page. */
static void prefault(uint8_t *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  if (madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
#endif
  size_t ps = page_size();
  for (size_t i = 0; i < n; i += ps) ((volatile uint8_t *)p)[i] = 0;
}

static int make_memfd(size_t size, int *out) {
  int fd = memfd_create("tablecar-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return TC_ENOMEM;
  if (ftruncate(fd, (off_t)size) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    close(fd);
    return TC_ENOMEM;
  }
  *out = fd;
  return TC_OK;
}

int tc_shm_pool_new(size_t slot_bytes, size_t n_slots, tc_shm_pool **out) {
  if (!out) return TC_EINVAL;
  *out = NULL;
  size_t ps = page_size();
  if (slot_bytes == 0 || n_slots == 0 || n_slots > MAX_SLOTS || slot_bytes > ((size_t)1 << 40)) return TC_EINVAL;
  slot_bytes = round_up(slot_bytes, ps);
  size_t data = round_up(sizeof(pool_header) + n_slots * sizeof(uint64_t), ps);
  size_t size = data + slot_bytes * n_slots;
  tc_shm_pool *p = calloc(1, sizeof *p);
  if (!p) return TC_ENOMEM;
  p->side = -1;
  int rc = make_memfd(size, &p->fd);
  if (rc == TC_OK) {
    p->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (p->base == MAP_FAILED) {
      close(p->fd);
      rc = TC_ENOMEM;
    }
  }
  if (rc != TC_OK) {
    free(p);
    return rc;
  }
  p->size = size;
  prefault(p->base, size);
  p->h = (pool_header *)(void *)p->base;
  p->h->magic = POOL_MAGIC;
  p->h->n_slots = n_slots;
  p->h->slot_bytes = slot_bytes;
  p->h->data_offset = data;
  for (size_t i = 0; i < n_slots; i++) atomic_init(&p->h->held[i], 0);
  *out = p;
  return TC_OK;
}

void tc_shm_pool_free(tc_shm_pool *p) {
  if (!p) return;
  if (p->side >= 0) close(p->side);
  munmap(p->base, p->size);
  close(p->fd);
  free(p);
}

int tc_shm_attached(const tc_shm_pool *p) { return p && p->side >= 0; }

/* ---- handing the pool to the server ---- */

/* Connects *fd to the side socket; TC_OK or an error set on CL. */
static int side_connect(tc_shm_pool *p, tc_client *cl, int *fdp) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(p->side_path) >= sizeof a.sun_path)
    return tc__seterr(cl, TC_EUNIMPLEMENTED, "side socket path too long: %s", p->side_path);
  memcpy(a.sun_path, p->side_path, strlen(p->side_path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return tc__seterr(cl, TC_EUNAVAILABLE, "socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(fd);
    return tc__seterr(cl, TC_EUNAVAILABLE,
                      "no shared-memory side socket at %s (%s): the server is older, or runs "
                      "with --shm-bytes 0",
                      p->side_path, strerror(e));
  }
  *fdp = fd;
  return TC_OK;
}

static int send_pool(tc_shm_pool *p, int fd) {
  uint8_t hdr[16];
  memcpy(hdr, TC_SHM_MAGIC, 8);
  for (int i = 0; i < 8; i++) hdr[8 + i] = (uint8_t)((uint64_t)p->size >> (8 * i));
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {hdr, sizeof hdr};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &p->fd, sizeof(int));
  return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)sizeof hdr ? 0 : -1;
}

/* Reads the server's answer {u32 status, u32 n, token, n bytes of message}, waiting at most TIMEOUT_MS. */
static int read_answer(tc_shm_pool *p, tc_client *cl, int fd, int timeout_ms) {
  uint8_t buf[24 + 512];
  size_t got = 0;
  while (got < 24 || got < 24 + (size_t)(buf[4] | buf[5] << 8)) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    ssize_t k = r > 0 ? recv(fd, buf + got, sizeof buf - got, 0) : -1;
    if (k <= 0) return tc__seterr(cl, TC_EUNAVAILABLE, "the server closed the side socket without an answer");
    got += (size_t)k;
    if (got >= 8 && (buf[4] | buf[5] << 8 | (unsigned)buf[6] << 16 | (unsigned)buf[7] << 24) > 512)
      return tc__seterr(cl, TC_EPROTO, "malformed side-socket answer");
  }
  int status = (int)(buf[0] | buf[1] << 8 | (unsigned)buf[2] << 16 | (unsigned)buf[3] << 24);
  size_t n = (size_t)(buf[4] | buf[5] << 8);
  if (status != TC_OK) {
    if (status < 1 || status > 16) status = TC_EPROTO;
    return tc__seterr(cl, status, "the server refused the shared-memory pool: %.*s", (int)n, (const char *)buf + 24);
  }
  memcpy(p->token, buf + 8, TOKEN_BYTES);
  return TC_OK;
}

int tc_shm_attach(tc_shm_pool *p, tc_client *cl) {
  if (!cl) return TC_EINVAL;
  tc__clearerr(cl);
  if (!p) return tc__seterr(cl, TC_EINVAL, "pool is NULL");
  if (cl->target.kind != TC__TARGET_UNIX)
    return tc__seterr(cl, TC_EUNIMPLEMENTED, "shared memory needs a unix:PATH target (the fd travels over it)");
  char path[sizeof p->side_path];
  snprintf(path, sizeof path, "%s" TC_SHM_SIDE_SUFFIX, cl->target.path);
  if (p->side >= 0) {
    if (strcmp(path, p->side_path) == 0) return TC_OK;
    return tc__seterr(cl, TC_EINVAL, "the pool is attached to %s already", p->side_path);
  }
  memcpy(p->side_path, path, sizeof path);
  int fd = -1, rc = side_connect(p, cl, &fd);
  if (rc != TC_OK) return rc;
  if (send_pool(p, fd) != 0) {
    close(fd);
    return tc__seterr(cl, TC_EUNAVAILABLE, "sending the pool to %s: %s", p->side_path, strerror(errno));
  }
  int64_t t = cl->opts.timeout_ms;
  rc = read_answer(p, cl, fd, t < 0 || t > INT32_MAX ? -1 : (int)t);
  if (rc != TC_OK) {
    close(fd);
    return rc;
  }
  p->side = fd; /* kept open (and inherited by forks): its end tells the server to let the pool go */
  return TC_OK;
}

/* ---- slots ---- */

static uint64_t me(void) { return (uint64_t)(uint32_t)getpid(); }

static int holder_dead(uint64_t word) {
  pid_t pid = (pid_t)(uint32_t)word;
  return pid != 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

int tc_shm_acquire(tc_shm_pool *p, uint32_t *slot, uint64_t *ticket) {
  if (!p || !slot || !ticket) return TC_EINVAL;
  size_t n = (size_t)p->h->n_slots;
  for (int pass = 0; pass < 2; pass++) { /* free slots first; then those of holders that died */
    for (size_t i = 0; i < n; i++) {
      uint64_t w = atomic_load(&p->h->held[i]);
      if (pass == 0 ? (uint32_t)w != 0 : !holder_dead(w)) continue;
      uint64_t gen = (w >> 32) + (pass == 1); /* a take-back starts a new generation */
      uint64_t mine = gen << 32 | me();
      if (atomic_compare_exchange_strong(&p->h->held[i], &w, mine)) {
        *slot = (uint32_t)i;
        *ticket = mine;
        return TC_OK;
      }
    }
  }
  return TC_ERESOURCE_EXHAUSTED;
}

int tc_shm_adopt(tc_shm_pool *p, uint32_t slot, uint64_t *ticket) {
  if (!p || !ticket || slot >= p->h->n_slots) return TC_EINVAL;
  uint64_t w = *ticket, mine = (w >> 32) << 32 | me();
  if (!atomic_compare_exchange_strong(&p->h->held[slot], &w, mine)) return TC_EFAILED_PRECONDITION;
  *ticket = mine;
  return TC_OK;
}

int tc_shm_release(tc_shm_pool *p, uint32_t slot, uint64_t ticket) {
  if (!p || slot >= p->h->n_slots) return TC_EINVAL;
  if ((uint32_t)ticket != (uint32_t)me()) return TC_EFAILED_PRECONDITION; /* a forked copy of the holder's */
  uint64_t w = ticket;
  return atomic_compare_exchange_strong(&p->h->held[slot], &w, ((ticket >> 32) + 1) << 32) ? TC_OK
                                                                                           : TC_EFAILED_PRECONDITION;
}

uint8_t *tc_shm_slot_data(const tc_shm_pool *p, uint32_t slot, size_t *size) {
  if (!p || slot >= p->h->n_slots) return NULL;
  if (size) *size = (size_t)p->h->slot_bytes;
  return p->base + p->h->data_offset + (size_t)slot * p->h->slot_bytes;
}

void tc_shm_pool_stats(const tc_shm_pool *p, size_t *n_slots, size_t *held) {
  size_t n = p ? (size_t)p->h->n_slots : 0, k = 0;
  for (size_t i = 0; i < n; i++) k += (uint32_t)atomic_load(&p->h->held[i]) != 0;
  if (n_slots) *n_slots = n;
  if (held) *held = k;
}

/* For api.c: the ShmTarget of a request (token, offset, size in the pool), or 0 when P is not attached. */
int tc__shm_target(const tc_shm_pool *p, uint32_t slot, const uint8_t **token, size_t *offset, size_t *size,
                   uint8_t **data) {
  if (!p || p->side < 0 || slot >= p->h->n_slots) return 0;
  *token = p->token;
  *offset = (size_t)p->h->data_offset + (size_t)slot * p->h->slot_bytes;
  *size = (size_t)p->h->slot_bytes;
  *data = p->base + *offset;
  return TOKEN_BYTES;
}
