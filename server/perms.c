/* perms.c: see perms.h. A mutex guards the list of entries; building a permutation (a shuffle of every
 * row, perhaps hashing columns) happens outside it. */
#include "perms.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "row_hash.h"
#include "schema.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "statefile.h"

struct ts_perm_entry {
  atomic_int refs;
  char id[TS_PERM_ID_LEN + 1];
  ts_table *table;
  ts_perm *perm;
  Tablecar__V1__CreatePermutationRequest *spec; /* as unpacked from the request's packed bytes */
  size_t n_splits;
  char **split_names;
  uint64_t used; /* when last looked up (the list's clock); guarded by the list's lock */
  int in_list;   /* in the list (its built bytes are counted); guarded by the list's lock */
};

struct ts_perms {
  char *dir; /* STATE_DIR/permutations, or NULL */
  ts_catalog *catalog;
  pthread_mutex_t lock; /* guards the list, every entry's `used` and `perm` pointer, `built` */
  ts_perm_entry **v;
  size_t n, cap;
  size_t built, max_built; /* bytes of the built permutations, and their budget */
  uint64_t clock;
};

static void check_state_dir(const ts_perms *p);

ts_perms *ts_perms_new(const char *state_dir, ts_catalog *catalog, size_t max_built_bytes) {
  ts_perms *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->catalog = catalog;
  p->max_built = max_built_bytes;
  pthread_mutex_init(&p->lock, NULL);
  if (state_dir) {
    size_t n = strlen(state_dir) + sizeof "/permutations";
    if ((p->dir = malloc(n)) != NULL) {
      snprintf(p->dir, n, "%s/permutations", state_dir);
      if (mkdir(p->dir, 0755) != 0 && errno != EEXIST)
        ts_log(TS_WARN, "state_dir_unwritable", TS_S("dir", p->dir), TS_S("error", strerror(errno)), NULL);
      check_state_dir(p);
    }
  }
  return p;
}

static void entry_free(ts_perm_entry *e) {
  ts_table_unref(e->table);
  ts_perm_free(e->perm);
  if (e->spec) protobuf_c_message_free_unpacked(&e->spec->base, NULL);
  for (size_t i = 0; e->split_names && i < e->n_splits; i++) free(e->split_names[i]);
  free(e->split_names);
  free(e);
}

void ts_perm_entry_unref(ts_perm_entry *e) {
  if (e && atomic_fetch_sub(&e->refs, 1) == 1) entry_free(e);
}

void ts_perms_free(ts_perms *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) ts_perm_entry_unref(p->v[i]);
  free(p->v);
  free(p->dir);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

/* The entry with ID, referenced, or NULL. */
static ts_perm_entry *lookup(ts_perms *p, const char *id) {
  ts_perm_entry *found = NULL;
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->n && !found; i++)
    if (strcmp(p->v[i]->id, id) == 0) {
      atomic_fetch_add(&(found = p->v[i])->refs, 1);
      found->used = ++p->clock;
    }
  pthread_mutex_unlock(&p->lock);
  return found;
}

/* Takes entry I out of the list, releasing the list's reference. Called with the lock held. */
static void remove_locked(ts_perms *p, size_t i) {
  ts_perm_entry *e = p->v[i];
  p->v[i] = p->v[--p->n];
  e->in_list = 0;
  if (e->perm) p->built -= ts_perm_bytes(e->perm);
  ts_perm_entry_unref(e);
}

/* Frees the built permutations of the least recently used entries that nobody holds (the list's is their
 * only reference, and a new one is only taken under the lock) until the budget holds. Their specs stay:
 * ensure_built makes them again when they are asked for. Called with the lock held. */
static void trim_locked(ts_perms *p) {
  while (p->built > p->max_built) {
    ts_perm_entry *victim = NULL;
    for (size_t i = 0; i < p->n; i++) {
      ts_perm_entry *e = p->v[i];
      if (e->perm && atomic_load(&e->refs) == 1 && (!victim || e->used < victim->used)) victim = e;
    }
    if (!victim) return;
    p->built -= ts_perm_bytes(victim->perm);
    ts_perm_free(victim->perm);
    victim->perm = NULL;
  }
}

/* Adds E (whose reference the caller keeps) unless another thread added the same id first; returns the
 * entry to use, referenced. */
