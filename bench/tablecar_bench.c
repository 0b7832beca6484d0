/* tablecar-bench: the C side of bench/run (see bench/README.md). Prints one JSON object per line.
 *
 *   tablecar-bench run DIR --unix TARGET [--tcp TARGET] [--table NAME] [--batches 1,32,256,1024]
 *                      [--repeats N] [--rows-per-run N] [--max-calls N] [--inflight 1,4]
 *                      [--methods read,take,...] [--server N]
 *   tablecar-bench rss TARGET TABLE BATCH CALLS
 *
 * run: makes the permutation every method reads (shuffle seed 7), writes its row ids to DIR/raw/ids.i64 for
 * the other methods, then for each batch size measures, in one process:
 *   inproc        the same rows gathered from the mmapped raw files into reused buffers (the limit)
 *   inproc_fresh  the same into freshly mapped memory per batch (what a fresh calloc per batch costs)
 *   take / read / stream   TakeRows of the ids, ReadBatch of the permutation, StreamBatches of it,
 *                 over each transport, with 1 and 4 calls in flight (one connection per thread)
 *   read_shm      ReadBatch into a slot of the thread's own shared-memory pool (Unix socket only)
 *   fork_first_batch_c   fork() to the first 256-row ReadBatch in a child using the parent's handle
 *   fork_first_batch_c_shm  the same, the batch read into a slot of the parent's shared-memory pool
 *   health        (batch 1 only) grpc.health.v1 Check: an empty unary call, the floor of the transport
 * The first measurement is ReadBatch at 256 rows on the fresh server ("read_fresh"), before anything else
 * touched the server, then the same calls again ("read_warm"): the pair bench/run repeats on several fresh
 * servers (--server numbers them in the output). Every record has the wall time, rows, image bytes and per-call latency percentiles.
 * rss: the client's own peak RSS before connecting and after CALLS ReadBatch calls of BATCH rows of TABLE
 * in table order (its image, label and caption columns).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tablecar.h"

static const char *const columns[] = {"image", "label", "caption"};
#define N_COLUMNS 3

typedef struct data {
  int64_t rows, row_bytes;
  const uint8_t *images;
  const int64_t *labels, *cap_off;
  const uint8_t *cap;
  int64_t *ids; /* the permutation's order */
  char perm[128];
} data;

typedef struct opts {
  const char *dir, *unix_target, *tcp_target, *table;
  int batches[8], n_batches;
  int inflight[4], n_inflight;
  int repeats;
  int64_t rows_per_run, max_calls;
  const char *methods; /* comma-separated subset to run (profiling); NULL: all */
  int server;          /* which of bench/run's servers this is (printed with every figure) */
} opts;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, int rc, tc_client *c) {
  fprintf(stderr, "tablecar-bench: %s: %s %s\n", what, tc_strerror(rc), c ? tc_last_error(c) : "");
  exit(1);
}

static const void *map_file(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/raw/%s", dir, name);
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    fprintf(stderr, "tablecar-bench: %s: %s\n", path, strerror(errno));
    exit(1);
  }
  void *p = mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  *len = (size_t)st.st_size;
  return p;
}

static tc_client *client(const char *target) {
  tc_client *c;
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = 120000;
  int rc = tc_client_new(target, &o, &c);
  if (rc) die(target, rc, NULL);
  return c;
}

