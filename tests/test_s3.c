/* Unit tests for server/s3_util.c and server/s3_list.c: URLs, SigV4 query encoding, ranges, retry policy,
 * and the ListObjectsV2 parser on good and hostile input; server/remote_ranges.c (the ranges of an object in
 * the cache) against a byte map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "remote_ranges.h"
#include "s3_list.h"
#include "s3_util.h"

static void test_parse_url(void **state) {
  char *b, *p, err[256];
  assert_int_equal(ts_s3_parse_url("s3://my-bucket/some/prefix/", &b, &p, err, sizeof err), 0);
  assert_string_equal(b, "my-bucket");
  assert_string_equal(p, "some/prefix/");
  free(b), free(p);
  assert_int_equal(ts_s3_parse_url("s3://bkt", &b, &p, err, sizeof err), 0);
  assert_string_equal(b, "bkt");
  assert_string_equal(p, "");
  free(b), free(p);
  assert_int_equal(ts_s3_parse_url("s3://bkt/a/b", &b, &p, err, sizeof err), 0);
  assert_string_equal(p, "a/b/");
  free(b), free(p);
  const char *bad[] = {"s3://",         "s3:///x",        "s3://UPPER/x", "s3://ab/x",   "s3://bkt/a//b",
                       "s3://bkt/../x", "s3://bkt/a/./b", "/local/dir",   "s3://-bkt/x", "s3://bkt/a\nb"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    if (ts_s3_parse_url(bad[i], &b, &p, err, sizeof err) != -1) fail_msg("'%s' accepted", bad[i]);
    assert_null(b);
    assert_null(p);
    assert_true(strlen(err) > 0);
  }
  assert_true(ts_s3_is_url("s3://x"));
  assert_false(ts_s3_is_url("/data"));
}

static void test_encode_and_query(void **state) {
  char out[256];
  assert_int_equal(ts_s3_encode("a b+c=/~._-", 0, out, sizeof out), 19);
  assert_string_equal(out, "a%20b%2Bc%3D%2F~._-");
  ts_s3_encode("dir/sub dir/\xc3\xa9", 1, out, sizeof out);
  assert_string_equal(out, "dir/sub%20dir/%C3%A9");
  assert_int_equal(ts_s3_encode("abcdef", 0, out, 6), -1); /* no room for the NUL */
  /* Sorted by name; a base64 token's '/', '+' and '=' encoded. */
  ts_s3_list_query("data/x", "ab/c+d==", 1000, out, sizeof out);
  assert_string_equal(out, "continuation-token=ab%2Fc%2Bd%3D%3D&list-type=2&max-keys=1000&prefix=data%2Fx");
  ts_s3_list_query("", NULL, 0, out, sizeof out);
  assert_string_equal(out, "list-type=2&prefix=");
  assert_int_equal(ts_s3_list_query("p", "t", 5, out, 10), -1);
}

static void test_content_range(void **state) {
  int64_t s, e, t;
  assert_int_equal(ts_s3_content_range("bytes 0-0/100", &s, &e, &t), 0);
  assert_true(s == 0 && e == 0 && t == 100);
  assert_int_equal(ts_s3_content_range("bytes 84-99/100", &s, &e, &t), 0);
  assert_true(s == 84 && e == 99);
  const char *bad[] = {"bytes */100", "bytes 5-4/100", "bytes 0-100/100", "bytes 0-1/2x", "items 0-1/5", "", NULL};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(ts_s3_content_range(bad[i], &s, &e, &t), -1);
}

