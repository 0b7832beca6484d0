/* tablecar CLI: the documents of the commands (batches, schemas, tables, permutations), as JSON or for a
 * person. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Batches */

void cli_batch_human(sbuf *out, const tc_batch *b) {
  if (b->num_rows == 0) {
    cli_sb_puts(out, "(no rows)\n");
    return;
  }
  grid g = {.ncols = 1 + b->n_columns, .right_mask = 1};
  cli_grid_addf(&g, "ROW");
  for (size_t c = 0; c < b->n_columns; c++) {
    cli_grid_addf(&g, "%s", b->columns[c].name);
    if (c + 1 < 32 && cli_is_numeric(b->columns[c].type)) g.right_mask |= 1u << (c + 1);
  }
  for (int64_t i = 0; i < b->num_rows; i++) {
    cli_grid_addf(&g, "%" PRId64, tc_row_id(b, i));
    for (size_t c = 0; c < b->n_columns; c++) {
      sbuf cell = {0};
      cli_put_value(&cell, &b->columns[c], i, &cli_style_human);
      char *s = cli_sb_take(&cell);
      cli_cut_display(s, CELL_MAX);
      cli_grid_add(&g, s);
    }
  }
  cli_grid_print(&g, out);
}

/* {"table":…, "version":…, ["offset":…,] "num_rows":…, "row_ids":[…], "rows":[{column: value, …}]}:
 * row ids are apart from the rows so that no column name can collide with them. */
void cli_batch_json(sbuf *out, const tc_batch *b, int with_offset) {
  cli_sb_puts(out, "{\"table\":");
  cli_json_cstr(out, b->table);
  cli_sb_puts(out, ",\"version\":");
  cli_json_cstr(out, b->version);
  if (with_offset) cli_sb_printf(out, ",\"offset\":%" PRId64, b->offset);
  cli_sb_printf(out, ",\"num_rows\":%" PRId64 ",\"row_ids\":[", b->num_rows);
  for (int64_t i = 0; i < b->num_rows; i++) cli_sb_printf(out, "%s%" PRId64, i ? "," : "", tc_row_id(b, i));
  cli_sb_puts(out, "],\"rows\":[");
  for (int64_t i = 0; i < b->num_rows; i++) {
    cli_sb_puts(out, i ? ",{" : "{");
    for (size_t c = 0; c < b->n_columns; c++) {
      cli_json_key(out, b->columns[c].name, c == 0);
      cli_put_value(out, &b->columns[c], i, &cli_style_json);
    }
    cli_sb_putc(out, '}');
  }
  cli_sb_puts(out, "]}\n");
}

/* ------------------------------------------------------------------------------------------------------ */
/* Schemas */

static void field_json(sbuf *out, const tc_field *f) {
  cli_sb_puts(out, "{\"name\":");
  cli_json_cstr(out, f->name);
  char *t = cli_type_string(f);
  cli_sb_puts(out, ",\"type\":");
  cli_json_cstr(out, t);
  free(t);
  cli_sb_printf(out, ",\"nullable\":%s", f->nullable ? "true" : "false");
  if (f->dictionary_encoded) cli_sb_puts(out, ",\"dictionary_encoded\":true");
  if (f->ndim) {
    cli_sb_puts(out, ",\"shape\":[");
    for (size_t i = 0; i < f->ndim; i++) cli_sb_printf(out, "%s%" PRId64, i ? "," : "", f->shape[i]);
    cli_sb_puts(out, "],\"element_type\":");
    const char *et = cli_simple_type_name(f->element_type);
    cli_json_cstr(out, et ? et : "");
  }
  cli_sb_puts(out, ",\"metadata\":");
  cli_json_kv_object(out, f->metadata, f->n_metadata);
  if (f->n_children) {
    cli_sb_puts(out, ",\"children\":[");
    for (size_t i = 0; i < f->n_children; i++) {
      if (i) cli_sb_putc(out, ',');
      field_json(out, &f->children[i]);
    }
    cli_sb_putc(out, ']');
  }
  cli_sb_putc(out, '}');
}

/* Metadata for a person: key=value, values escaped (they may hold JSON documents) and cut short. */
static char *metadata_human(const tc_kv *kv, size_t n) {
  sbuf b = {0};
  style st = {0, 0, TEXT_MAX};
  for (size_t i = 0; i < n; i++) {
    cli_sb_printf(&b, "%s%s=", i ? ", " : "", kv[i].key);
    cli_put_text_human(&b, (const uint8_t *)kv[i].value, strlen(kv[i].value), &st);
  }
  char *s = cli_sb_take(&b);
  cli_cut_display(s, 2 * CELL_MAX);
  return s;
}

