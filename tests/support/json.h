/* json.h: a small JSON parser for the tests, enough for the fixture scripts' expected.json (UTF-8, \u escapes
 * with surrogate pairs). Not a validator: it trusts its input, written by our own scripts. */
#ifndef TS_TEST_JSON_H
#define TS_TEST_JSON_H

#include <stddef.h>

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
  int kind;
  int b;
  double num;
  char *s; /* J_STR: decoded bytes, NUL-terminated; len below */
  size_t len;
  size_t n; /* J_ARR, J_OBJ: items */
  struct jv *v;
  char **k; /* J_OBJ: keys */
} jv;

/* Parses the value at p into *out (zeroed first); returns the end of the value, or NULL if p holds none.
 * Free *out with jv_free (safe after a failure too). */
const char *jv_parse(const char *p, jv *out);
void jv_free(jv *v);
/* The member named key of object o, or NULL (also when o is not an object). */
const jv *jv_get(const jv *o, const char *key);

#endif
