/* catalog.c: see catalog.h. Lookups take a read lock for a few pointer reads; a refresh scans and opens
 * tables without any lock and swaps the new list in under the write lock. */
#include "catalog.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "call_deadline.h"
#include "hf.h"
#include "log.h"
#include "names.h"

#define MAX_DEPTH 16
/* ts_catalog_refresh_nowait asks a failing store again after this long. */
#define NOWAIT_RETRY_MS 5000

typedef struct entry {
  char *name;
  char version[33]; /* of the files, by stat */
  ts_table *table;  /* NULL when broken */
  ts_error error;   /* why it is broken */
} entry;

typedef struct entries {
  entry *v;
  size_t n, cap;
} entries;

struct ts_catalog {
  char *data_dir;
  ts_cache *cache;
  pthread_rwlock_t lock;      /* guards `current` */
  pthread_mutex_t refreshing; /* one refresh at a time */
  atomic_ulong started, done; /* refreshes started; the number of the last one completed */
  entries current;            /* sorted by name */
  ts_catalog_sync_fn sync;    /* optional, see ts_catalog_set_sync */
  const ts_table_io *io;      /* optional, see ts_catalog_set_io */
  void *sync_arg;
  ts_error sync_error;   /* of the last sync (code TC_OK when it succeeded); under `lock` */
  int64_t sync_ended_ms; /* CLOCK_MONOTONIC; under `lock` */
};

/* A scan result: a table name and its files (relative to the data dir). */
typedef struct found {
  char *name;
  char **files;
  size_t n_files;
} found;

typedef struct scan {
  found *v;
  size_t n, cap;
} scan;

static int is_arrow_name(const char *n) {
  const char *dot = strrchr(n, '.');
  return dot && dot != n && (!strcmp(dot, ".arrow") || !strcmp(dot, ".feather") || !strcmp(dot, ".ipc"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s%s%s", a, *a && *b ? "/" : "", b);
  return p;
}

static int scan_add(scan *s, char *name, char **files, size_t n_files) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    found *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = (found){name, files, n_files};
  return 0;
}

static void free_strs(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void scan_free(scan *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].name);
    free_strs(s->v[i].files, s->v[i].n_files);
  }
  free(s->v);
}

/* Sorted non-hidden entry names of DIR (relative REL under the data dir), split into Arrow files and
 * directories. */
static int list_dir(const char *data_dir, const char *rel, char ***files, size_t *nf, char ***dirs, size_t *nd) {
  char *abs = path_join(data_dir, rel);
  DIR *d = abs ? opendir(abs) : NULL;
  *files = *dirs = NULL;
  *nf = *nd = 0;
  if (!d) {
    free(abs);
    return -1;
  }
  size_t capf = 0, capd = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char *full = path_join(abs, de->d_name);
    struct stat st;
    int ok = full && stat(full, &st) == 0;
    free(full);
    if (!ok) continue;
    int is_dir = S_ISDIR(st.st_mode), is_file = S_ISREG(st.st_mode) && is_arrow_name(de->d_name);
    if (!is_dir && !is_file) continue;
    char ***v = is_dir ? dirs : files;
    size_t *n = is_dir ? nd : nf, *cap = is_dir ? &capd : &capf;
    if (*n == *cap) {
      *cap = *cap ? *cap * 2 : 8;
      char **grown = realloc(*v, *cap * sizeof **v);
      if (!grown) break;
      *v = grown;
    }
    if (((*v)[*n] = strdup(de->d_name)) != NULL) (*n)++;
  }
  closedir(d);
  free(abs);
  if (*nf) qsort(*files, *nf, sizeof **files, cmp_str);
  if (*nd) qsort(*dirs, *nd, sizeof **dirs, cmp_str);
  return 0;
}

/* Adds the table REL (or REL/SUFFIX) of the files NAMES in the folder REL. */
static void add_table(scan *out, const char *rel, const char *suffix, char *const *names, size_t n) {
  char **files = calloc(n ? n : 1, sizeof *files);
  char *name = suffix ? path_join(rel, suffix) : strdup(rel);
  size_t k = 0;
  for (; files && k < n; k++)
    if (!(files[k] = path_join(rel, names[k]))) break;
  if (!files || !name || k < n || scan_add(out, name, files, n) != 0) {
    free_strs(files, files ? k : 0);
    free(name);
  }
}

/* The top level's files are tables each; a folder with Arrow files is one table of them, or one per split
 * in a Hugging Face layout (hf.h). */
static void scan_files(const char *data_dir, const char *rel, char **names, size_t n, scan *out) {
  if (*rel == '\0') {
    for (size_t i = 0; i < n; i++) { /* NAME.arrow: the table NAME */
      char *stem = strndup(names[i], (size_t)(strrchr(names[i], '.') - names[i]));
      if (stem) add_table(out, "", stem, &names[i], 1);
      free(stem);
    }
    return;
  }
  char *abs = path_join(data_dir, rel);
  ts_hf_table *hf = NULL;
  int nh = abs ? ts_hf_tables(abs, names, n, &hf) : 0;
  free(abs);
  if (nh <= 0) {
    add_table(out, rel, NULL, names, n);
    return;
  }
  for (int i = 0; i < nh; i++) add_table(out, rel, hf[i].suffix, hf[i].files, hf[i].n_files);
  ts_hf_free(hf, nh);
}

