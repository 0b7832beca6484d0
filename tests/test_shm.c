/* Unit tests for server/shm.c (the pools clients hand over) and the shared-memory path of handlers.c:
 * what a hostile or broken client can name gets INVALID_ARGUMENT, never a write outside its pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "gather.h"
#include "handlers.h"

#define POOL (1 << 20)

/* A pool as a client makes it: its pages in memory (FAULT), sealed against shrinking and growing. */
static int make_memfd(size_t size, int fault) {
  int fd = memfd_create("tablecar-pool", MFD_ALLOW_SEALING | MFD_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)size), 0);
  if (fault) { /* written, as tc_shm_pool_new does (fallocate'd pages do not count: never written) */
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0, size);
    munmap(m, size);
  }
  assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  return fd;
}

static int sealed_memfd(size_t size) { return make_memfd(size, 1); }

static void test_register_and_caps(void **state) {
  (void)state;
  ts_shm *s = ts_shm_new(3 * POOL, 2 * POOL);
  ts_error err = {0};
  ts_shm_pool *a, *b, *c;
  uint8_t ta[TS_SHM_TOKEN_BYTES], tb[TS_SHM_TOKEN_BYTES], tc[TS_SHM_TOKEN_BYTES];
  int fa = sealed_memfd(2 * POOL), fb = sealed_memfd(2 * POOL), fc = sealed_memfd(POOL);
  assert_int_equal(ts_shm_register(s, fa, 2 * POOL, &a, ta, &err), TC_OK);
  /* 2 + 2 > 3: the total cap, with the numbers in the message */
  assert_int_equal(ts_shm_register(s, fb, 2 * POOL, &b, tb, &err), TC_ERESOURCE_EXHAUSTED);
  assert_non_null(strstr(err.msg, "--shm-bytes"));
  assert_int_equal(ts_shm_register(s, fb, 3 * POOL, &b, tb, &err), TC_EINVALID_ARGUMENT); /* not its size */
  assert_int_equal(ts_shm_register(s, fc, POOL, &c, tc, &err), TC_OK);
  assert_memory_not_equal(ta, tc, TS_SHM_TOKEN_BYTES);
  /* Not faulted in by its owner: its memory would be charged to the server as it writes. */
  int sparse = make_memfd(POOL, 0);
  ts_shm_pool *d;
  uint8_t td[TS_SHM_TOKEN_BYTES];
  ts_shm_unregister(s, c);
  assert_int_equal(ts_shm_register(s, sparse, POOL, &d, td, &err), TC_EINVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "not faulted in"));
  close(sparse);
  assert_int_equal(ts_shm_register(s, fc, POOL, &c, tc, &err), TC_OK); /* the same size, faulted in: fine */
  size_t pools, bytes;
  ts_shm_stats(s, &pools, &bytes);
  assert_int_equal(pools, 2);
  assert_int_equal(bytes, 3 * POOL);
  ts_shm_unregister(s, a);
  assert_int_equal(ts_shm_register(s, fb, 2 * POOL, &b, tb, &err), TC_OK); /* room again */
  ts_shm_unregister(s, b);
  ts_shm_unregister(s, c);
  ts_shm_stats(s, &pools, &bytes);
  assert_int_equal(pools + bytes, 0);
  close(fa), close(fb), close(fc);
  ts_shm_free(s);
}

