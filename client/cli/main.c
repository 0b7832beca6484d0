/* tablecar CLI: the command table, help, and main. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Command table and help */

static const char kHelp[] =
    "usage: tablecar [--target T] [--timeout SECONDS] [--json] COMMAND ...\n"
    "The command-line client of the tablecar sidecar (tablecar-server).\n"
    "\n"
    "commands:\n"
    "  ls                          tables: name, rows, bytes, version\n"
    "  describe TABLE              rows, version, files and schema of a table\n"
    "  take TABLE INDEX...         rows by global index (indices: arguments or lists like 1,5,9)\n"
    "  perm create TABLE ...       create a permutation (shuffle, splits); prints its id and splits\n"
    "  perm describe ID            a permutation's table, splits and spec\n"
    "  read ID SPLIT OFFSET N      rows [OFFSET, OFFSET+N) of a split (by name, or index) of a permutation\n"
    "  health [SERVICE]            SERVING, NOT_SERVING...; exit 0 only when SERVING (for a HEALTHCHECK)\n"
    "  help [COMMAND]              this text, or a command's\n"
    "\n"
    "options (anywhere on the line):\n"
    "  --target T        unix:PATH, unix-abstract:NAME or HOST:PORT\n"
    "                    (default: $TABLECAR_TARGET, else " DEFAULT_TARGET ")\n"
    "  --timeout S       deadline of the call in seconds (default 10); while the sidecar is down or\n"
    "                    restarting, the call is retried until then (health: never retried)\n"
    "  --json            print one JSON document (see below) instead of text for a person\n"
    "  --help, --version\n"
    "\n"
    "Text output is for a person: values are cut short (strings, lists; a fixed-shape tensor shows as\n"
    "its type and shape plus its first values, e.g. uint8[3,8,8] [0, 31, …]), null is null.\n"
    "JSON output is complete: one object per command, rows as objects {column: value} with the row ids\n"
    "in a separate \"row_ids\" array; integers (int64, uint64) as JSON numbers, exactly; floats as the\n"
    "shortest decimal that reads back exactly, NaN and infinities as the strings \"NaN\", \"Infinity\",\n"
    "\"-Infinity\"; strings as JSON strings (invalid UTF-8 as U+FFFD); binary values as base64 strings;\n"
    "dates and timestamps as their stored integers (days, ms, or the unit of the schema); lists as\n"
    "arrays (nested for fixed-size lists); structs as objects.\n"
    "\n"
    "exit status: 0 ok, 1 the call failed (one line on stderr: \"tablecar: STATUS: message\") or health is\n"
    "not SERVING, 2 bad usage.\n";

static const char kHelpPermCreate[] =
    "usage: tablecar perm create TABLE [--shuffle SEED [--clump N]] [SPLIT] [--names A,B,...]\n"
    "Creates (or finds: the same table version and spec give the same id) a permutation of TABLE.\n"
    "\n"
    "order:\n"
    "  --shuffle SEED      shuffle the rows with this seed (unsigned 64-bit; default: table order)\n"
    "  --clump N           shuffle runs of N consecutive rows instead of single rows (read locality)\n"
    "SPLIT, at most one (default: one split \"0\" of every row):\n"
    "  --split random     --ratios R,R,...|--counts N,N,...|--parts N  [--split-seed S]\n"
    "  --split sequential --ratios R,R,...|--counts N,N,...|--parts N\n"
    "  --split hash       --hash-columns A,B,... --weights W,W,...\n"
    "      ratios are fractions summing to at most 1 (e.g. 0.8,0.1,0.1), counts are rows, --parts N makes\n"
    "      N equal parts; rows left over belong to no split. A hash split puts a row in a split by a hash\n"
    "      of its values in the columns, weighted: it keeps its split when rows are appended.\n"
    "  --names A,B,...     the splits' names (default 0, 1, ...)\n"
    "\n"
    "example: tablecar perm create squad/train --shuffle 42 --split random --ratios 0.9,0.1 --names train,val\n";

typedef int (*cmd_fn)(tc_client *, const cli *);

typedef struct command {
  const char *name, *sub; /* "perm" "create"; sub NULL for one word */
  cmd_fn run;
  int min_args, max_args; /* after the command words; -1: any number */
  unsigned opts;          /* FOR_* besides FOR_ALL */
  const char *usage;
} command;