static void schema_human(sbuf *out, const tc_schema *s) {
  cli_sb_puts(out, "schema:\n");
  grid g = {.ncols = 4, .indent = "  "};
  cli_grid_addf(&g, "FIELD");
  cli_grid_addf(&g, "TYPE");
  cli_grid_addf(&g, "NULLABLE");
  cli_grid_addf(&g, "METADATA");
  for (size_t i = 0; i < s->n_fields; i++) {
    const tc_field *f = &s->fields[i];
    char *t = cli_type_string(f);
    cli_grid_addf(&g, "%s", f->name);
    cli_grid_addf(&g, "%s%s", t, f->dictionary_encoded ? " (dictionary-encoded)" : "");
    cli_grid_addf(&g, "%s", f->nullable ? "yes" : "no");
    cli_grid_add(&g, metadata_human(f->metadata, f->n_metadata));
    free(t);
  }
  cli_grid_print(&g, out);
  if (!s->n_metadata) return;
  cli_sb_puts(out, "schema metadata:\n");
  style st = {0, 0, 2 * CELL_MAX};
  for (size_t i = 0; i < s->n_metadata; i++) {
    cli_sb_printf(out, "  %s: ", s->metadata[i].key);
    cli_put_text_human(out, (const uint8_t *)s->metadata[i].value, strlen(s->metadata[i].value), &st);
    cli_sb_putc(out, '\n');
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Permutations */

static const char *const kSplitKinds[] = {"none", "random", "sequential", "hash"};

static const char *split_kind_name(int k) { return k >= 0 && k <= 3 ? kSplitKinds[k] : "unknown"; }

static void json_f64_array(sbuf *b, const double *v, size_t n) {
  cli_sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) cli_sb_putc(b, ',');
    cli_put_float(b, v[i], 0, &cli_style_json);
  }
  cli_sb_putc(b, ']');
}

static void json_i64_array(sbuf *b, const int64_t *v, size_t n) {
  cli_sb_putc(b, '[');
  for (size_t i = 0; i < n; i++) cli_sb_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
  cli_sb_putc(b, ']');
}

static void spec_json(sbuf *out, const tc_permutation_spec *s) {
  cli_sb_puts(out, "{\"table\":");
  cli_json_cstr(out, s->table);
  if (s->shuffle)
    cli_sb_printf(out, ",\"shuffle\":{\"seed\":%" PRIu64 ",\"clump_size\":%" PRId64 "}", s->shuffle_seed,
                  s->clump_size);
  else
    cli_sb_puts(out, ",\"shuffle\":null");
  cli_sb_puts(out, ",\"split\":{\"kind\":");
  cli_json_cstr(out, split_kind_name(s->split));
  if (s->split == TC_SPLIT_RANDOM || s->split == TC_SPLIT_SEQUENTIAL) {
    cli_sb_puts(out, ",\"ratios\":");
    json_f64_array(out, s->ratios, s->n_ratios);
    cli_sb_puts(out, ",\"counts\":");
    json_i64_array(out, s->counts, s->n_counts);
    cli_sb_printf(out, ",\"parts\":%" PRId32, s->fixed);
  }
  if (s->split == TC_SPLIT_RANDOM) cli_sb_printf(out, ",\"seed\":%" PRIu64, s->split_seed);
  if (s->split == TC_SPLIT_HASH) {
    cli_sb_puts(out, ",\"columns\":");
    cli_json_str_array(out, s->hash_columns, s->n_hash_columns);
    cli_sb_puts(out, ",\"weights\":");
    json_i64_array(out, s->weights, s->n_weights);
  }
  cli_sb_puts(out, "},\"split_names\":");
  cli_json_str_array(out, s->split_names, s->n_split_names);
  cli_sb_putc(out, '}');
}

void cli_perm_json(sbuf *out, const tc_permutation_info *p) {
  cli_sb_puts(out, "{\"id\":");
  cli_json_cstr(out, p->id);
  cli_sb_puts(out, ",\"table\":");
  cli_json_cstr(out, p->table);
  cli_sb_puts(out, ",\"table_version\":");
  cli_json_cstr(out, p->table_version);
  cli_sb_printf(out, ",\"num_rows\":%" PRId64 ",\"splits\":[", p->num_rows);
  for (size_t i = 0; i < p->n_splits; i++) {
    cli_sb_puts(out, i ? ",{\"name\":" : "{\"name\":");
    cli_json_cstr(out, p->splits[i].name);
    cli_sb_printf(out, ",\"num_rows\":%" PRId64 "}", p->splits[i].num_rows);
  }
  cli_sb_puts(out, "],\"spec\":");
  spec_json(out, &p->spec);
  cli_sb_puts(out, "}\n");
}