static ts_perm_entry *insert(ts_perms *p, ts_perm_entry *e) {
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i]->id, e->id) == 0) {
      ts_perm_entry *other = p->v[i];
      atomic_fetch_add(&other->refs, 1);
      pthread_mutex_unlock(&p->lock);
      ts_perm_entry_unref(e);
      return other;
    }
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    ts_perm_entry **v = realloc(p->v, cap * sizeof *v);
    if (!v) {
      pthread_mutex_unlock(&p->lock);
      return e; /* served, just not remembered */
    }
    p->v = v;
    p->cap = cap;
  }
  atomic_fetch_add(&e->refs, 1);
  p->v[p->n++] = e;
  e->in_list = 1;
  e->used = ++p->clock;
  p->built += ts_perm_bytes(e->perm);
  trim_locked(p);
  pthread_mutex_unlock(&p->lock);
  return e;
}

static void make_id(const char *table, const char *version, const uint8_t *spec, size_t len,
                    char id[TS_PERM_ID_LEN + 1]) {
  uint64_t a = ts_fnv1a64(table, strlen(table) + 1, TS_FNV64_OFFSET);
  a = ts_fnv1a64(version, strlen(version) + 1, a);
  uint64_t b = ts_fnv1a64(spec, len, a ^ 0x5bd1e995u);
  a = ts_fnv1a64(spec, len, a);
  snprintf(id, TS_PERM_ID_LEN + 1, "%016" PRIx64 "%016" PRIx64, ts_mix64(a), ts_mix64(b ^ a));
}

/* The spec of REQ in the form ts_perm_build takes (pointing into REQ). */
static void spec_of(const Tablecar__V1__CreatePermutationRequest *r, ts_perm_spec *s) {
  *s = (ts_perm_spec){0};
  if (r->shuffle) {
    s->shuffle = 1;
    s->shuffle_seed = r->shuffle->seed;
    s->clump_size = r->shuffle->clump_size;
  }
  switch (r->split_case) {
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM:
    s->split = TC_SPLIT_RANDOM;
    s->ratios = r->random->ratios, s->n_ratios = r->random->n_ratios;
    s->counts = r->random->counts, s->n_counts = r->random->n_counts;
    s->fixed = r->random->fixed;
    s->split_seed = r->random->seed;
    break;
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL:
    s->split = TC_SPLIT_SEQUENTIAL;
    s->ratios = r->sequential->ratios, s->n_ratios = r->sequential->n_ratios;
    s->counts = r->sequential->counts, s->n_counts = r->sequential->n_counts;
    s->fixed = r->sequential->fixed;
    break;
  case TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH:
    s->split = TC_SPLIT_HASH;
    s->weights = r->hash->weights, s->n_weights = r->hash->n_weights;
    break;
  default: s->split = TC_SPLIT_NONE;
  }
}

static ts_status name_splits(ts_perm_entry *e, ts_error *err) {
  const Tablecar__V1__CreatePermutationRequest *r = e->spec;
  e->n_splits = ts_perm_num_splits(e->perm);
  if (r->n_split_names && r->n_split_names != e->n_splits)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "%zu split names for %zu splits", r->n_split_names, e->n_splits);
  if (!(e->split_names = calloc(e->n_splits, sizeof *e->split_names)))
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < e->n_splits; i++) {
    char idx[24];
    snprintf(idx, sizeof idx, "%zu", i);
    const char *name = r->n_split_names ? r->split_names[i] : idx;
    if (ts_name_check_plain("split", name, err) != TC_OK) return err->code;
    for (size_t j = 0; j < i; j++)
      if (strcmp(e->split_names[j], name) == 0)
        return ts_error_set(err, TC_EINVALID_ARGUMENT, "split name '%.200s' is used twice", name);
    if (!(e->split_names[i] = strdup(name))) return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  return TC_OK;
}

/* Row hashes over the hash split's columns, NULL for other splits. */
static ts_status hashes_for(ts_table *t, const Tablecar__V1__CreatePermutationRequest *r, uint64_t **out,
                            ts_error *err) {
  *out = NULL;
  if (r->split_case != TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH) return TC_OK;
  if (r->hash->n_columns == 0) return ts_error_set(err, TC_EINVALID_ARGUMENT, "a hash split needs at least one column");
  size_t *cols, nc;
  if (ts_select_columns(ts_table_schema(t), r->hash->columns, r->hash->n_columns, &cols, &nc, err) != TC_OK)
    return err->code;
  int64_t n = ts_table_num_rows(t);
  uint64_t *h = malloc((size_t)(n ? n : 1) * sizeof *h);
  ts_status st = h ? ts_row_hashes(t, cols, nc, h, err) : ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  free(cols);
  if (st != TC_OK) {
    free(h);
    return st;
  }
  *out = h;
  return TC_OK;
}