static void test_slots_checked(void **state) {
  (void)state;
  ts_shm *s = ts_shm_new(POOL, POOL);
  ts_error err = {0};
  ts_shm_pool *p;
  uint8_t t[TS_SHM_TOKEN_BYTES];
  int fd = sealed_memfd(POOL);
  assert_int_equal(ts_shm_register(s, fd, POOL, &p, t, &err), TC_OK);
  ts_shm_slot slot;
  const int64_t bad[][2] = {{-1, 10},        {0, 0},         {0, -5},        {0, POOL + 1}, {POOL, 1},
                            {POOL - 10, 11}, {1, INT64_MAX}, {INT64_MAX, 1}, {INT64_MIN, 2}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err = (ts_error){0};
    assert_int_equal(ts_shm_slot_get(s, t, sizeof t, bad[i][0], bad[i][1], &slot, &err), TC_EINVALID_ARGUMENT);
    assert_null(slot.pool);
  }
  assert_int_equal(ts_shm_slot_get(s, t, 5, 0, 10, &slot, &err), TC_EINVALID_ARGUMENT); /* a short token */
  uint8_t other[TS_SHM_TOKEN_BYTES];
  memcpy(other, t, sizeof other);
  other[0] ^= 1; /* no pool has it: not an error, the message carries the batch */
  assert_int_equal(ts_shm_slot_get(s, other, sizeof other, 0, 10, &slot, &err), TC_OK);
  assert_null(slot.pool);
  /* The whole pool is a valid slot; unregistered while held, it stays mapped until done. */
  assert_int_equal(ts_shm_slot_get(s, t, sizeof t, 0, POOL, &slot, &err), TC_OK);
  assert_non_null(slot.pool);
  ts_shm_unregister(s, p);
  memset(slot.base, 7, slot.size); /* still ours: ASan/SIGSEGV would say otherwise */
  ts_shm_slot again;
  assert_int_equal(ts_shm_slot_get(s, t, sizeof t, 0, 10, &again, &err), TC_OK);
  assert_null(again.pool); /* unregistered: lookups miss it */
  size_t pools, bytes;
  ts_shm_stats(s, &pools, &bytes);
  assert_int_equal(pools, 1); /* gone from lookups, still mapped */
  ts_shm_slot_done(s, &slot);
  ts_shm_stats(s, &pools, &bytes);
  assert_int_equal(pools + bytes, 0);
  uint8_t check;
  assert_int_equal(pread(fd, &check, 1, POOL - 1), 1);
  assert_int_equal(check, 7); /* the writes went to the memfd */
  close(fd);
  ts_shm_free(s);
}

/* ---- through the handlers ---- */

typedef struct fx {
  char dir[64], data[100];
  ts_cache *cache;
  ts_catalog *cat;
  ts_perms *perms;
  ts_shm *shm;
  ts_shm_pool *pool;
  int fd;
  uint8_t *mem; /* our own mapping of the pool */
  uint8_t token[TS_SHM_TOKEN_BYTES];
  ts_ctx ctx;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/shmXXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->data, sizeof f->data, "%s/data", f->dir);
  mkdir(f->data, 0755);
  char path[200];
  snprintf(path, sizeof path, "%s/ex.arrow", f->data);
  fx_table t;
  if (fx_example(&t, FX_EXAMPLE_SHAPE, 100, 16) || fx_table_write(path, &(aw_options){0}, &t)) return -1;
  fx_table_free(&t);
  f->cache = ts_cache_new(8 << 20);
  f->cat = ts_catalog_new(f->data, f->cache);
  f->perms = ts_perms_new(NULL, f->cat, 1 << 20);
  ts_catalog_refresh(f->cat);
  f->shm = ts_shm_new(POOL, POOL);
  f->fd = sealed_memfd(POOL);
  ts_error err;
  if (ts_shm_register(f->shm, f->fd, POOL, &f->pool, f->token, &err) != TC_OK) return -1;
  f->mem = mmap(NULL, POOL, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
  f->ctx = (ts_ctx){.catalog = f->cat, .perms = f->perms, .max_message_bytes = 16 << 20, .shm = f->shm};
  *state = f;
  return f->mem == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state) {
  fx *f = *state;
  ts_shm_unregister(f->shm, f->pool);
  ts_shm_free(f->shm);
  munmap(f->mem, POOL);
  close(f->fd);
  ts_perms_free(f->perms);
  ts_catalog_free(f->cat);
  ts_cache_free(f->cache);
  char cmd[100];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd)) {}
  free(f);
  return 0;
}

static ts_status take(fx *f, const uint8_t *token, size_t token_len, int64_t off, int64_t size,
                      Tablecar__V1__Batch **out, ts_error *err) {
  int64_t idx[] = {5, 99, 0, 5};
  Tablecar__V1__ShmTarget target = TABLECAR__V1__SHM_TARGET__INIT;
  target.pool = (ProtobufCBinaryData){token_len, (uint8_t *)token};
  target.offset = off;
  target.size = size;
  Tablecar__V1__TakeRowsRequest r = TABLECAR__V1__TAKE_ROWS_REQUEST__INIT;
  r.table = "ex";
  r.indices = idx;
  r.n_indices = 4;
  r.shm = &target;
  *out = NULL;
  return ts_h_take_rows(&f->ctx, &r.base, (ProtobufCMessage **)out, err);
}

