/* tablecar CLI: the commands, one call of libtablecar each, the document built in memory, then printed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One line for a failed call: "tablecar: NOT_FOUND: no table named 'x'". */
static int call_failed(tc_client *c, int rc) {
  const char *msg = tc_last_error(c);
  if (*msg && strcmp(msg, tc_strerror(rc)))
    fprintf(stderr, "tablecar: %s: %s\n", tc_strerror(rc), msg);
  else
    fprintf(stderr, "tablecar: %s\n", tc_strerror(rc));
  return EXIT_FAIL;
}

/* Writes the document; a failed write (a full disk, a closed pipe) is an error too. */
static int emit(sbuf *out) {
  int bad = out->len && fwrite(out->p, 1, out->len, stdout) != out->len;
  free(out->p);
  *out = (sbuf){0};
  if (fflush(stdout) || bad) {
    fprintf(stderr, "tablecar: writing the output: %s\n", strerror(errno));
    return EXIT_FAIL;
  }
  return 0;
}

int cli_cmd_ls(tc_client *c, const cli *a) {
  tc_table_list *l;
  int rc = tc_list_tables(c, NULL, &l);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) {
    cli_sb_puts(&out, "{\"tables\":[");
    for (size_t i = 0; i < l->n_tables; i++) {
      const tc_table_info *t = &l->tables[i];
      cli_sb_puts(&out, i ? ",{\"name\":" : "{\"name\":");
      cli_json_cstr(&out, t->name);
      cli_sb_printf(&out, ",\"num_rows\":%" PRId64 ",\"num_bytes\":%" PRId64 ",\"version\":", t->num_rows,
                    t->num_bytes);
      cli_json_cstr(&out, t->version);
      cli_sb_putc(&out, '}');
    }
    cli_sb_puts(&out, "]}\n");
  } else {
    grid g = {.ncols = 4, .right_mask = 6};
    cli_grid_addf(&g, "NAME");
    cli_grid_addf(&g, "ROWS");
    cli_grid_addf(&g, "BYTES");
    cli_grid_addf(&g, "VERSION");
    for (size_t i = 0; i < l->n_tables; i++) {
      const tc_table_info *t = &l->tables[i];
      cli_grid_addf(&g, "%s", t->name);
      cli_grid_addf(&g, "%" PRId64, t->num_rows);
      cli_grid_addf(&g, "%" PRId64, t->num_bytes);
      cli_grid_addf(&g, "%s", t->version);
    }
    cli_grid_print(&g, &out);
  }
  tc_table_list_free(l);
  return emit(&out);
}

int cli_cmd_describe(tc_client *c, const cli *a) {
  tc_table_info *t;
  int rc = tc_describe_table(c, a->pos[1], NULL, &t);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json)
    cli_describe_json(&out, t);
  else
    cli_describe_human(&out, t);
  tc_table_info_free(t);
  return emit(&out);
}

static int print_batch(tc_client *c, int rc, tc_batch *b, const cli *a, int with_offset) {
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json)
    cli_batch_json(&out, b, with_offset);
  else
    cli_batch_human(&out, b);
  tc_batch_free(b);
  return emit(&out);
}

/* Indices are arguments, each one or a comma-separated list of them. */
static int parse_indices(const cli *a, int first, int64_t **idx, size_t *n) {
  *idx = NULL;
  *n = 0;
  for (int i = first; i < a->npos; i++) {
    int64_t *part;
    size_t k;
    if (cli_parse_i64_list(a->pos[i], "index", &part, &k)) {
      free(part);
      return EXIT_USAGE;
    }
    *idx = cli_xrealloc(*idx, (*n + k) * sizeof **idx);
    memcpy(*idx + *n, part, k * sizeof *part);
    *n += k;
    free(part);
  }
  return 0;
}

