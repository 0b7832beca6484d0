/* remote_blob.h: objects of the store read on demand (remote.h).
 *
 * An Arrow object is cached as a blob: a sparse file of the object's size, BLOBS/NAME, mapped by the Arrow
 * reader as a local file would be, into which the ranges the reader asks for (at_source) are written as
 * they are fetched; BLOBS/NAME.meta holds the object's ETag and key, BLOBS/NAME.have a log of the ranges
 * fetched, each appended once its bytes are on disk, so a restart reads them from the cache again. Missing
 * ranges are fetched in ranged GETs checked against the ETag (If-Match), several in flight, within the
 * remote timeout or the deadline of the call that needs them (call_deadline.h), whichever ends first; two
 * threads that want the same bytes wait for one fetch. A blob's bytes never change once
 * fetched: the name is a hash of the bucket, key, ETag and size, so a changed object is another blob.
 *
 * The open blobs' fetched bytes are kept within a budget (ts_rblobs_set_budget): after a fetch that leaves
 * them over it, the least recently used chunks (a chunk: what one part of a GET, or one log record, brought)
 * that no read points into are dropped, down to 7/8 of it. A read leases the chunks its `need` covers until
 * its `done` (arrow_file.h: a view batch until it is freed, a decoded one until it is decoded; what opening
 * reads, the footer and metadata, while the file is open), so bytes are never dropped under a live pointer.
 * A chunk leaves the log (rewritten, synced) before its bytes are punched out of the file, so a restart
 * never trusts zeros; it is fetched again when read again. The budget counts the chunks' bytes: on disk a
 * chunk may take up to a filesystem block more (its edges), and leased chunks can keep the cache over it.
 */
#ifndef TS_REMOTE_BLOB_H
#define TS_REMOTE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "arrow_file.h"
#include "s3.h"

/* The open blobs of one cache dir, shared by every table file over them. Thread-safe. */
typedef struct ts_rblobs ts_rblobs;

/* Blobs of BUCKET's objects in BLOBS_DIR (an absolute path), each fetch bounded by TIMEOUT_MS. */
ts_rblobs *ts_rblobs_new(ts_s3 *s3, const char *bucket, const char *blobs_dir, int64_t timeout_ms);
/* Every file opened over a blob must be closed first. */
void ts_rblobs_free(ts_rblobs *bs);

/* Makes blob NAME for an object of SIZE bytes (sparse, nothing fetched) unless it is there. 0 or -1 with
 * errno. */
int ts_rblob_create(const char *blobs_dir, const char *name, const char *key, const char *etag, int64_t size);
/* Nonzero when blob NAME of SIZE bytes exists (made by ts_rblob_create). */
int ts_rblob_exists(const char *blobs_dir, const char *name, int64_t size);

/* Opens the Arrow file whose blob is PATH (in the blobs dir, maybe through a symbolic link), reading on
 * demand. Returns as at_file_open_source does. */
int ts_rblobs_open(ts_rblobs *bs, const char *path, at_file **out, char *err, size_t errlen);

/* Bytes of the blobs fetched so far by this process (not from the cache). */
uint64_t ts_rblobs_fetched_bytes(const ts_rblobs *bs);

/* The budget of the open blobs' fetched bytes (< 0, the default: none). Applied after the next fetch, or now
 * by ts_rblobs_trim. */
void ts_rblobs_set_budget(ts_rblobs *bs, int64_t bytes);
void ts_rblobs_trim(ts_rblobs *bs);
/* Bytes the open blobs hold (fetched and not dropped), and the bytes dropped so far to keep the budget. */
int64_t ts_rblobs_held_bytes(const ts_rblobs *bs);
uint64_t ts_rblobs_evicted_bytes(const ts_rblobs *bs);
/* Nonzero when blob NAME is open (a file is open over it). */
int ts_rblobs_is_open(ts_rblobs *bs, const char *name);

#endif