static void test_hostile_targets(void **state) {
  fx *f = *state;
  const int64_t bad[][2] = {{-64, 4096}, {0, 0}, {POOL - 100, 4096}, {4096, INT64_MAX}, {INT64_MAX - 1, 2}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ts_error err = {0};
    Tablecar__V1__Batch *b;
    assert_int_equal(take(f, f->token, sizeof f->token, bad[i][0], bad[i][1], &b, &err), TC_EINVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "outside the pool"));
  }
  ts_error err = {0};
  Tablecar__V1__Batch *b;
  assert_int_equal(take(f, f->token, 3, 0, 4096, &b, &err), TC_EINVALID_ARGUMENT);
}

/* The batch in the slot: spans inside it, 64-byte aligned, and the bytes where the spans say. */
static void test_batch_in_slot(void **state) {
  fx *f = *state;
  ts_error err = {0};
  Tablecar__V1__Batch *b, *plain;
  memset(f->mem, 0xAB, POOL);
  assert_int_equal(take(f, f->token, sizeof f->token, 8192, 65536, &b, &err), TC_OK);
  assert_true(b->shm);
  assert_int_equal(b->row_ids.len, 0); /* not in the message */
  assert_non_null(b->row_ids_at);
  assert_int_equal(b->row_ids_at->size, 32);
  int64_t ids[4];
  memcpy(ids, f->mem + 8192 + b->row_ids_at->offset, sizeof ids);
  assert_int_equal(ids[1], 99);
  int64_t idx[] = {5, 99, 0, 5};
  size_t cols[4] = {0, 1, 2, 3};
  ts_table *t;
  assert_int_equal(ts_catalog_get(f->cat, "ex", &t, &err), TC_OK);
  assert_int_equal(ts_gather(t, idx, 4, cols, 4, 1 << 20, &plain, &err), TC_OK);
  ts_table_unref(t);
  for (size_t c = 0; c < b->n_columns; c++) {
    Tablecar__V1__Array *a = b->columns[c], *p = plain->columns[c];
    while (a->n_children) a = a->children[0], p = p->children[0]; /* the image's leaf */
    Tablecar__V1__Span *spans[] = {a->validity_at, a->offsets_at, a->values_at};
    ProtobufCBinaryData *want[] = {&p->validity, &p->offsets, &p->values};
    for (int k = 0; k < 3; k++) {
      if (!spans[k]) {
        assert_int_equal(want[k]->len, 0);
        continue;
      }
      assert_int_equal(spans[k]->offset % 64, 0);
      assert_true(spans[k]->offset >= 0 && spans[k]->offset + spans[k]->size <= 65536);
      assert_int_equal((size_t)spans[k]->size, want[k]->len);
      assert_memory_equal(f->mem + 8192 + spans[k]->offset, want[k]->data, want[k]->len);
    }
  }
  ts_batch_msg_free(plain);
  ts_batch_msg_free(b);
  /* Too small a slot, or a pool that is gone: the batch in the message, and no error. */
  assert_int_equal(take(f, f->token, sizeof f->token, 0, 256, &b, &err), TC_OK);
  assert_false(b->shm);
  assert_int_equal(b->row_ids.len, 32);
  ts_batch_msg_free(b);
  uint8_t gone[TS_SHM_TOKEN_BYTES] = {0};
  assert_int_equal(take(f, gone, sizeof gone, 0, 4096, &b, &err), TC_OK);
  assert_false(b->shm);
  ts_batch_msg_free(b);
}

int main(void) {
  const struct CMUnitTest unit[] = {cmocka_unit_test(test_register_and_caps), cmocka_unit_test(test_slots_checked)};
  const struct CMUnitTest handlers[] = {cmocka_unit_test(test_hostile_targets), cmocka_unit_test(test_batch_in_slot)};
  int rc = cmocka_run_group_tests_name("shm", unit, NULL, NULL);
  return rc | cmocka_run_group_tests_name("handlers", handlers, setup, teardown);
}