int cli_cmd_take(tc_client *c, const cli *a) {
  strlist cols;
  int64_t *idx;
  size_t n;
  if (parse_indices(a, 2, &idx, &n)) return EXIT_USAGE;
  if (cli_split_list(a->opt[OPT_COLUMNS], "--columns", &cols)) {
    free(idx);
    return EXIT_USAGE;
  }
  tc_take_rows_req req = {
      .table = a->pos[1], .indices = idx, .n_indices = n, .columns = (const char *const *)cols.v, .n_columns = cols.n};
  tc_batch *b;
  int rc = tc_take_rows(c, &req, NULL, &b);
  free(idx);
  cli_strlist_free(&cols);
  return print_batch(c, rc, b, a, 0);
}

int cli_cmd_read(tc_client *c, const cli *a) {
  tc_read_batch_req req = {.permutation = a->pos[1], .split = a->pos[2]};
  if (cli_parse_i64(a->pos[3], "OFFSET", &req.offset) || cli_parse_i64(a->pos[4], "N", &req.batch_size))
    return EXIT_USAGE;
  strlist cols;
  if (cli_split_list(a->opt[OPT_COLUMNS], "--columns", &cols)) return EXIT_USAGE;
  req.columns = (const char *const *)cols.v;
  req.n_columns = cols.n;
  tc_batch *b;
  int rc = tc_read_batch(c, &req, NULL, &b);
  cli_strlist_free(&cols);
  return print_batch(c, rc, b, a, 1);
}

static int print_perm(tc_client *c, int rc, tc_permutation_info *p, const cli *a) {
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json)
    cli_perm_json(&out, p);
  else
    cli_perm_human(&out, p);
  tc_permutation_info_free(p);
  return emit(&out);
}

/* The arrays a spec points to, owned here. */
typedef struct spec_args {
  tc_permutation_spec spec;
  double *ratios;
  int64_t *counts, *weights;
  strlist hash_columns, names;
} spec_args;

static void spec_args_free(spec_args *s) {
  free(s->ratios);
  free(s->counts);
  free(s->weights);
  cli_strlist_free(&s->hash_columns);
  cli_strlist_free(&s->names);
}

static int parse_split_kind(const cli *a, int *kind) {
  const char *k = a->opt[OPT_SPLIT];
  int sizes = a->opt[OPT_RATIOS] || a->opt[OPT_COUNTS] || a->opt[OPT_PARTS];
  int hash = a->opt[OPT_HASH_COLUMNS] || a->opt[OPT_WEIGHTS];
  *kind = !k                         ? TC_SPLIT_NONE
          : !strcmp(k, "random")     ? TC_SPLIT_RANDOM
          : !strcmp(k, "sequential") ? TC_SPLIT_SEQUENTIAL
          : !strcmp(k, "hash")       ? TC_SPLIT_HASH
                                     : -1;
  if (*kind < 0) return cli_usage_error("--split: '%s' is not random, sequential or hash", k);
  if (*kind == TC_SPLIT_NONE && (sizes || hash || a->opt[OPT_SPLIT_SEED]))
    return cli_usage_error("say which split: --split random, sequential or hash");
  if (*kind == TC_SPLIT_HASH && (sizes || !a->opt[OPT_HASH_COLUMNS] || !a->opt[OPT_WEIGHTS]))
    return cli_usage_error("--split hash takes --hash-columns and --weights");
  if (*kind != TC_SPLIT_HASH && *kind != TC_SPLIT_NONE && (hash || !sizes))
    return cli_usage_error("--split %s takes one of --ratios, --counts or --parts", k);
  if (*kind != TC_SPLIT_RANDOM && a->opt[OPT_SPLIT_SEED]) return cli_usage_error("--split-seed is for --split random");
  if (!!a->opt[OPT_RATIOS] + !!a->opt[OPT_COUNTS] + !!a->opt[OPT_PARTS] > 1)
    return cli_usage_error("give one of --ratios, --counts or --parts");
  return 0;
}

