/* s3_list.h: a strict parser of one ListObjectsV2 answer (untrusted bytes from the network).
 *
 * Only what tablecar needs is read: every <Contents> element's Key, ETag and Size, IsTruncated and
 * NextContinuationToken. It is a tiny scanner, not an XML parser: elements are found by their exact tags,
 * text is entity-decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;), and anything malformed (an unclosed
 * tag, a bad number, a key with a NUL or control byte, an unknown entity) is an error rather than a guess.
 * One function of (bytes, length): easy to fuzz. */
#ifndef TS_S3_LIST_H
#define TS_S3_LIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_s3_object {
  char *key;
  char *etag; /* as sent, quotes included */
  int64_t size;
} ts_s3_object;

typedef struct ts_s3_page {
  ts_s3_object *objects;
  size_t n;
  int truncated;
  char *next_token; /* NULL unless truncated */
} ts_s3_page;

/* Parses XML[0..len). Returns 0 and fills *page (free with ts_s3_page_free), or -1 with a message. */
int ts_s3_list_parse(const char *xml, size_t len, ts_s3_page *page, char *err, size_t errlen);
void ts_s3_page_free(ts_s3_page *page);

#endif
