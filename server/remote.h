/* remote.h: a data dir in S3-compatible object storage (--data-dir s3://BUCKET/PREFIX), served through a
 * local mirror so the catalog and everything above it work as for a local dir.
 *
 * A sync lists the prefix (ListObjectsV2, every page) and makes the mirror match it: each object the
 * catalog can use gets a blob in the cache dir named by a hash of (bucket, key, ETag, size), and the mirror
 * tree is symbolic links to blobs. Hugging Face's JSON files are fetched whole at the sync (ranged GETs of up
 * to 8 MiB, several in flight, checked with If-Match). Arrow files are read on demand (remote_blob.h): the
 * sync only makes their sparse blob, and the catalog opens them through ts_remote_io, which fetches the
 * footer and metadata at open and a record batch when it is first read. A changed object (new ETag) is a new
 * blob, a new link target, and so a new table version; an unchanged one is never fetched again, across
 * restarts too. Blobs no object lists any more are deleted least recently used first once the cache holds
 * more than cache_bytes; what is left of cache_bytes then bounds the bytes of the open blobs, which drop
 * their least recently used chunks that no read points into (remote_blob.h). Approximate: on-disk sizes of
 * the blobs not open, chunk bytes of the open ones (a filesystem block more a chunk at most), the blobs of
 * listed objects not open are kept whole, and bytes in use (leased) are never dropped.
 * When the store cannot be reached the mirror stays as it was: what was fetched keeps being served.
 */
#ifndef TS_REMOTE_H
#define TS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "table.h"

typedef struct ts_remote ts_remote;

/* A remote data dir for URL ("s3://BUCKET/PREFIX") cached in CACHE_DIR (made if missing). Every sync is
 * bounded by TIMEOUT_MS. NULL with a message on a bad URL, missing credentials or an unusable cache dir. */
ts_remote *ts_remote_new(const char *url, const char *cache_dir, size_t cache_bytes, int64_t timeout_ms,
                         const char *(*getenv_fn)(const char *), char *err, size_t errlen);
void ts_remote_free(ts_remote *r);

/* The local directory the catalog serves (the mirror of the prefix). */
const char *ts_remote_dir(const ts_remote *r);

/* Lists the store and brings the mirror up to date. On failure the mirror keeps what it had (objects that
 * could be fetched are updated) and the error names the bucket, and the key when one object failed. */
ts_status ts_remote_sync(ts_remote *r, ts_error *err);

/* How the catalog opens and versions the mirror's files: Arrow files read on demand (remote_blob.h),
 * versioned by their objects' ETags and sizes. Valid until ts_remote_free, which must come after every
 * table over them is closed. */
const ts_table_io *ts_remote_io(const ts_remote *r);

/* Bytes of Arrow objects fetched so far by this process. */
uint64_t ts_remote_fetched_bytes(const ts_remote *r);

/* Requests sent to the store so far (listings, GETs, retries). */
uint64_t ts_remote_requests(const ts_remote *r);

/* Bytes of Arrow objects the open files hold in the cache, and the bytes dropped so far to keep the budget. */
uint64_t ts_remote_cache_bytes(const ts_remote *r);
uint64_t ts_remote_evicted_bytes(const ts_remote *r);

#endif
