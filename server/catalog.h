/* catalog.h: the tables of the data dir, by name, kept in step with the files.
 *
 * Naming: a file NAME.arrow, NAME.feather or NAME.ipc directly in the data dir is the table NAME. A
 * directory (at any depth) that holds Arrow files is one table, named by its path (e.g. "squad/train"),
 * whose fragments are those files in file-name order, except in Hugging Face layouts (hf.h): a save_to_disk
 * folder takes its files in state.json's order, and a datasets cache folder is one table per split,
 * "FOLDER/SPLIT". Directories without Arrow files are searched.
 * Hidden entries (".x") are ignored. Tables whose files fail to open are remembered as broken, with their
 * error, and the others keep serving.
 */
#ifndef TS_CATALOG_H
#define TS_CATALOG_H

#include <stddef.h>

#include "cache.h"
#include "status.h"
#include "table.h"

typedef struct ts_catalog ts_catalog;

ts_catalog *ts_catalog_new(const char *data_dir, ts_cache *cache);
void ts_catalog_free(ts_catalog *c);

/* A step run at the start of every refresh, before the scan: a remote data dir (remote.h) brings its local
 * mirror up to date here. Its last failure is kept: a name not found, or an empty table list, is answered
 * with it (the store being down is not "no such table"), while the tables already there keep serving. */
typedef ts_status (*ts_catalog_sync_fn)(void *arg, ts_error *err);
void ts_catalog_set_sync(ts_catalog *c, ts_catalog_sync_fn fn, void *arg);

/* How the data dir's files are opened and versioned (table.h), when not as local files. IO must outlive C. */
void ts_catalog_set_io(ts_catalog *c, const ts_table_io *io);

/* Rescans the data dir: opens new and changed tables, forgets removed ones, logs each change. Cheap when
 * nothing changed (stat only). Safe to call from any thread; concurrent calls are serialized. On a thread
 * serving a call (call_deadline.h) the wait for another rescan ends at the call's deadline: then -1, and
 * nothing was rescanned for it; else 0. The rescan itself is shared, so it runs to the server's own
 * timeouts (--remote-timeout-seconds), never to the deadline of the call that started it. */
int ts_catalog_refresh(ts_catalog *c);

/* ts_catalog_refresh for a caller that must not wait on an object store: with a sync step (a remote data
 * dir) it returns at once, the last listing standing, when a refresh is under way or the last sync failed
 * a few seconds ago (the store is down or slow: the periodic rescan keeps trying); with a local dir it is
 * ts_catalog_refresh. */
void ts_catalog_refresh_nowait(ts_catalog *c);

/* The table NAME, referenced (ts_table_unref it). INVALID_ARGUMENT for a bad name, NOT_FOUND, or the
 * table's own error (DATA_LOSS, FAILED_PRECONDITION) when its files are broken. */
ts_status ts_catalog_get(ts_catalog *c, const char *name, ts_table **out, ts_error *err);

/* Every good table, referenced, sorted by name. Free with ts_catalog_list_free. */
ts_status ts_catalog_list(ts_catalog *c, ts_table ***out, size_t *n, ts_error *err);
void ts_catalog_list_free(ts_table **tables, size_t n);

#endif