static void test_retry_policy(void **state) {
  assert_true(ts_s3_retryable(0));
  assert_true(ts_s3_retryable(503));
  assert_true(ts_s3_retryable(500));
  assert_true(ts_s3_retryable(429));
  assert_false(ts_s3_retryable(403));
  assert_false(ts_s3_retryable(404));
  assert_false(ts_s3_retryable(200));
  uint64_t rng = 42, max_seen = 0;
  for (int attempt = 1; attempt <= 20; attempt++)
    for (int k = 0; k < 50; k++) {
      uint64_t d = ts_s3_backoff_ms(attempt, 50, 2000, &rng);
      uint64_t ceiling = attempt >= 7 ? 2000 : 50u << (attempt - 1);
      assert_true(d <= ceiling);
      if (d > max_seen) max_seen = d;
    }
  assert_true(max_seen > 1000); /* the ceiling grows: jitter spreads up to it */
  assert_int_equal(ts_s3_status(403, 0), TC_EPERMISSION_DENIED);
  assert_int_equal(ts_s3_status(404, 0), TC_ENOT_FOUND);
  assert_int_equal(ts_s3_status(503, 0), TC_EUNAVAILABLE);
  assert_int_equal(ts_s3_status(0, 0), TC_EUNAVAILABLE);
  assert_int_equal(ts_s3_status(0, 1), TC_EDEADLINE_EXCEEDED);
}

static int parse(const char *xml, ts_s3_page *pg) {
  char err[256] = "";
  int rc = ts_s3_list_parse(xml, strlen(xml), pg, err, sizeof err);
  if (rc != 0) assert_true(strlen(err) > 0);
  return rc;
}

static void test_list_parse(void **state) {
  const char *xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>dG9r/+=</NextContinuationToken>"
      "<Contents><Key>p/a&amp;b &lt;c&gt; &#233;&#x65E5;.arrow</Key><LastModified>x</LastModified>"
      "<ETag>&quot;abc&quot;</ETag><Size>1234</Size></Contents>"
      "<Contents><Key>p/z.arrow</Key><ETag>\"d\"</ETag><Size>0</Size><Owner><ID>x</ID></Owner></Contents>"
      "</ListBucketResult>";
  ts_s3_page pg;
  assert_int_equal(parse(xml, &pg), 0);
  assert_int_equal(pg.n, 2);
  assert_string_equal(pg.objects[0].key, "p/a&b <c> \xc3\xa9\xe6\x97\xa5.arrow");
  assert_string_equal(pg.objects[0].etag, "\"abc\"");
  assert_int_equal(pg.objects[0].size, 1234);
  assert_string_equal(pg.objects[1].key, "p/z.arrow");
  assert_int_equal(pg.objects[1].size, 0);
  assert_true(pg.truncated);
  assert_string_equal(pg.next_token, "dG9r/+=");
  ts_s3_page_free(&pg);

  assert_int_equal(parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", &pg), 0);
  assert_int_equal(pg.n, 0);
  assert_false(pg.truncated);
  assert_null(pg.next_token);
  ts_s3_page_free(&pg);
}

static void test_list_parse_hostile(void **state) {
  const char *bad[] = {
      "",
      "<Error><Code>AccessDenied</Code></Error>",
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>",                 /* unclosed */
      "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", /* no size */
      "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#10;b</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#1114112;</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&amp</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a\nb</Key><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
      "<ListBucketResult xmlns=\"x\"><Contents><Key>a</Key><Size>1</Size></Contents>",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ts_s3_page pg;
    if (parse(bad[i], &pg) != -1) fail_msg("accepted: %s", bad[i]);
    assert_int_equal(pg.n, 0);
    assert_null(pg.objects);
  }
  /* A NUL inside the bytes. */
  const char nul[] = "<ListBucketResult>\0</ListBucketResult>";
  ts_s3_page pg;
  char err[128];
  assert_int_equal(ts_s3_list_parse(nul, sizeof nul - 1, &pg, err, sizeof err), -1);
  /* Every prefix of a good answer: never a crash, and either an error or a consistent page. */
  const char *good = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k&amp;</Key>"
                     "<ETag>\"e\"</ETag><Size>5</Size></Contents></ListBucketResult>";
  for (size_t n = 0; n <= strlen(good); n++) {
    char *copy = malloc(n + 1);
    memcpy(copy, good, n);
    if (ts_s3_list_parse(copy, n, &pg, err, sizeof err) == 0) ts_s3_page_free(&pg);
    free(copy);
  }
}

/* Random adds, checked after each against a map of bytes: has, missing, bytes, and the invariants (sorted,
 * disjoint, never touching). */

/* R is sorted, disjoint and non-adjacent, and holds as many bytes as MODEL (a byte map of N) marks. */
static void check_model(const ts_ranges *r, const unsigned char *model, int n) {
  int64_t total = 0;
  for (int i = 0; i < n; i++) total += model[i];
  assert_int_equal(ts_ranges_bytes(r), total);
  for (size_t i = 0; i < r->n; i++) {
    assert_true(r->v[i].start < r->v[i].end);
    if (i) assert_true(r->v[i - 1].end < r->v[i].start);
  }
}
static void test_ranges(void **state) {
  enum { N = 200 };
  unsigned char model[N];
  ts_ranges r = {0};
  memset(model, 0, sizeof model);
  uint64_t rng = 12345;
  for (int step = 0; step < 400; step++) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t a = (int64_t)(rng >> 33) % N, len = (int64_t)(rng >> 20) % 17;
    int64_t b = a + len > N ? N : a + len;
    assert_int_equal(ts_ranges_add(&r, a, b), 0);
    memset(model + a, 1, (size_t)(b - a));
    check_model(&r, model, N);
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t s = (int64_t)(rng >> 33) % N, e = s + (int64_t)(rng >> 20) % 40;
    if (e > N) e = N;
    int want = 1;
    for (int64_t i = s; i < e; i++) want &= model[i];
    assert_int_equal(ts_ranges_has(&r, s, e), want);
    ts_ranges miss = {0};
    assert_int_equal(ts_ranges_missing(&r, s, e, &miss), 0);
    unsigned char seen[N] = {0};
    for (size_t i = 0; i < miss.n; i++) {
      assert_true(miss.v[i].start >= s && miss.v[i].end <= e && miss.v[i].start < miss.v[i].end);
      if (i) assert_true(miss.v[i - 1].end < miss.v[i].start);
      memset(seen + miss.v[i].start, 1, (size_t)(miss.v[i].end - miss.v[i].start));
    }
    for (int64_t i = s; i < e; i++) assert_int_equal(seen[i], !model[i]);
    ts_ranges_free(&miss);
  }
  assert_true(ts_ranges_has(&r, 5, 5)); /* empty spans are always there */
  ts_ranges_free(&r);
}