static const command kCommands[] = {
    {"ls", NULL, cli_cmd_ls, 0, 0, 0, "usage: tablecar ls\nLists the tables: name, rows, bytes on disk, version.\n"},
    {"describe", NULL, cli_cmd_describe, 1, 1, 0,
     "usage: tablecar describe TABLE\nA table's rows, bytes, version, files and schema (types spelled like Arrow's,\n"
     "e.g. fixed_size_list<uint8>[3,8,8] for a chain of fixed-size lists of shape [3,8,8]).\n"},
    {"take", NULL, cli_cmd_take, 2, -1, FOR_COLUMNS,
     "usage: tablecar take TABLE INDEX... [--columns A,B,...]\nRows by global index (0 .. rows-1), in the order "
     "given; indices are arguments or comma-separated\nlists. --columns: only these columns.\n"},
    {"perm", "create", cli_cmd_perm_create, 1, 1, FOR_PERM, kHelpPermCreate},
    {"perm", "describe", cli_cmd_perm_describe, 1, 1, 0,
     "usage: tablecar perm describe ID\nA permutation's table, splits (names, rows) and spec.\n"},
    {"read", NULL, cli_cmd_read, 4, 4, FOR_COLUMNS,
     "usage: tablecar read ID SPLIT OFFSET N [--columns A,B,...]\nRows [OFFSET, OFFSET+N) of split SPLIT (a name, "
     "or an index in decimal) of permutation ID\n(fewer at the end of the split). --columns: only these columns.\n"},
    {"health", NULL, cli_cmd_health, 0, 1, 0,
     "usage: tablecar health [SERVICE]\ngrpc.health.v1 Check of the server (or of SERVICE, e.g. "
     "tablecar.v1.Tablecar): prints SERVING,\nNOT_SERVING...; exits 0 only when SERVING. Not retried: use it as a "
     "container HEALTHCHECK.\n"},
};

/* The command named by the first words of pos; NULL if none. *words: how many words it took. */
static const command *find_command(const cli *a, int *words) {
  for (size_t i = 0; i < sizeof kCommands / sizeof *kCommands; i++) {
    const command *c = &kCommands[i];
    if (a->npos < 1 || strcmp(a->pos[0], c->name)) continue;
    if (!c->sub) return *words = 1, c;
    if (a->npos >= 2 && !strcmp(a->pos[1], c->sub)) return *words = 2, c;
  }
  return NULL;
}

static int check_command(const cli *a, const command *c, int words) {
  int nargs = a->npos - words;
  const char *name = c->sub ? "perm " : "";
  if (nargs < c->min_args || (c->max_args >= 0 && nargs > c->max_args))
    return cli_usage_error("wrong number of arguments to '%s%s'", name, c->sub ? c->sub : c->name);
  for (int i = 0; i < OPT_COUNT; i++)
    if (a->opt[i] && cli_opts[i].where != FOR_ALL && !(cli_opts[i].where & c->opts))
      return cli_usage_error("--%s is not an option of '%s%s'", cli_opts[i].name, name, c->sub ? c->sub : c->name);
  return 0;
}

/* help, help COMMAND, COMMAND --help. */
static int help(const cli *a) {
  cli sub = *a;
  if (a->npos && !strcmp(a->pos[0], "help")) sub.pos++, sub.npos--;
  int words;
  const command *c = find_command(&sub, &words);
  if (sub.npos && !c && strcmp(sub.pos[0], "perm")) return cli_usage_error("unknown command '%s'", sub.pos[0]);
  fputs(c ? c->usage : kHelp, stdout);
  return 0;
}

static int make_client(const cli *a, tc_client **c) {
  tc_options o;
  tc_options_init(&o);
  o.timeout_ms = DEFAULT_TIMEOUT_MS;
  if (a->opt[OPT_TIMEOUT]) {
    double s = 0;
    if (cli_parse_f64(a->opt[OPT_TIMEOUT], "--timeout", &s)) return EXIT_USAGE;
    if (s <= 0 || s > 1e9)
      return cli_usage_error("--timeout: '%s' is not a positive number of seconds", a->opt[OPT_TIMEOUT]);
    o.timeout_ms = (int64_t)ceil(s * 1000);
  }
  const char *target = a->opt[OPT_TARGET];
  if (!target) target = getenv("TABLECAR_TARGET");
  if (!target || !*target) target = DEFAULT_TARGET;
  int rc = tc_client_new(target, &o, c);
  if (rc == TC_EINVAL) return cli_usage_error("%s", tc_last_error(NULL)); /* "bad target "x": why" */
  if (rc) return fprintf(stderr, "tablecar: %s: %s\n", tc_strerror(rc), tc_last_error(NULL)), EXIT_FAIL;
  return 0;
}

static int run(const cli *a) {
  if (a->opt[OPT_VERSION]) {
    printf("tablecar %d.%d.%d\n", TC_VERSION_MAJOR, TC_VERSION_MINOR, TC_VERSION_PATCH);
    return 0;
  }
  if (a->opt[OPT_HELP] || !a->npos || !strcmp(a->pos[0], "help")) return help(a);
  int words;
  const command *cmd = find_command(a, &words);
  if (!cmd && !strcmp(a->pos[0], "perm")) return cli_usage_error("perm takes create or describe");
  if (!cmd) return cli_usage_error("unknown command '%s'", a->pos[0]);
  int rc = check_command(a, cmd, words);
  tc_client *c = NULL;
  if (!rc) rc = make_client(a, &c);
  if (!rc) rc = cmd->run(c, a);
  tc_client_free(c);
  return rc;
}

int main(int argc, char **argv) {
  cli a;
  int rc = cli_parse_args(&a, argc, argv);
  if (!rc) rc = run(&a);
  free(a.pos);
  return rc;
}
