/* h2_calls.h: the calls fuzz_h2 makes, and record_h2 recorded the server's answers to (one per selector).
 * Each call runs to its end through the public API, whatever the peer sends. */
#ifndef TC_FUZZ_H2_CALLS_H
#define TC_FUZZ_H2_CALLS_H

#include <stdint.h>
#include <stdlib.h>

#include "tablecar.h"

enum { H2_N_CALLS = 7 };

/* PERM: the id of a permutation of "ex" (record_h2 makes one on its real server; fuzz_h2 sends any). */
static void h2_call(tc_client *cl, int sel, const tc_call_opts *co, const char *perm) {
  switch (sel % H2_N_CALLS) {
  case 0: {
    tc_table_list *l = NULL;
    if (tc_list_tables(cl, co, &l) == TC_OK) tc_table_list_free(l);
    break;
  }
  case 1: {
    tc_table_info *t = NULL;
    if (tc_describe_table(cl, "ex", co, &t) == TC_OK) tc_table_info_free(t);
    break;
  }
  case 2: {
    static const int64_t rows[] = {5, 0, 299, 64};
    tc_take_rows_req r = {.table = "ex", .indices = rows, .n_indices = 4};
    tc_batch *b = NULL;
    if (tc_take_rows(cl, &r, co, &b) == TC_OK) tc_batch_free(b);
    break;
  }
  case 3: {
    tc_permutation_spec s = {0};
    s.table = "ex";
    tc_permutation_info *p = NULL;
    if (tc_create_permutation(cl, &s, co, &p) == TC_OK) tc_permutation_info_free(p);
    break;
  }
  case 4: {
    tc_read_batch_req r = {.permutation = perm, .split = "0", .offset = 10, .batch_size = 20};
    tc_batch *b = NULL;
    if (tc_read_batch(cl, &r, co, &b) == TC_OK) tc_batch_free(b);
    break;
  }
  case 5: {
    tc_stream_req r = {.permutation = perm, .split = "0", .batch_size = 64};
    tc_stream *s = NULL;
    if (tc_stream_batches(cl, &r, co, &s) == TC_OK) {
      tc_batch *b;
      for (int i = 0; i < 16 && tc_stream_next(s, &b) == TC_OK && b; i++) tc_batch_free(b);
      tc_stream_free(s);
    }
    break;
  }
  case 6: {
    int st;
    (void)tc_health_check(cl, "", co, &st);
    break;
  }
  }
}

#endif