static void scan_dir(const char *data_dir, const char *rel, int depth, scan *out) {
  char **files, **dirs;
  size_t nf, nd;
  if (depth > MAX_DEPTH || list_dir(data_dir, rel, &files, &nf, &dirs, &nd) != 0) return;
  if (nf > 0) scan_files(data_dir, rel, files, nf, out);
  if (nf == 0 || *rel == '\0')
    for (size_t i = 0; i < nd; i++) {
      char *sub = path_join(rel, dirs[i]);
      if (sub) scan_dir(data_dir, sub, depth + 1, out);
      free(sub);
    }
  free_strs(files, nf);
  free_strs(dirs, nd);
}

static int cmp_found(const void *a, const void *b) {
  return strcmp(((const found *)a)->name, ((const found *)b)->name);
}

ts_catalog *ts_catalog_new(const char *data_dir, ts_cache *cache) {
  ts_catalog *c = calloc(1, sizeof *c);
  if (!c || !(c->data_dir = strdup(data_dir))) {
    free(c);
    return NULL;
  }
  c->cache = cache;
  pthread_rwlock_init(&c->lock, NULL);
  pthread_mutex_init(&c->refreshing, NULL);
  return c;
}

void ts_catalog_set_sync(ts_catalog *c, ts_catalog_sync_fn fn, void *arg) {
  c->sync = fn;
  c->sync_arg = arg;
}

void ts_catalog_set_io(ts_catalog *c, const ts_table_io *io) { c->io = io; }

static void run_sync(ts_catalog *c) {
  ts_error e = {0};
  if (!c->sync) return;
  if (c->sync(c->sync_arg, &e) != TC_OK)
    ts_log(TS_WARN, "remote_sync_failed", TS_S("error", e.msg), TS_I("code", e.code), NULL);
  pthread_rwlock_wrlock(&c->lock);
  c->sync_error = e;
  c->sync_ended_ms = ts_mono_ms();
  pthread_rwlock_unlock(&c->lock);
}

static void entries_free(entries *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->v[i].name);
    ts_table_unref(e->v[i].table);
  }
  free(e->v);
}

void ts_catalog_free(ts_catalog *c) {
  if (!c) return;
  entries_free(&c->current);
  pthread_rwlock_destroy(&c->lock);
  pthread_mutex_destroy(&c->refreshing);
  free(c->data_dir);
  free(c);
}