/* "random, ratios 0.8,0.2, seed 7" and the like. */
static void split_human(sbuf *out, const tc_permutation_spec *s) {
  cli_sb_puts(out, split_kind_name(s->split));
  if (s->n_ratios) cli_sb_puts(out, ", ratios ");
  for (size_t i = 0; i < s->n_ratios; i++) {
    if (i) cli_sb_putc(out, ',');
    cli_put_float(out, s->ratios[i], 0, &cli_style_human);
  }
  if (s->n_counts) cli_sb_puts(out, ", counts ");
  for (size_t i = 0; i < s->n_counts; i++) cli_sb_printf(out, "%s%" PRId64, i ? "," : "", s->counts[i]);
  if (s->fixed) cli_sb_printf(out, ", %" PRId32 " equal parts", s->fixed);
  if (s->split == TC_SPLIT_RANDOM) cli_sb_printf(out, ", seed %" PRIu64, s->split_seed);
  for (size_t i = 0; i < s->n_hash_columns; i++) cli_sb_printf(out, "%s%s", i ? "," : ", columns ", s->hash_columns[i]);
  for (size_t i = 0; i < s->n_weights; i++) cli_sb_printf(out, "%s%" PRId64, i ? "," : ", weights ", s->weights[i]);
}

void cli_perm_human(sbuf *out, const tc_permutation_info *p) {
  const tc_permutation_spec *s = &p->spec;
  cli_sb_printf(out, "id       %s\ntable    %s (version %s, %" PRId64 " rows)\norder    ", p->id, p->table,
                p->table_version, p->num_rows);
  if (s->shuffle)
    cli_sb_printf(out, "shuffled, seed %" PRIu64 ", clumps of %" PRId64 "\n", s->shuffle_seed,
                  s->clump_size > 1 ? s->clump_size : 1);
  else
    cli_sb_puts(out, "table order\n");
  cli_sb_puts(out, "split    ");
  split_human(out, s);
  cli_sb_puts(out, "\nsplits:\n");
  grid g = {.ncols = 2, .right_mask = 2, .indent = "  "};
  cli_grid_addf(&g, "NAME");
  cli_grid_addf(&g, "ROWS");
  for (size_t i = 0; i < p->n_splits; i++) {
    cli_grid_addf(&g, "%s", p->splits[i].name);
    cli_grid_addf(&g, "%" PRId64, p->splits[i].num_rows);
  }
  cli_grid_print(&g, out);
}

/* ------------------------------------------------------------------------------------------------------ */
/* Tables */

void cli_describe_json(sbuf *out, const tc_table_info *t) {
  cli_sb_puts(out, "{\"name\":");
  cli_json_cstr(out, t->name);
  cli_sb_printf(out, ",\"num_rows\":%" PRId64 ",\"num_bytes\":%" PRId64 ",\"version\":", t->num_rows, t->num_bytes);
  cli_json_cstr(out, t->version);
  cli_sb_puts(out, ",\"files\":");
  cli_json_str_array(out, t->files, t->n_files);
  cli_sb_puts(out, ",\"schema\":{\"fields\":[");
  for (size_t i = 0; i < t->schema.n_fields; i++) {
    if (i) cli_sb_putc(out, ',');
    field_json(out, &t->schema.fields[i]);
  }
  cli_sb_puts(out, "],\"metadata\":");
  cli_json_kv_object(out, t->schema.metadata, t->schema.n_metadata);
  cli_sb_puts(out, "}}\n");
}

void cli_describe_human(sbuf *out, const tc_table_info *t) {
  cli_sb_printf(out, "name     %s\nrows     %" PRId64 "\nbytes    %" PRId64 "\nversion  %s\nfiles    ", t->name,
                t->num_rows, t->num_bytes, t->version);
  for (size_t i = 0; i < t->n_files; i++) cli_sb_printf(out, "%s%s\n", i ? "         " : "", t->files[i]);
  if (!t->n_files) cli_sb_puts(out, "(none)\n");
  schema_human(out, &t->schema);
}