/* The permutation (shuffle seed 7, one split) and its row ids, written to DIR/raw/ids.i64. */
static void make_ids(const opts *o, data *d) {
  tc_client *c = client(o->unix_target);
  tc_permutation_spec spec = {.table = o->table, .shuffle = 1, .shuffle_seed = 7};
  tc_permutation_info *info;
  int rc = tc_create_permutation(c, &spec, NULL, &info);
  if (rc) die("create permutation", rc, c);
  snprintf(d->perm, sizeof d->perm, "%s", info->id);
  if (info->num_rows != d->rows) {
    fprintf(stderr, "tablecar-bench: the table has %" PRId64 " rows, the raw files %" PRId64 "\n", info->num_rows,
            d->rows);
    exit(1);
  }
  tc_permutation_info_free(info);
  d->ids = malloc((size_t)d->rows * 8);
  const char *label = "label";
  for (int64_t at = 0; at < d->rows; at += 65536) {
    tc_read_batch_req r = {
        .permutation = d->perm, .split = "0", .offset = at, .batch_size = 65536, .columns = &label, .n_columns = 1};
    tc_batch *b;
    if ((rc = tc_read_batch(c, &r, NULL, &b))) die("read row ids", rc, c);
    memcpy(d->ids + at, b->row_ids, b->row_ids_size);
    tc_batch_free(b);
  }
  tc_client_free(c);
  char path[4096];
  snprintf(path, sizeof path, "%s/raw/ids.i64", o->dir);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(d->ids, 8, (size_t)d->rows, f) != (size_t)d->rows || fclose(f)) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/raw/perm.id", o->dir);
  f = fopen(path, "w");
  fprintf(f, "%s\n", d->perm);
  fclose(f);
}

/* ---- one measurement: CALLS calls of BATCH rows split over INFLIGHT threads ------------------------- */

typedef struct job {
  const opts *o;
  const data *d;
  const char *method, *target;
  int batch, inflight, thread;
  int64_t calls;      /* calls of this thread */
  int64_t first_call; /* global index of its first call (calls are thread, thread + inflight, ...) */
  double *lat;        /* per call, seconds */
  int64_t rows, image_bytes;
  uint8_t *buf; /* inproc: reused buffers */
} job;

/* Rows of call k: positions [k * batch, (k + 1) * batch) of the permutation, wrapping around. */
static int64_t call_offset(const job *j, int64_t k) {
  int64_t per = j->d->rows / j->batch;
  return (k % (per ? per : 1)) * j->batch;
}