/* The permutation SPEC asks for over table T. */
static ts_status build_perm(ts_table *t, const Tablecar__V1__CreatePermutationRequest *spec, ts_perm **out,
                            ts_error *err) {
  ts_perm_spec ps;
  spec_of(spec, &ps);
  uint64_t *hashes;
  ts_status st = hashes_for(t, spec, &hashes, err);
  char msg[256];
  if (st == TC_OK && ts_perm_build(&ps, ts_table_num_rows(t), hashes, out, msg, sizeof msg) != 0)
    st = ts_error_set(err, TC_EINVALID_ARGUMENT, "%s", msg);
  else if (st == TC_OK)
    ts_metrics_permutation_built();
  free(hashes);
  return st;
}

/* Makes E's permutation again when the budget dropped it (E is referenced by the caller). */
static ts_status ensure_built(ts_perms *p, ts_perm_entry *e, ts_error *err) {
  pthread_mutex_lock(&p->lock);
  int built = e->perm != NULL;
  pthread_mutex_unlock(&p->lock);
  if (built) return TC_OK;
  ts_perm *fresh;
  if (build_perm(e->table, e->spec, &fresh, err) != TC_OK) return err->code;
  pthread_mutex_lock(&p->lock);
  if (!e->perm) { /* else another thread made it first */
    e->perm = fresh;
    fresh = NULL;
    if (e->in_list) { /* one dropped from the list meanwhile is freed with its last reference */
      p->built += ts_perm_bytes(e->perm);
      trim_locked(p);
    }
  }
  pthread_mutex_unlock(&p->lock);
  ts_perm_free(fresh);
  return TC_OK;
}

/* Hands E (referenced) to the caller in *out once its permutation is built; releases it on error. */
static ts_status ready(ts_perms *p, ts_perm_entry *e, ts_perm_entry **out, ts_error *err) {
  if (ensure_built(p, e, err) != TC_OK) {
    ts_perm_entry_unref(e);
    return err->code;
  }
  *out = e;
  return TC_OK;
}