/* Random adds and removes against a map of bytes: the bytes, the invariants, and what is left at each byte. */
static void test_ranges_remove(void **state) {
  enum { N = 300 };
  unsigned char model[N] = {0};
  ts_ranges r = {0};
  uint64_t rng = 777;
  for (int step = 0; step < 2000; step++) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t a = (int64_t)(rng >> 33) % N, len = (int64_t)(rng >> 20) % 31;
    int64_t b = a + len > N ? N : a + len;
    int add = (rng >> 10) % 5 < 3;
    assert_int_equal(add ? ts_ranges_add(&r, a, b) : ts_ranges_remove(&r, a, b), 0);
    memset(model + a, add, (size_t)(b - a));
    check_model(&r, model, N);
    for (int64_t i = 0; i < N; i++) assert_int_equal(ts_ranges_has(&r, i, i + 1), model[i]);
  }
  /* A span split in two, an empty removal, a removal of what is not there. */
  ts_ranges_free(&r);
  assert_int_equal(ts_ranges_add(&r, 10, 20), 0);
  assert_int_equal(ts_ranges_remove(&r, 12, 15), 0);
  assert_int_equal(r.n, 2);
  assert_true(r.v[0].start == 10 && r.v[0].end == 12 && r.v[1].start == 15 && r.v[1].end == 20);
  assert_int_equal(ts_ranges_remove(&r, 13, 13), 0);
  assert_int_equal(ts_ranges_remove(&r, 12, 15), 0);
  assert_int_equal(ts_ranges_bytes(&r), 7);
  assert_int_equal(ts_ranges_remove(&r, 0, 100), 0);
  assert_int_equal(r.n, 0);
  ts_ranges_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_url),     cmocka_unit_test(test_encode_and_query),
      cmocka_unit_test(test_content_range), cmocka_unit_test(test_retry_policy),
      cmocka_unit_test(test_list_parse),    cmocka_unit_test(test_list_parse_hostile),
      cmocka_unit_test(test_ranges),        cmocka_unit_test(test_ranges_remove),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
