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
#ifndef TC_CATALOG_H
#define TC_CATALOG_H

#include <stddef.h>

#include "cache.h"
#include "status.h"
#include "table.h"

typedef struct tc_catalog tc_catalog;

tc_catalog *tc_catalog_new(const char *data_dir, tc_cache *cache);
void tc_catalog_free(tc_catalog *c);

/* Rescans the data dir: opens new and changed tables, forgets removed ones, logs each change. Cheap when
 * nothing changed (stat only). Safe to call from any thread; concurrent calls are serialized. */
void tc_catalog_refresh(tc_catalog *c);

/* The table NAME, referenced (tc_table_unref it). INVALID_ARGUMENT for a bad name, NOT_FOUND, or the
 * table's own error (DATA_LOSS, FAILED_PRECONDITION) when its files are broken. */
tc_status tc_catalog_get(tc_catalog *c, const char *name, tc_table **out, tc_error *err);

/* Every good table, referenced, sorted by name. Free with tc_catalog_list_free. */
tc_status tc_catalog_list(tc_catalog *c, tc_table ***out, size_t *n, tc_error *err);
void tc_catalog_list_free(tc_table **tables, size_t n);

#endif
