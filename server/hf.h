/* hf.h: Hugging Face `datasets` folder layouts, so a data dir holding them serves each split as a table.
 *
 *  - Dataset.save_to_disk: a folder with state.json (listing its data files, in order, under "_data_files")
 *    and data-0000i-of-0000N.arrow files. The folder is one table, its files in state.json's order. A
 *    DatasetDict is a folder of such folders (train/, test/, ...), so its splits are tables "NAME/train"...
 *  - The datasets cache: a versioned folder with dataset_info.json (no state.json) and files
 *    BUILDER-SPLIT.arrow or BUILDER-SPLIT-0000i-of-0000N.arrow. Each split is a table "FOLDER/SPLIT".
 *  - Anything else is not a Hugging Face layout: the folder is one table of its Arrow files in name order.
 */
#ifndef TS_HF_H
#define TS_HF_H

#include <stddef.h>

typedef struct ts_hf_table {
  char *suffix; /* NULL: the folder itself is the table; else the split's name, for "FOLDER/SPLIT" */
  char **files; /* file names in row order (no directory part) */
  size_t n_files;
} ts_hf_table;

/* The tables of the folder DIR, whose Arrow file names (sorted) are NAMES. Returns the number of tables in
 * *out (free with ts_hf_free), 0 when DIR is not a Hugging Face layout, -1 when out of memory. */
int ts_hf_tables(const char *dir, char *const *names, size_t n, ts_hf_table **out);
void ts_hf_free(ts_hf_table *t, int n);

/* The string values of every "KEY": "..." pair in JSON text, in order (a small scanner for the flat files
 * datasets writes; not a general JSON parser). Returns how many, or -1 when out of memory. */
int ts_json_strings(const char *json, const char *key, char ***out);

#endif
