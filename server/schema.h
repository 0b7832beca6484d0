/* schema.h: the reader's schema (arrow_file.h) as tablecar.v1 messages. */
#ifndef TS_SCHEMA_H
#define TS_SCHEMA_H

#include <stddef.h>

#include "arrow_file.h"
#include "status.h"
#include "tablecar/v1/tablecar.pb-c.h"

/* New messages, freed with protobuf_c_message_free_unpacked(msg, NULL); NULL when out of memory. */
Tablecar__V1__Field *ts_field_to_proto(const at_field *f);
Tablecar__V1__Schema *ts_schema_to_proto(const at_schema *s);

/* Index of the field named NAME, or -1. */
int ts_schema_find(const at_schema *s, const char *name);

/* Column indices for NAMES, or every column when N is 0. INVALID_ARGUMENT for an unknown or repeated name.
 * *out is malloc'ed (free it). */
ts_status ts_select_columns(const at_schema *s, char *const *names, size_t n, size_t **out, size_t *n_out,
                            ts_error *err);

#endif