static void gather_inproc(job *j, int64_t off, int fresh) {
  const data *d = j->d;
  size_t img = (size_t)j->batch * (size_t)d->row_bytes;
  uint8_t *buf = j->buf;
  if (fresh) {
    buf = mmap(NULL, img + (size_t)j->batch * 8 + (size_t)j->batch * 64, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  int64_t *labels = (int64_t *)(void *)(buf + img);
  uint8_t *cap = buf + img + (size_t)j->batch * 8;
  size_t cap_at = 0;
  for (int k = 0; k < j->batch; k++) {
    int64_t r = d->ids[off + k];
    memcpy(buf + (size_t)k * (size_t)d->row_bytes, d->images + r * d->row_bytes, (size_t)d->row_bytes);
    labels[k] = d->labels[r];
    size_t len = (size_t)(d->cap_off[r + 1] - d->cap_off[r]);
    if (cap_at + len <= (size_t)j->batch * 64) {
      memcpy(cap + cap_at, d->cap + d->cap_off[r], len);
      cap_at += len;
    }
  }
  __asm__ volatile("" : : "r"(buf) : "memory");
  if (fresh) munmap(buf, img + (size_t)j->batch * 8 + (size_t)j->batch * 64);
  j->rows += j->batch;
  j->image_bytes += (int64_t)img;
}

static void count(job *j, const tc_batch *b) {
  j->rows += b->num_rows;
  const tc_column *img = tc_batch_column(b, "image");
  const tc_column *leaf = img;
  while (leaf && leaf->n_children) leaf = &leaf->children[0];
  if (leaf) j->image_bytes += (int64_t)leaf->values_size;
}

static void *run_job(void *arg) {
  job *j = arg;
  const data *d = j->d;
  int inproc = !strncmp(j->method, "inproc", 6);
  tc_client *c = inproc ? NULL : client(j->target);
  if (inproc) j->buf = malloc((size_t)j->batch * ((size_t)d->row_bytes + 8 + 64));
  int rc;
  if (!strcmp(j->method, "stream")) {
    /* One stream over this thread's calls: positions first_call * batch ... */
    int64_t start = j->first_call * j->batch, end = (j->first_call + j->calls) * j->batch;
    if (end > d->rows) end = d->rows;
    if (start >= end) start = end = 0;
    tc_stream_req r = {.permutation = d->perm,
                       .split = "0",
                       .start = start,
                       .end = end,
                       .batch_size = j->batch,
                       .columns = columns,
                       .n_columns = N_COLUMNS};
    tc_stream *s;
    double t0 = now();
    if ((rc = tc_stream_batches(c, &r, NULL, &s))) die("StreamBatches", rc, c);
    for (int64_t k = 0; k < j->calls; k++) {
      tc_batch *b;
      if ((rc = tc_stream_next(s, &b))) die("StreamBatches next", rc, c);
      if (!b) { /* a short last range: the rest of this thread's latencies stay 0 */
        j->calls = k;
        break;
      }
      double t1 = now();
      j->lat[k] = t1 - t0;
      t0 = t1;
      count(j, b);
      tc_batch_free(b);
    }
    tc_stream_free(s);
  } else {
    /* read_shm: ReadBatch into a slot of this thread's own shared-memory pool, the same slot every call */
    tc_shm_pool *pool = NULL;
    uint32_t slot = 0;
    uint64_t ticket;
    if (!strcmp(j->method, "read_shm")) {
      rc = tc_shm_pool_new((size_t)j->batch * (size_t)(d->row_bytes + 64) + (1 << 20), 1, &pool);
      if (!rc) rc = tc_shm_attach(pool, c);
      if (!rc) rc = tc_shm_acquire(pool, &slot, &ticket);
      if (rc) die("shared-memory pool", rc, c);
    }
    for (int64_t k = 0; k < j->calls; k++) {
      int64_t off = call_offset(j, j->first_call + k * j->inflight);
      double t0 = now();
      if (inproc) {
        gather_inproc(j, off, !strcmp(j->method, "inproc_fresh"));
      } else {
        tc_batch *b;
        if (!strcmp(j->method, "health")) { /* gRPC's own floor: an empty call, no data */
          int st;
          if ((rc = tc_health_check(c, "", NULL, &st))) die("health", rc, c);
          j->lat[k] = now() - t0;
          continue;
        }
        if (!strcmp(j->method, "take")) {
          tc_take_rows_req r = {.table = j->o->table,
                                .indices = d->ids + off,
                                .n_indices = (size_t)j->batch,
                                .columns = columns,
                                .n_columns = N_COLUMNS};
          rc = tc_take_rows(c, &r, NULL, &b);
        } else {
          tc_read_batch_req r = {.permutation = d->perm,
                                 .split = "0",
                                 .offset = off,
                                 .batch_size = j->batch,
                                 .columns = columns,
                                 .n_columns = N_COLUMNS,
                                 .shm = pool,
                                 .shm_slot = slot};
          rc = tc_read_batch(c, &r, NULL, &b);
          if (!rc && pool && !b->shm) die("read_shm: the batch came in the message", TC_EINTERNAL, c);
        }
        if (rc) die(j->method, rc, c);
        count(j, b);
        tc_batch_free(b);
      }
      j->lat[k] = now() - t0;
    }
    tc_shm_pool_free(pool);
  }
  free(j->buf);
  tc_client_free(c);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int wanted(const opts *o, const char *method) {
  if (!o->methods) return 1;
  size_t n = strlen(method);
  for (const char *p = o->methods; (p = strstr(p, method)); p += n)
    if ((p == o->methods || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
  return 0;
}

static void measure(const opts *o, const data *d, const char *method, const char *transport, const char *target,
                    int batch, int inflight, int run, int64_t calls) {
  if (!wanted(o, method)) return;
  if (!strcmp(method, "stream") && calls > d->rows / batch)
    calls = d->rows / batch; /* a stream covers positions of the split once */
  if (calls < inflight) calls = inflight;
  job jobs[8];
  pthread_t th[8];
  double *lat = calloc((size_t)calls, sizeof *lat);
  int64_t at = 0;
  for (int t = 0; t < inflight; t++) {
    int64_t mine = calls / inflight + (t < calls % inflight);
    jobs[t] = (job){.o = o,
                    .d = d,
                    .method = method,
                    .target = target,
                    .batch = batch,
                    .inflight = inflight,
                    .thread = t,
                    .calls = mine,
                    .lat = lat + at,
                    .first_call = !strcmp(method, "stream") ? at : t};
    at += mine;
  }
  struct rusage u0, u1;
  getrusage(RUSAGE_SELF, &u0);
  double t0 = now();
  for (int t = 0; t < inflight; t++) pthread_create(&th[t], NULL, run_job, &jobs[t]);
  int64_t rows = 0, bytes = 0;
  for (int t = 0; t < inflight; t++) {
    pthread_join(th[t], NULL);
    rows += jobs[t].rows;
    bytes += jobs[t].image_bytes;
  }
  double secs = now() - t0;
  getrusage(RUSAGE_SELF, &u1);
  double cpu = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec + u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
               (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec + u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1e-6;
  int64_t done = 0; /* a stream may end early: keep the latencies of the calls made */
  for (int t = 0; t < inflight; t++) {
    memmove(lat + done, jobs[t].lat, (size_t)jobs[t].calls * sizeof *lat);
    done += jobs[t].calls;
  }
  calls = done ? done : 1;
  qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
  printf("{\"tool\": \"c\", \"method\": \"%s\", \"transport\": \"%s\", \"batch\": %d, \"inflight\": %d, "
         "\"server\": %d, \"run\": %d, \"calls\": %" PRId64 ", \"rows\": %" PRId64 ", \"image_bytes\": %" PRId64
         ", \"seconds\": %.6f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"client_cpu_s\": %.4f, \"client_minflt\": %ld}\n",
         method, transport, batch, inflight, o->server, run, calls, rows, bytes, secs, lat[calls / 2] * 1e6,
         lat[(calls * 99) / 100 < calls ? (calls * 99) / 100 : calls - 1] * 1e6, cpu, u1.ru_minflt - u0.ru_minflt);
  fflush(stdout);
  free(lat);
}

/* fork() to the first BATCH-row ReadBatch in the child, with the parent's handle (used before the fork):
 * the library's part of a DataLoader worker's start, without Python's. With SHM, the parent made and
 * attached a pool before, and the child reads into a slot of it (as a DataLoader worker does). */
static void fork_first_batch(const opts *o, const data *d, int batch, int samples, int shm) {
  if (!wanted(o, "fork_first_batch") || batch > d->rows) return;
  tc_client *c = client(o->unix_target);
  tc_shm_pool *pool = NULL;
  if (shm) {
    int rc = tc_shm_pool_new((size_t)batch * (size_t)(d->row_bytes + 64) + (1 << 20), 2, &pool);
    if (!rc) rc = tc_shm_attach(pool, c);
    if (rc) die("shared-memory pool", rc, c);
  }
  tc_read_batch_req r = {.permutation = d->perm,
                         .split = "0",
                         .offset = 0,
                         .batch_size = batch,
                         .columns = columns,
                         .n_columns = N_COLUMNS};
  tc_batch *b;
  int rc = tc_read_batch(c, &r, NULL, &b);
  if (rc) die("ReadBatch", rc, c);
  tc_batch_free(b);
  double *t = calloc((size_t)samples, sizeof *t);
  int got = 0;
  for (int i = 0; i < samples; i++) {
    int fds[2];
    if (pipe(fds) != 0) break;
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      double dt = -1;
      r.offset = (int64_t)(i + 1) * batch % (d->rows - batch + 1);
      uint32_t slot;
      uint64_t ticket;
      if (pool && tc_shm_acquire(pool, &slot, &ticket) == TC_OK) r.shm = pool, r.shm_slot = slot;
      if (tc_read_batch(c, &r, NULL, &b) == TC_OK && (!pool || b->shm)) {
        dt = now() - t0;
        tc_batch_free(b);
      }
      if (r.shm) tc_shm_release(pool, slot, ticket);
      if (write(fds[1], &dt, sizeof dt) != sizeof dt) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    double dt;
    if (pid > 0 && read(fds[0], &dt, sizeof dt) == sizeof dt && dt >= 0) t[got++] = dt;
    close(fds[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
  }
  tc_shm_pool_free(pool);
  tc_client_free(c);
  if (got) {
    qsort(t, (size_t)got, sizeof *t, cmp_double);
    printf("{\"tool\": \"c\", \"method\": \"fork_first_batch_c%s\", \"batch\": %d, \"samples\": %d, "
           "\"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f}\n",
           shm ? "_shm" : "", batch, got, t[got / 2], t[0], t[got - 1]);
    fflush(stdout);
  }
  free(t);
}

static int64_t calls_for(const opts *o, int batch) {
  int64_t c = o->rows_per_run / batch;
  if (c < 20) c = 20;
  return c > o->max_calls ? o->max_calls : c;
}

static void parse_list(const char *s, int *out, int *n, int cap) {
  *n = 0;
  for (char *end; *s && *n < cap; s = *end ? end + 1 : end) out[(*n)++] = (int)strtol(s, &end, 10);
}

static void load(const opts *o, data *d) {
  size_t len;
  char path[4096];
  snprintf(path, sizeof path, "%s/raw/meta.json", o->dir);
  FILE *f = fopen(path, "r");
  long long rows, c, h, w;
  if (!f || fscanf(f, "{\"rows\": %lld, \"shape\": [%lld, %lld, %lld]}", &rows, &c, &h, &w) != 4) {
    fprintf(stderr, "tablecar-bench: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  d->rows = rows;
  d->row_bytes = c * h * w;
  d->images = map_file(o->dir, "images.u8", &len);
  d->labels = map_file(o->dir, "labels.i64", &len);
  d->cap_off = map_file(o->dir, "captions.off", &len);
  d->cap = map_file(o->dir, "captions.bin", &len);
}

static int cmd_run(int argc, char **argv) {
  opts o = {.dir = argv[2], .table = "bench", .repeats = 3, .rows_per_run = 32768, .max_calls = 4000};
  parse_list("1,32,256,1024", o.batches, &o.n_batches, 8);
  parse_list("1,4", o.inflight, &o.n_inflight, 4);
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--unix"))
      o.unix_target = v;
    else if (!strcmp(k, "--tcp"))
      o.tcp_target = v;
    else if (!strcmp(k, "--table"))
      o.table = v;
    else if (!strcmp(k, "--batches"))
      parse_list(v, o.batches, &o.n_batches, 8);
    else if (!strcmp(k, "--inflight"))
      parse_list(v, o.inflight, &o.n_inflight, 4);
    else if (!strcmp(k, "--repeats"))
      o.repeats = atoi(v);
    else if (!strcmp(k, "--rows-per-run"))
      o.rows_per_run = atoll(v);
    else if (!strcmp(k, "--max-calls"))
      o.max_calls = atoll(v);
    else if (!strcmp(k, "--methods"))
      o.methods = v;
    else if (!strcmp(k, "--server"))
      o.server = atoi(v);
    else {
      fprintf(stderr, "tablecar-bench: unknown option %s\n", k);
      return 2;
    }
  }
  if (!o.unix_target) {
    fprintf(stderr, "tablecar-bench run: --unix TARGET is required\n");
    return 2;
  }
  data d = {0};
  load(&o, &d);
  make_ids(&o, &d);
  /* The fresh server's first calls, before any other method warmed it up. */
  if (d.rows >= 256) measure(&o, &d, "read_fresh", "unix", o.unix_target, 256, 1, 0, calls_for(&o, 256));
  /* The same calls again at once, warm: the figure the fresh one is compared with, measured next to it so
   * that other load on the machine weighs on both alike (bench/run repeats the pair on fresh servers). */
  if (d.rows >= 256) measure(&o, &d, "read_warm", "unix", o.unix_target, 256, 1, 0, calls_for(&o, 256));
  fork_first_batch(&o, &d, 256, 20, 0);
  fork_first_batch(&o, &d, 256, 20, 1);
  const char *transports[2][2] = {{"unix", o.unix_target}, {"tcp", o.tcp_target}};
  for (int r = 0; r < o.repeats; r++)
    for (int bi = 0; bi < o.n_batches; bi++) {
      int batch = o.batches[bi];
      if (batch > d.rows) continue;
      int64_t calls = calls_for(&o, batch);
      if (batch == 1) /* the floor of any unary call through this gRPC server: Health/Check */
        measure(&o, &d, "health", "unix", o.unix_target, 1, 1, r, calls);
      measure(&o, &d, "inproc", "-", NULL, batch, 1, r, calls);
      measure(&o, &d, "inproc_fresh", "-", NULL, batch, 1, r, calls);
      for (int t = 0; t < 2; t++) {
        if (!transports[t][1]) continue;
        for (int ii = 0; ii < o.n_inflight; ii++) {
          static const char *const methods[] = {"take", "read", "stream"};
          for (int m = 0; m < 3; m++)
            measure(&o, &d, methods[m], transports[t][0], transports[t][1], batch, o.inflight[ii], r, calls);
          if (t == 0) measure(&o, &d, "read_shm", "unix", o.unix_target, batch, o.inflight[ii], r, calls);
        }
      }
    }
  free(d.ids);
  return 0;
}

/* Peak RSS (VmHWM) and current RSS of this process, in KiB. */
static void rss_kib(long *hwm, long *rss) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  *hwm = *rss = -1;
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "VmHWM: %ld", hwm);
    sscanf(line, "VmRSS: %ld", rss);
  }
  if (f) fclose(f);
}

static int cmd_rss(int argc, char **argv) {
  if (argc < 6) return 2;
  const char *target = argv[2], *table = argv[3];
  int batch = atoi(argv[4]);
  int64_t calls = atoll(argv[5]);
  long hwm0, rss0, hwm1, rss1;
  rss_kib(&hwm0, &rss0);
  tc_client *c = client(target);
  /* Table order: a shuffled read of a compressed table decompresses a whole record batch per row once the
   * cache is smaller than the table, which measures the codec, not the memory. */
  tc_permutation_spec spec = {.table = table};
  tc_permutation_info *info;
  int rc = tc_create_permutation(c, &spec, NULL, &info);
  if (rc) die("create permutation", rc, c);
  int64_t rows = 0, n = info->num_rows;
  for (int64_t k = 0; k < calls; k++) {
    tc_read_batch_req r = {.permutation = info->id,
                           .split = "0",
                           .offset = (k * batch) % (n - batch + 1),
                           .batch_size = batch,
                           .columns = columns,
                           .n_columns = N_COLUMNS};
    tc_batch *b;
    if ((rc = tc_read_batch(c, &r, NULL, &b))) die("ReadBatch", rc, c);
    rows += b->num_rows;
    tc_batch_free(b);
  }
  tc_permutation_info_free(info);
  tc_client_free(c);
  rss_kib(&hwm1, &rss1);
  printf("{\"tool\": \"c\", \"method\": \"client_rss\", \"batch\": %d, \"calls\": %" PRId64 ", \"rows\": %" PRId64
         ", \"hwm_before_kib\": %ld, \"hwm_after_kib\": %ld, \"rss_after_kib\": %ld}\n",
         batch, calls, rows, hwm0, hwm1, rss1);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "run")) return cmd_run(argc, argv);
  if (argc >= 3 && !strcmp(argv[1], "rss")) return cmd_rss(argc, argv);
  fputs("usage: tablecar-bench run DIR --unix TARGET [--tcp TARGET] [--table NAME] [--batches 1,32,256,1024]\n"
        "                          [--repeats N] [--rows-per-run N] [--max-calls N] [--inflight 1,4]\n"
        "                          [--methods read,take,stream,inproc,inproc_fresh,read_fresh]\n"
        "       tablecar-bench rss TARGET TABLE BATCH CALLS\n",
        stderr);
  return 2;
}