/* Builds the entry for SPEC (owned by the entry from here on) over table T (a reference it takes). */
static ts_status build_entry(ts_table *t, Tablecar__V1__CreatePermutationRequest *spec, const char *id,
                             ts_perm_entry **out, ts_error *err) {
  ts_perm_entry *e = calloc(1, sizeof *e);
  if (!e) {
    protobuf_c_message_free_unpacked(&spec->base, NULL);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  atomic_init(&e->refs, 1);
  ts_table_ref(e->table = t);
  e->spec = spec;
  memcpy(e->id, id, TS_PERM_ID_LEN + 1);
  ts_status st = build_perm(t, spec, &e->perm, err);
  if (st == TC_OK) st = name_splits(e, err);
  if (st != TC_OK) {
    ts_perm_entry_unref(e);
    return st;
  }
  *out = e;
  return TC_OK;
}

/* STATE_DIR/permutations/ID holds "VERSION\n" and the packed spec, written durably (statefile.h) before the
 * entry is listed, so that whoever finds the entry (this call, or another creating the same id) acknowledges
 * a permutation that survives a crash. */
static ts_status persist(ts_perms *p, const char *id, const char *version, const uint8_t *spec, size_t len,
                         ts_error *err) {
  if (!p->dir) return TC_OK;
  char head[80];
  int n = snprintf(head, sizeof head, "%s\n", version);
  if (n < 0 || (size_t)n >= sizeof head || ts_statefile_write(p->dir, id, head, (size_t)n, spec, len) != 0) {
    int e = n < 0 || (size_t)n >= sizeof head ? ENAMETOOLONG : errno;
    ts_log(TS_WARN, "permutation_not_saved", TS_S("id", id), TS_S("dir", p->dir), TS_S("error", strerror(e)), NULL);
    return ts_error_set(err, TC_EUNAVAILABLE, "permutation '%s' could not be saved in the state directory: %s", id,
                        strerror(e));
  }
  return TC_OK;
}

/* Fields the spec's messages do not define: they would change the id without changing the order. */
static int has_unknown_fields(const Tablecar__V1__CreatePermutationRequest *r) {
  return r->base.n_unknown_fields || (r->shuffle && r->shuffle->base.n_unknown_fields) ||
         (r->split_case == TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_RANDOM &&
          r->random->base.n_unknown_fields) ||
         (r->split_case == TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_SEQUENTIAL &&
          r->sequential->base.n_unknown_fields) ||
         (r->split_case == TABLECAR__V1__CREATE_PERMUTATION_REQUEST__SPLIT_HASH && r->hash->base.n_unknown_fields);
}

ts_status ts_perms_create(ts_perms *p, const Tablecar__V1__CreatePermutationRequest *req, ts_perm_entry **out,
                          ts_error *err) {
  ts_table *t;
  if (ts_catalog_get(p->catalog, req->table, &t, err) != TC_OK) return err->code;
  size_t len = protobuf_c_message_get_packed_size(&req->base);
  if (len > TS_PERM_MAX_SPEC_BYTES || has_unknown_fields(req)) {
    ts_table_unref(t);
    if (len > TS_PERM_MAX_SPEC_BYTES)
      return ts_error_set(err, TC_EINVALID_ARGUMENT, "the permutation spec is larger than %d bytes",
                          TS_PERM_MAX_SPEC_BYTES);
    return ts_error_set(err, TC_EINVALID_ARGUMENT,
                        "the permutation spec has fields this server does not know "
                        "(from a newer client?): upgrade the sidecar");
  }
  uint8_t *packed = malloc(len ? len : 1);
  ts_status st = TC_OK;
  if (!packed) {
    ts_table_unref(t);
    return ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
  }
  protobuf_c_message_pack(&req->base, packed);
  char id[TS_PERM_ID_LEN + 1];
  make_id(req->table, ts_table_version(t), packed, len, id);
  ts_perm_entry *e = lookup(p, id);
  if (!e) {
    /* A private copy of the spec: the entry outlives the request. */
    Tablecar__V1__CreatePermutationRequest *spec = tablecar__v1__create_permutation_request__unpack(NULL, len, packed);
    st = spec ? build_entry(t, spec, id, &e, err) : ts_error_set(err, TC_ERESOURCE_EXHAUSTED, "out of memory");
    if (st == TC_OK && (st = persist(p, id, ts_table_version(t), packed, len, err)) != TC_OK) {
      ts_perm_entry_unref(e);
      e = NULL;
    }
    if (st == TC_OK) {
      e = insert(p, e);
      ts_log(TS_INFO, "permutation_created", TS_S("id", id), TS_S("table", req->table), TS_I("splits", e->n_splits),
             NULL);
    }
  }
  free(packed);
  ts_table_unref(t);
  if (st != TC_OK) return st;
  return ready(p, e, out, err);
}

/* FAILED_PRECONDITION: the permutation ID was made over VERSION of TABLE, which is now at NOW. */
static ts_status table_changed(ts_error *err, const char *table, const char *id, const char *version, const char *now) {
  return ts_error_set(err, TC_EFAILED_PRECONDITION,
                      "table '%.200s' changed since permutation '%s' was made (version %s, now %s): create the "
                      "permutation again",
                      table, id, version, now);
}

/* Reads the record of ID (see persist): its table version and spec. A record is only believed when its
 * contents hash to its name, the id: a truncated or corrupted file fails that check even where it still
 * parses (a protobuf cut at a field boundary is a valid, different spec). NOT_FOUND when there is no file;
 * DATA_LOSS, logged with the file's path, when it is unusable (skipped: it is rewritten when the same
 * permutation is created again). */
static ts_status read_record(const ts_perms *p, const char *id, char version[64],
                             Tablecar__V1__CreatePermutationRequest **out, ts_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", p->dir, id);
  FILE *f = fopen(path, "rbe");
  if (!f) return ts_error_set(err, TC_ENOT_FOUND, "no permutation with id '%s'", id);
  uint8_t *buf = malloc(TS_PERM_MAX_SPEC_BYTES + 1);
  size_t len = 0;
  const char *why = NULL;
  version[0] = '\0';
  if (!buf || !fgets(version, 64, f) || !strchr(version, '\n') ||
      (len = fread(buf, 1, TS_PERM_MAX_SPEC_BYTES + 1, f)) > TS_PERM_MAX_SPEC_BYTES || !feof(f))
    why = "unreadable or truncated";
  fclose(f);
  version[strcspn(version, "\n")] = '\0';
  Tablecar__V1__CreatePermutationRequest *spec =
      why ? NULL : tablecar__v1__create_permutation_request__unpack(NULL, len, buf);
  char check[TS_PERM_ID_LEN + 1] = "";
  if (spec) make_id(spec->table, version, buf, len, check);
  free(buf);
  if (!why && (!spec || strcmp(check, id) != 0)) why = "corrupt (its contents do not match its id)";
  if (why) {
    if (spec) protobuf_c_message_free_unpacked(&spec->base, NULL);
    ts_log(TS_WARN, "state_file_skipped", TS_S("file", path), TS_S("reason", why), NULL);
    return ts_error_set(err, TC_EDATA_LOSS, "the saved permutation '%s' is %s: create it again", id, why);
  }
  *out = spec;
  return TC_OK;
}

/* At start: temporary files a crash left behind are removed, and every record is checked, so that a bad
 * one is named in the log now rather than at its first use. Never fails the start. */
static void check_state_dir(const ts_perms *p) {
  DIR *d = opendir(p->dir);
  if (!d) return;
  size_t good = 0, bad = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *name = de->d_name;
    if (name[0] == '.') continue;
    if (ts_statefile_is_temp(name)) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", p->dir, name);
      ts_log(TS_INFO, "state_temp_removed", TS_S("file", path), NULL);
      unlink(path);
      continue;
    }
    char version[64];
    Tablecar__V1__CreatePermutationRequest *spec = NULL;
    ts_error err = {0};
    if (strlen(name) == TS_PERM_ID_LEN && read_record(p, name, version, &spec, &err) == TC_OK) {
      good++;
      protobuf_c_message_free_unpacked(&spec->base, NULL);
    } else {
      if (strlen(name) != TS_PERM_ID_LEN) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", p->dir, name);
        ts_log(TS_WARN, "state_file_skipped", TS_S("file", path), TS_S("reason", "not a permutation id"), NULL);
      }
      bad++;
    }
  }
  closedir(d);
  ts_log(TS_INFO, "state_checked", TS_S("dir", p->dir), TS_I("permutations", (int64_t)good),
         TS_I("skipped", (int64_t)bad), NULL);
}