static const entry *find_entry(const entries *e, const char *name) {
  size_t lo = 0, hi = e->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int d = strcmp(e->v[mid].name, name);
    if (d == 0) return &e->v[mid];
    if (d < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* The entry for F in the new list: the old one when its files are unchanged, else a fresh open. */
static entry make_entry(ts_catalog *c, const found *f, const entry *old) {
  entry e = {.name = strdup(f->name)};
  if (ts_table_files_version_io(c->io, c->data_dir, f->files, f->n_files, e.version) != 0)
    snprintf(e.version, sizeof e.version, "unreadable");
  if (old && strcmp(old->version, e.version) == 0) {
    e.table = old->table;
    e.error = old->error;
    if (e.table) ts_table_ref(e.table);
    return e;
  }
  if (ts_table_open_io(c->io, f->name, c->data_dir, f->files, f->n_files, c->cache, &e.table, &e.error) != TC_OK) {
    e.table = NULL;
    /* Its bytes could not be fetched (remote files): not broken for good, opened again at the next refresh. */
    if (e.error.code == TC_EUNAVAILABLE || e.error.code == TC_EDEADLINE_EXCEEDED || e.error.code == TC_EABORTED)
      snprintf(e.version, sizeof e.version, "unreadable");
    ts_log(TS_WARN, "table_broken", TS_S("table", f->name), TS_S("error", e.error.msg), NULL);
  } else {
    ts_log(TS_INFO, old ? "table_changed" : "table_added", TS_S("table", f->name),
           TS_S("version", ts_table_version(e.table)), TS_I("rows", ts_table_num_rows(e.table)),
           TS_I("files", f->n_files), NULL);
  }
  return e;
}

/* Waits for the refresh in progress, if any, until this thread's call deadline when it serves a call: a
 * rescan waiting on a slow store must not hold every thread that asks for an unknown name. */
static int lock_refreshing(ts_catalog *c) {
  if (!ts_call_deadline()) return pthread_mutex_lock(&c->refreshing);
  int64_t left = ts_call_deadline() - ts_mono_ms();
  if (left <= 0) return -1; /* the caller is gone: no rescan on its behalf */
  struct timespec at;       /* pthread_mutex_timedlock's clock is CLOCK_REALTIME */
  clock_gettime(CLOCK_REALTIME, &at);
  at.tv_sec += (time_t)(left / 1000);
  at.tv_nsec += (long)(left % 1000) * 1000000;
  if (at.tv_nsec >= 1000000000) at.tv_sec++, at.tv_nsec -= 1000000000;
  return pthread_mutex_timedlock(&c->refreshing, &at);
}

int ts_catalog_refresh(ts_catalog *c) {
  unsigned long before = atomic_load(&c->started);
  if (lock_refreshing(c) != 0) return -1;
  if (atomic_load(&c->done) > before) {
    /* One that started after we were called has completed while we waited: its view of the data dir is as
     * fresh as ours would be. So a burst of requests for unknown names costs one scan, not one each. */
    pthread_mutex_unlock(&c->refreshing);
    return 0;
  }
  unsigned long number = atomic_fetch_add(&c->started, 1) + 1;
  /* The rescan is everyone's (its listing, its tables and its errors are what every call sees next), so it
   * runs to the server's own timeouts, not to the deadline of the call that happened to start it. */
  int64_t call = ts_call_deadline();
  ts_call_deadline_set(0);
  run_sync(c);
  scan s = {0};
  scan_dir(c->data_dir, "", 0, &s);
  if (s.n) qsort(s.v, s.n, sizeof *s.v, cmp_found);
  entries next = {.v = calloc(s.n ? s.n : 1, sizeof *next.v)};
  /* Only this thread replaces `current`, so reading it without the lock here is safe. */
  for (size_t i = 0; next.v && i < s.n; i++) {
    if (next.n > 0 && strcmp(next.v[next.n - 1].name, s.v[i].name) == 0) {
      ts_log(TS_WARN, "table_name_clash", TS_S("table", s.v[i].name), TS_S("ignored", s.v[i].files[0]), NULL);
      continue;
    }
    next.v[next.n++] = make_entry(c, &s.v[i], find_entry(&c->current, s.v[i].name));
  }
  for (size_t i = 0; i < c->current.n; i++)
    if (!find_entry(&next, c->current.v[i].name))
      ts_log(TS_INFO, "table_removed", TS_S("table", c->current.v[i].name), NULL);
  scan_free(&s);
  if (next.v) {
    pthread_rwlock_wrlock(&c->lock);
    entries old = c->current;
    c->current = next;
    pthread_rwlock_unlock(&c->lock);
    entries_free(&old);
  }
  atomic_store(&c->done, number);
  pthread_mutex_unlock(&c->refreshing);
  ts_call_deadline_set(call);
  return 0;
}

void ts_catalog_refresh_nowait(ts_catalog *c) {
  if (!c->sync) {
    (void)ts_catalog_refresh(c);
    return;
  }
  pthread_rwlock_rdlock(&c->lock);
  /* Failed lately: the store is down or slow, and asking it again would only wait as long. */
  int failing = c->sync_error.code != TC_OK && ts_mono_ms() - c->sync_ended_ms < NOWAIT_RETRY_MS;
  pthread_rwlock_unlock(&c->lock);
  if (failing || pthread_mutex_trylock(&c->refreshing) != 0) return;
  pthread_mutex_unlock(&c->refreshing); /* idle: a refresh now (it may wait if another one starts first) */
  (void)ts_catalog_refresh(c);
}

ts_status ts_catalog_get(ts_catalog *c, const char *name, ts_table **out, ts_error *err) {
  if (ts_name_check_table(name, err) != TC_OK) return err->code;
  pthread_rwlock_rdlock(&c->lock);
  const entry *e = find_entry(&c->current, name);
  ts_status st = TC_OK;
  if (!e && c->sync_error.code != TC_OK)
    st = ts_error_set(err, c->sync_error.code, "table '%.200s': %s", name, c->sync_error.msg);
  else if (!e)
    st = ts_error_set(err, TC_ENOT_FOUND, "no table named '%.200s'", name);
  else if (!e->table)
    *err = e->error, st = e->error.code;
  else
    ts_table_ref(*out = e->table);
  pthread_rwlock_unlock(&c->lock);
  return st;
}

ts_status ts_catalog_list(ts_catalog *c, ts_table ***out, size_t *n, ts_error *err) {
  pthread_rwlock_rdlock(&c->lock);
  ts_table **v = calloc(c->current.n ? c->current.n : 1, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; v && i < c->current.n; i++)
    if (c->current.v[i].table) ts_table_ref(v[k++] = c->current.v[i].table);
  ts_error sync_error = c->sync_error;
  pthread_rwlock_unlock(&c->lock);
  if (!v) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  if (k == 0 && sync_error.code != TC_OK) {
    free(v);
    *err = sync_error;
    return err->code;
  }
  *out = v;
  *n = k;
  return TC_OK;
}

void ts_catalog_list_free(ts_table **tables, size_t n) {
  for (size_t i = 0; i < n; i++) ts_table_unref(tables[i]);
  free(tables);
}