static int parse_sizes(const cli *a, spec_args *s) {
  tc_permutation_spec *p = &s->spec;
  int64_t parts = 0;
  if (cli_parse_f64_list(a->opt[OPT_RATIOS], "--ratios", &s->ratios, &p->n_ratios) ||
      cli_parse_i64_list(a->opt[OPT_COUNTS], "--counts", &s->counts, &p->n_counts) ||
      cli_parse_i64_list(a->opt[OPT_WEIGHTS], "--weights", &s->weights, &p->n_weights) ||
      (a->opt[OPT_PARTS] && cli_parse_i64(a->opt[OPT_PARTS], "--parts", &parts)) ||
      (a->opt[OPT_SPLIT_SEED] && cli_parse_u64(a->opt[OPT_SPLIT_SEED], "--split-seed", &p->split_seed)))
    return EXIT_USAGE;
  if (a->opt[OPT_PARTS] && (parts < 1 || parts > INT32_MAX))
    return cli_usage_error("--parts: '%s' is not 1 or more", a->opt[OPT_PARTS]);
  p->fixed = (int32_t)parts;
  p->ratios = s->ratios;
  p->counts = s->counts;
  p->weights = s->weights;
  return 0;
}

static int build_spec(const cli *a, spec_args *s) {
  tc_permutation_spec *p = &s->spec;
  p->table = a->pos[2];
  if (a->opt[OPT_CLUMP] && !a->opt[OPT_SHUFFLE]) return cli_usage_error("--clump needs --shuffle SEED");
  p->shuffle = a->opt[OPT_SHUFFLE] != NULL;
  if ((p->shuffle && cli_parse_u64(a->opt[OPT_SHUFFLE], "--shuffle", &p->shuffle_seed)) ||
      (a->opt[OPT_CLUMP] && cli_parse_i64(a->opt[OPT_CLUMP], "--clump", &p->clump_size)) ||
      parse_split_kind(a, &p->split) || parse_sizes(a, s) ||
      cli_split_list(a->opt[OPT_HASH_COLUMNS], "--hash-columns", &s->hash_columns) ||
      cli_split_list(a->opt[OPT_NAMES], "--names", &s->names))
    return EXIT_USAGE;
  p->hash_columns = (const char *const *)s->hash_columns.v;
  p->n_hash_columns = s->hash_columns.n;
  p->split_names = (const char *const *)s->names.v;
  p->n_split_names = s->names.n;
  return 0;
}

int cli_cmd_perm_create(tc_client *c, const cli *a) {
  spec_args s = {0};
  int rc = build_spec(a, &s);
  if (rc) {
    spec_args_free(&s);
    return rc;
  }
  tc_permutation_info *p;
  rc = tc_create_permutation(c, &s.spec, NULL, &p);
  spec_args_free(&s);
  return print_perm(c, rc, p, a);
}

int cli_cmd_perm_describe(tc_client *c, const cli *a) {
  tc_permutation_info *p;
  int rc = tc_describe_permutation(c, a->pos[2], NULL, &p);
  return print_perm(c, rc, p, a);
}

static const char *health_name(int st) {
  static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  return st >= 0 && st <= 3 ? names[st] : "UNKNOWN";
}

/* A probe (a container's HEALTHCHECK): no retries, so a sidecar that is down fails at once. */
int cli_cmd_health(tc_client *c, const cli *a) {
  const char *service = a->npos > 1 ? a->pos[1] : "";
  int st;
  int rc = tc_health_check(c, service, &(tc_call_opts){.no_retry = 1}, &st);
  if (rc) return call_failed(c, rc);
  sbuf out = {0};
  if (a->json) {
    cli_sb_puts(&out, "{\"service\":");
    cli_json_cstr(&out, service);
    cli_sb_printf(&out, ",\"status\":\"%s\"}\n", health_name(st));
  } else {
    cli_sb_printf(&out, "%s\n", health_name(st));
  }
  rc = emit(&out);
  return rc ? rc : st == TC_HEALTH_SERVING ? 0 : EXIT_FAIL;
}
