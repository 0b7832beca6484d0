/* hf.c: see hf.h. */
#include "hf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_BYTES (16 << 20)

/* The whole file DIR/NAME as a NUL-terminated string, or NULL. */
static char *slurp(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(MAX_JSON_BYTES + 1);
  size_t n = buf ? fread(buf, 1, MAX_JSON_BYTES, f) : 0;
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

static void put_utf8(char **w, unsigned cp) {
  char *p = *w;
  if (cp < 0x80) {
    *p++ = (char)cp;
  } else if (cp < 0x800) {
    *p++ = (char)(0xc0 | (cp >> 6));
    *p++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *p++ = (char)(0xe0 | (cp >> 12));
    *p++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *p++ = (char)(0x80 | (cp & 0x3f));
  }
  *w = p;
}

/* Decodes the JSON string starting at S (just after its opening quote) into a new string; *end is set past
 * the closing quote. NULL on a malformed string or out of memory. */
static char *json_string(const char *s, const char **end) {
  char *out = malloc(strlen(s) * 3 + 1), *w = out; /* an escape never grows more than 3x */
  if (!out) return NULL;
  for (; *s && *s != '"'; s++) {
    if (*s != '\\') {
      *w++ = *s;
      continue;
    }
    s++;
    unsigned cp;
    switch (*s) {
    case 'b': *w++ = '\b'; break;
    case 'f': *w++ = '\f'; break;
    case 'n': *w++ = '\n'; break;
    case 'r': *w++ = '\r'; break;
    case 't': *w++ = '\t'; break;
    case 'u':
      /* four hex digits, each checked (the terminator is not one): "\u1" at the end of the text must not
       * send the scan past it */
      for (int k = 1; k <= 4; k++)
        if (!isxdigit((unsigned char)s[k])) {
          free(out);
          return NULL;
        }
      if (sscanf(s + 1, "%4x", &cp) != 1) {
        free(out);
        return NULL;
      }
      put_utf8(&w, cp ? cp : '?');
      s += 4;
      break;
    case '\0': free(out); return NULL;
    default: *w++ = *s; break; /* \" \\ \/ */
    }
  }
  if (*s != '"') {
    free(out);
    return NULL;
  }
  *w = '\0';
  *end = s + 1;
  return out;
}

int ts_json_strings(const char *json, const char *key, char ***out) {
  char pattern[256];
  snprintf(pattern, sizeof pattern, "\"%s\"", key);
  char **v = NULL;
  int n = 0;
  for (const char *p = strstr(json, pattern); p; p = strstr(p, pattern)) {
    p += strlen(pattern);
    const char *q = p;
    while (isspace((unsigned char)*q)) q++;
    if (*q++ != ':') continue;
    while (isspace((unsigned char)*q)) q++;
    if (*q++ != '"') continue;
    const char *end;
    char *s = json_string(q, &end);
    char **grown = s ? realloc(v, (size_t)(n + 1) * sizeof *v) : NULL;
    if (!grown) {
      free(s);
      if (!s) continue; /* a malformed value: skip it */
      while (n > 0) free(v[--n]);
      free(v);
      return -1;
    }
    v = grown;
    v[n++] = s;
    p = end;
  }
  *out = v;
  return n;
}

static void free_strs(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

void ts_hf_free(ts_hf_table *t, int n) {
  for (int i = 0; t && i < n; i++) {
    free(t[i].suffix);
    free_strs(t[i].files, (int)t[i].n_files);
  }
  free(t);
}

/* save_to_disk: one table, the files state.json lists ("filename" entries), which must be plain names. */
static int from_state(char *state, ts_hf_table **out) {
  char **files;
  int n = ts_json_strings(state, "filename", &files);
  if (n <= 0) return n;
  for (int i = 0; i < n; i++)
    if (strchr(files[i], '/') || files[i][0] == '.' || files[i][0] == '\0') {
      free_strs(files, n);
      return 0; /* not a layout we trust: fall back to the folder's own files */
    }
  ts_hf_table *t = calloc(1, sizeof *t);
  if (!t) {
    free_strs(files, n);
    return -1;
  }
  t->files = files;
  t->n_files = (size_t)n;
  *out = t;
  return 1;
}

/* The split of a cache file name BUILDER-SPLIT[-00000-of-00003].arrow, into SPLIT (size cap); 0 if the
 * name does not have that form. */
static int split_of(const char *name, const char *builder, char *split, size_t cap) {
  size_t len = strlen(name);
  if (len < 7 || strcmp(name + len - 6, ".arrow") != 0) return 0;
  len -= 6;
  int a, b, used = 0;
  if (len > 15 && sscanf(name + len - 15, "-%5d-of-%5d%n", &a, &b, &used) == 2 && used == 15) len -= 15;
  size_t skip;
  if (builder && strncmp(name, builder, strlen(builder)) == 0 && name[strlen(builder)] == '-') {
    skip = strlen(builder) + 1;
  } else {
    const char *dash = memrchr(name, '-', len);
    if (!dash) return 0;
    skip = (size_t)(dash - name) + 1;
  }
  if (skip >= len || len - skip >= cap) return 0;
  memcpy(split, name + skip, len - skip);
  split[len - skip] = '\0';
  return 1;
}

static int add_file(ts_hf_table *t, const char *name) {
  char **grown = realloc(t->files, (t->n_files + 1) * sizeof *grown);
  if (!grown) return -1;
  t->files = grown;
  if (!(t->files[t->n_files] = strdup(name))) return -1;
  t->n_files++;
  return 0;
}

/* The datasets cache: one table per split. */
static int from_cache(char *info, char *const *names, size_t n, ts_hf_table **out) {
  char **builder;
  int nb = ts_json_strings(info, "builder_name", &builder);
  if (nb < 0) return -1;
  ts_hf_table *t = calloc(n ? n : 1, sizeof *t);
  int nt = 0, rc = t ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char split[256];
    if (!split_of(names[i], nb > 0 ? builder[0] : NULL, split, sizeof split)) {
      rc = 1; /* a file that is not BUILDER-SPLIT...: not the cache layout */
      break;
    }
    int k = 0;
    while (k < nt && strcmp(t[k].suffix, split) != 0) k++;
    if (k == nt && !(t[nt++].suffix = strdup(split)))
      rc = -1;
    else if (add_file(&t[k], names[i]) != 0)
      rc = -1;
  }
  free_strs(builder, nb);
  if (rc != 0) {
    ts_hf_free(t, nt);
    return rc < 0 ? -1 : 0;
  }
  *out = t;
  return nt;
}

int ts_hf_tables(const char *dir, char *const *names, size_t n, ts_hf_table **out) {
  char *json = slurp(dir, "state.json");
  if (json) {
    int rc = from_state(json, out);
    free(json);
    return rc;
  }
  if ((json = slurp(dir, "dataset_info.json")) != NULL) {
    int rc = from_cache(json, names, n, out);
    free(json);
    return rc;
  }
  return 0;
}
