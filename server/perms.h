/* perms.h: the server's permutations by id.
 *
 * An id is a hash of (table name, table version, the spec as sent), so the same inputs give the same id in
 * every process and after a restart. The spec and the table version are kept (and, with a --state-dir,
 * written to STATE_DIR/permutations/ID) so a permutation can be rebuilt from its id after a restart; it is
 * refused with FAILED_PRECONDITION once its table has changed.
 */
#ifndef TS_PERMS_H
#define TS_PERMS_H

#include <stddef.h>

#include "catalog.h"
#include "permutation.h"
#include "status.h"
#include "tablecar/v1/tablecar.pb-c.h"

#define TS_PERM_ID_LEN 32
#define TS_PERM_MAX_SPEC_BYTES (1 << 20) /* a larger CreatePermutationRequest is refused */

typedef struct ts_perms ts_perms;
typedef struct ts_perm_entry ts_perm_entry;

/* STATE_DIR may be NULL: permutations then last as long as the process. At most MAX_BUILT_BYTES of built
 * permutations (4 or 8 bytes a row) are kept: the least recently used ones nobody is reading are dropped
 * and made again from their spec when asked for (the same order: it is a pure function of the spec). */
ts_perms *ts_perms_new(const char *state_dir, ts_catalog *catalog, size_t max_built_bytes);
void ts_perms_free(ts_perms *p);

/* Creates (or finds) the permutation REQ asks for; a reference in *out (ts_perm_entry_unref it). */
ts_status ts_perms_create(ts_perms *p, const Tablecar__V1__CreatePermutationRequest *req, ts_perm_entry **out,
                          ts_error *err);
/* The permutation ID: INVALID_ARGUMENT for a malformed id, NOT_FOUND, FAILED_PRECONDITION when its table
 * changed since it was created. */
ts_status ts_perms_get(ts_perms *p, const char *id, ts_perm_entry **out, ts_error *err);
void ts_perm_entry_unref(ts_perm_entry *e);

/* Forgets the permutations nobody is reading whose table changed or went away (they pin the old files):
 * run after each rescan of the data dir. */
void ts_perms_prune(ts_perms *p);

/* Bytes of the permutations built now. */
size_t ts_perms_built_bytes(ts_perms *p);

ts_table *ts_perm_entry_table(const ts_perm_entry *e);
const ts_perm *ts_perm_entry_perm(const ts_perm_entry *e);
/* The split named NAME, or given by its decimal index. NOT_FOUND otherwise. */
ts_status ts_perm_entry_split(const ts_perm_entry *e, const char *name, size_t *split, ts_error *err);
/* A new PermutationInfo (free with protobuf_c_message_free_unpacked), NULL when out of memory. */
Tablecar__V1__PermutationInfo *ts_perm_entry_info(const ts_perm_entry *e);

#endif