/* Rebuilds a permutation saved by an earlier run of the server. */
static ts_status restore(ts_perms *p, const char *id, ts_perm_entry **out, ts_error *err) {
  char version[64];
  Tablecar__V1__CreatePermutationRequest *spec = NULL;
  if (read_record(p, id, version, &spec, err) != TC_OK) return err->code;
  ts_table *t = NULL;
  ts_status st = ts_catalog_get(p->catalog, spec->table, &t, err);
  if (st == TC_OK && strcmp(ts_table_version(t), version) != 0)
    st = table_changed(err, spec->table, id, version, ts_table_version(t));
  if (st != TC_OK) {
    protobuf_c_message_free_unpacked(&spec->base, NULL);
    ts_table_unref(t);
    return st;
  }
  st = build_entry(t, spec, id, out, err);
  ts_table_unref(t);
  if (st == TC_OK) {
    *out = insert(p, *out);
    ts_log(TS_INFO, "permutation_restored", TS_S("id", id), NULL);
  }
  return st;
}

/* A known entry is served only while its table is still at the version it was built over (the catalog
 * notices changes on its rescans): else FAILED_PRECONDITION, or the table's own error, and the stale entry
 * is forgotten (it pins the old files). Releases *out on error. */
static ts_status check_current(ts_perms *p, ts_perm_entry **out, ts_error *err) {
  ts_perm_entry *e = *out;
  ts_table *t;
  ts_status st = ts_catalog_get(p->catalog, ts_table_name(e->table), &t, err);
  if (st == TC_OK) {
    if (strcmp(ts_table_version(t), ts_table_version(e->table)) != 0)
      st = table_changed(err, ts_table_name(e->table), e->id, ts_table_version(e->table), ts_table_version(t));
    ts_table_unref(t);
  }
  if (st == TC_OK) return TC_OK;
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i] == e) {
      remove_locked(p, i);
      break;
    }
  pthread_mutex_unlock(&p->lock);
  ts_perm_entry_unref(e);
  *out = NULL;
  return st;
}

