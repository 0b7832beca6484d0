/* tablecar CLI: arguments (options anywhere on the line, numbers, comma-separated lists). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const opt_def cli_opts[OPT_COUNT] = {
    [OPT_TARGET] = {"target", 1, FOR_ALL},
    [OPT_TIMEOUT] = {"timeout", 1, FOR_ALL},
    [OPT_JSON] = {"json", 0, FOR_ALL},
    [OPT_HELP] = {"help", 0, FOR_ALL},
    [OPT_VERSION] = {"version", 0, FOR_ALL},
    [OPT_COLUMNS] = {"columns", 1, FOR_COLUMNS},
    [OPT_SHUFFLE] = {"shuffle", 1, FOR_PERM},
    [OPT_CLUMP] = {"clump", 1, FOR_PERM},
    [OPT_SPLIT] = {"split", 1, FOR_PERM},
    [OPT_RATIOS] = {"ratios", 1, FOR_PERM},
    [OPT_COUNTS] = {"counts", 1, FOR_PERM},
    [OPT_PARTS] = {"parts", 1, FOR_PERM},
    [OPT_SPLIT_SEED] = {"split-seed", 1, FOR_PERM},
    [OPT_HASH_COLUMNS] = {"hash-columns", 1, FOR_PERM},
    [OPT_WEIGHTS] = {"weights", 1, FOR_PERM},
    [OPT_NAMES] = {"names", 1, FOR_PERM},
};

__attribute__((format(printf, 1, 2))) int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tablecar: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see tablecar --help)\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

static int find_opt(const char *name, size_t len) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (strlen(cli_opts[i].name) == len && !strncmp(cli_opts[i].name, name, len)) return i;
  return -1;
}

/* Is a a negative number (an argument, not an option)? */
static int is_negative_number(const char *a) { return a[0] == '-' && a[1] >= '0' && a[1] <= '9'; }

/* One option at argv[*i] (--name, --name=value or --name value). Returns 0 or EXIT_USAGE. */
static int parse_option(cli *a, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  if (!strcmp(arg, "-h")) arg = "--help";
  if (strncmp(arg, "--", 2) != 0) return cli_usage_error("unknown option '%s'", arg);
  const char *name = arg + 2, *eq = strchr(name, '=');
  int id = find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
  if (id < 0) return cli_usage_error("unknown option '%s'", arg);
  const char *value = "";
  if (cli_opts[id].has_value) {
    if (eq)
      value = eq + 1;
    else if (*i + 1 < argc)
      value = argv[++*i];
    else
      return cli_usage_error("--%s needs a value", cli_opts[id].name);
  } else if (eq) {
    return cli_usage_error("--%s takes no value", cli_opts[id].name);
  }
  if (a->opt[id] && id != OPT_HELP && id != OPT_JSON) return cli_usage_error("--%s given twice", cli_opts[id].name);
  a->opt[id] = value;
  return 0;
}

/* Options may come before or after the command words; "--" ends them. */
int cli_parse_args(cli *a, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  a->pos = cli_xrealloc(NULL, (size_t)argc * sizeof *a->pos);
  int only_args = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!only_args && !strcmp(arg, "--"))
      only_args = 1;
    else if (!only_args && arg[0] == '-' && arg[1] && !is_negative_number(arg)) {
      if (parse_option(a, argc, argv, &i)) return EXIT_USAGE;
    } else
      a->pos[a->npos++] = argv[i];
  }
  a->json = a->opt[OPT_JSON] != NULL;
  return 0;
}

int cli_parse_i64(const char *s, const char *what, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return cli_usage_error("%s: '%s' is not an integer", what, s);
  *out = v;
  return 0;
}

int cli_parse_u64(const char *s, const char *what, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0); /* decimal, or 0x… */
  if (errno || end == s || *end || s[strspn(s, " ")] == '-')
    return cli_usage_error("%s: '%s' is not an unsigned integer", what, s);
  *out = v;
  return 0;
}

int cli_parse_f64(const char *s, const char *what, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return cli_usage_error("%s: '%s' is not a number", what, s);
  *out = v;
  return 0;
}

void cli_strlist_free(strlist *l) {
  free(l->buf);
  free(l->v);
  *l = (strlist){0};
}

int cli_split_list(const char *s, const char *what, strlist *l) {
  *l = (strlist){0};
  if (!s) return 0;
  size_t len = strlen(s);
  l->buf = cli_xrealloc(NULL, len + 1);
  memcpy(l->buf, s, len + 1);
  l->v = cli_xrealloc(NULL, (len / 2 + 1) * sizeof *l->v);
  for (char *p = l->buf, *comma;; p = comma + 1) {
    comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      cli_strlist_free(l);
      return cli_usage_error("%s: empty item in '%s'", what, s);
    }
    l->v[l->n++] = p;
    if (!comma) return 0;
  }
}

int cli_parse_i64_list(const char *s, const char *what, int64_t **out, size_t *n) {
  strlist l;
  *out = NULL;
  *n = 0;
  if (cli_split_list(s, what, &l)) return EXIT_USAGE;
  *out = cli_xrealloc(NULL, (l.n ? l.n : 1) * sizeof **out);
  int rc = 0;
  for (size_t i = 0; i < l.n && !rc; i++) rc = cli_parse_i64(l.v[i], what, &(*out)[i]);
  *n = l.n;
  cli_strlist_free(&l);
  return rc;
}

int cli_parse_f64_list(const char *s, const char *what, double **out, size_t *n) {
  strlist l;
  *out = NULL;
  *n = 0;
  if (cli_split_list(s, what, &l)) return EXIT_USAGE;
  *out = cli_xrealloc(NULL, (l.n ? l.n : 1) * sizeof **out);
  int rc = 0;
  for (size_t i = 0; i < l.n && !rc; i++) rc = cli_parse_f64(l.v[i], what, &(*out)[i]);
  *n = l.n;
  cli_strlist_free(&l);
  return rc;
}
