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

#endif
