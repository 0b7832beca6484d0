/* tablecar CLI: what its files share (client/cli/). The command-line client of the sidecar, over libtablecar
 * (include/tablecar.h):
 *
 *   tablecar [--target T] [--timeout SECONDS] [--json] COMMAND ...     (tablecar --help for the commands)
 *
 * Output is for a person by default (aligned tables, long values cut short) and, with --json, one compact
 * JSON document per command for scripts (every value, nothing cut). Errors are one line on stderr,
 * "tablecar: STATUS: message"; the exit code is 0, 1 (the call failed, or health is not SERVING) or 2
 * (usage). Everything a command prints is built in memory first, so a failure never leaves half a document
 * on stdout. No global mutable state: the parsed arguments travel in a `cli` struct.
 *
 * The files, as curl's src/tool_*.c: buf.c (memory, strings, UTF-8 width, JSON, aligned tables), values.c (types
 * and cell values), render.c (batches, schemas, tables, permutations), args.c (arguments), commands.c (the
 * commands), main.c (command table, help, main). What crosses files has the prefix cli_. */
#ifndef TC_CLI_H
#define TC_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "tablecar.h"

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_TARGET "unix:/tmp/tablecar.sock"
#define DEFAULT_TIMEOUT_MS 10000 /* a person waits this long for a sidecar that is down or restarting */
#define CELL_MAX 60              /* readable output: display width of one cell at most */
#define ITEMS_MAX 8              /* readable output: items shown of a list */
#define TENSOR_ITEMS_MAX 6       /* readable output: values shown of a fixed-shape tensor */
#define TEXT_MAX 40              /* readable output: bytes shown of a string or binary value */

/* ------------------------------------------------------------------------------------------------------ */
/* buf.c: memory, strings, JSON, aligned tables. A CLI has nothing to save when memory runs out: the
 * functions that allocate say so and exit. */

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

void *cli_xrealloc(void *p, size_t n);
void cli_sb_putn(sbuf *b, const char *s, size_t n);
void cli_sb_puts(sbuf *b, const char *s);
void cli_sb_putc(sbuf *b, char c);
__attribute__((format(printf, 2, 3))) void cli_sb_printf(sbuf *b, const char *fmt, ...);
char *cli_sb_take(sbuf *b);
size_t cli_utf8_seq(const uint8_t *p, size_t n);
void cli_cut_display(char *s, size_t max);

void cli_json_str(sbuf *b, const char *s, size_t n);
void cli_json_cstr(sbuf *b, const char *s);
void cli_json_key(sbuf *b, const char *key, int first);
void cli_json_kv_object(sbuf *b, const tc_kv *kv, size_t n);
void cli_json_str_array(sbuf *b, const char *const *v, size_t n);
void cli_base64(sbuf *b, const uint8_t *p, size_t n);

typedef struct grid {
  size_t ncols, n; /* n cells so far, row-major */
  char **cells;
  unsigned right_mask; /* bit c: right-align column c (numbers) */
  const char *indent;
} grid;

void cli_grid_add(grid *g, char *owned);
__attribute__((format(printf, 2, 3))) void cli_grid_addf(grid *g, const char *fmt, ...);
void cli_grid_print(grid *g, sbuf *out);

/* ------------------------------------------------------------------------------------------------------ */
/* values.c: types spelled as Arrow does, and cell values */

typedef struct style {
  int json;
  size_t max_items; /* of a list */
  size_t max_text;  /* bytes of a string or binary */
} style;

extern const style cli_style_json, cli_style_human;

const char *cli_simple_type_name(int type);
char *cli_type_string(const tc_field *f);
void cli_put_float(sbuf *b, double v, int is_f32, const style *st);
void cli_put_text_human(sbuf *b, const uint8_t *p, size_t n, const style *st);
void cli_put_value(sbuf *b, const tc_column *c, int64_t i, const style *st);
int cli_is_numeric(int type);

/* ------------------------------------------------------------------------------------------------------ */
/* render.c: the documents of the commands, as JSON or for a person */

void cli_batch_human(sbuf *out, const tc_batch *b);
void cli_batch_json(sbuf *out, const tc_batch *b, int with_offset);
void cli_describe_json(sbuf *out, const tc_table_info *t);
void cli_describe_human(sbuf *out, const tc_table_info *t);
void cli_perm_json(sbuf *out, const tc_permutation_info *p);
void cli_perm_human(sbuf *out, const tc_permutation_info *p);

/* ------------------------------------------------------------------------------------------------------ */
/* args.c: arguments. The parsers print a usage error and return EXIT_USAGE, or return 0. */

enum opt_id {
  OPT_TARGET,
  OPT_TIMEOUT,
  OPT_JSON,
  OPT_HELP,
  OPT_VERSION, /* global */
  OPT_COLUMNS,
  OPT_SHUFFLE,
  OPT_CLUMP,
  OPT_SPLIT,
  OPT_RATIOS,
  OPT_COUNTS,
  OPT_PARTS,
  OPT_SPLIT_SEED,
  OPT_HASH_COLUMNS,
  OPT_WEIGHTS,
  OPT_NAMES,
  OPT_COUNT
};

/* Which commands take an option. */
enum { FOR_ALL = 1, FOR_COLUMNS = 2, FOR_PERM = 4 };

typedef struct opt_def {
  const char *name;
  int has_value;
  unsigned where;
} opt_def;

typedef struct cli {
  const char *opt[OPT_COUNT]; /* value, "" for a flag, NULL when absent */
  char **pos;                 /* the arguments that are not options, command words included */
  int npos;
  int json;
} cli;

/* A comma-separated list, split in place in a copy. */
typedef struct strlist {
  char *buf;
  char **v;
  size_t n;
} strlist;

extern const opt_def cli_opts[OPT_COUNT];

__attribute__((format(printf, 1, 2))) int cli_usage_error(const char *fmt, ...);
int cli_parse_args(cli *a, int argc, char **argv);
int cli_parse_i64(const char *s, const char *what, int64_t *out);
int cli_parse_u64(const char *s, const char *what, uint64_t *out);
int cli_parse_f64(const char *s, const char *what, double *out);
void cli_strlist_free(strlist *l);
int cli_split_list(const char *s, const char *what, strlist *l);
int cli_parse_i64_list(const char *s, const char *what, int64_t **out, size_t *n);
int cli_parse_f64_list(const char *s, const char *what, double **out, size_t *n);

/* ------------------------------------------------------------------------------------------------------ */
/* commands.c: the commands. Each returns the exit code. */

int cli_cmd_ls(tc_client *c, const cli *a);
int cli_cmd_describe(tc_client *c, const cli *a);
int cli_cmd_take(tc_client *c, const cli *a);
int cli_cmd_read(tc_client *c, const cli *a);
int cli_cmd_perm_create(tc_client *c, const cli *a);
int cli_cmd_perm_describe(tc_client *c, const cli *a);
int cli_cmd_health(tc_client *c, const cli *a);

#endif