void ts_perms_prune(ts_perms *p) {
  pthread_mutex_lock(&p->lock);
  for (size_t i = p->n; i-- > 0;) {
    ts_perm_entry *e = p->v[i];
    ts_table *t = NULL;
    ts_error err = {0};
    if (atomic_load(&e->refs) != 1) continue; /* being read: check_current drops it when it is asked for next */
    int stale = ts_catalog_get(p->catalog, ts_table_name(e->table), &t, &err) != TC_OK ||
                strcmp(ts_table_version(t), ts_table_version(e->table)) != 0;
    ts_table_unref(t);
    if (stale) remove_locked(p, i);
  }
  pthread_mutex_unlock(&p->lock);
}

ts_status ts_perms_get(ts_perms *p, const char *id, ts_perm_entry **out, ts_error *err) {
  size_t len = strlen(id);
  int hex = len == TS_PERM_ID_LEN;
  for (size_t i = 0; hex && i < len; i++) hex = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
  if (!hex)
    return ts_error_set(err, TC_EINVALID_ARGUMENT, "'%.100s' is not a permutation id (%d hex digits)", id,
                        TS_PERM_ID_LEN);
  ts_perm_entry *e = lookup(p, id);
  if (e && check_current(p, &e, err) != TC_OK) return err->code;
  if (!e && !p->dir) return ts_error_set(err, TC_ENOT_FOUND, "no permutation with id '%s'", id);
  if (!e && restore(p, id, &e, err) != TC_OK) return err->code;
  return ready(p, e, out, err);
}

size_t ts_perms_built_bytes(ts_perms *p) {
  pthread_mutex_lock(&p->lock);
  size_t n = p->built;
  pthread_mutex_unlock(&p->lock);
  return n;
}

ts_table *ts_perm_entry_table(const ts_perm_entry *e) { return e->table; }
const ts_perm *ts_perm_entry_perm(const ts_perm_entry *e) { return e->perm; }

ts_status ts_perm_entry_split(const ts_perm_entry *e, const char *name, size_t *split, ts_error *err) {
  for (size_t i = 0; i < e->n_splits; i++)
    if (strcmp(e->split_names[i], name) == 0) {
      *split = i;
      return TC_OK;
    }
  char *end;
  errno = 0;
  unsigned long long i = strtoull(name, &end, 10);
  if (*name >= '0' && *name <= '9' && *end == '\0' && errno == 0 && i < e->n_splits) {
    *split = (size_t)i;
    return TC_OK;
  }
  return ts_error_set(err, TC_ENOT_FOUND, "permutation '%s' has no split '%.200s'", e->id, name);
}

Tablecar__V1__PermutationInfo *ts_perm_entry_info(const ts_perm_entry *e) {
  Tablecar__V1__PermutationInfo *info = malloc(sizeof *info);
  if (!info) return NULL;
  tablecar__v1__permutation_info__init(info);
  int ok = (info->id = strdup(e->id)) && (info->table = strdup(ts_table_name(e->table))) &&
           (info->table_version = strdup(ts_table_version(e->table)));
  info->num_rows = ts_table_num_rows(e->table);
  info->splits = calloc(e->n_splits, sizeof *info->splits);
  ok = ok && info->splits;
  for (size_t i = 0; ok && i < e->n_splits; i++) {
    Tablecar__V1__SplitInfo *s = malloc(sizeof *s);
    if (!s) break;
    tablecar__v1__split_info__init(s);
    info->splits[info->n_splits++] = s;
    s->num_rows = ts_perm_split_len(e->perm, i);
    ok = (s->name = strdup(e->split_names[i])) != NULL;
  }
  ok = ok && info->n_splits == e->n_splits;
  /* A copy of the spec, so the info can be freed on its own. */
  size_t len = protobuf_c_message_get_packed_size(&e->spec->base);
  uint8_t *buf = ok ? malloc(len ? len : 1) : NULL;
  if (buf) {
    protobuf_c_message_pack(&e->spec->base, buf);
    info->spec = tablecar__v1__create_permutation_request__unpack(NULL, len, buf);
    free(buf);
  }
  if (!ok || !info->spec) {
    protobuf_c_message_free_unpacked(&info->base, NULL);
    return NULL;
  }
  return info;
}
