/* handlers.h: the Tablecar RPCs as plain functions from a request message to a response message, with no
 * gRPC in sight (service.c does the transport), so tests can call them directly.
 *
 * Each unary handler takes a request that protobuf-c unpacked and, on TC_OK, stores a new response in *out
 * (free it with protobuf_c_message_free_unpacked). On error it fills err and stores nothing.
 */
#ifndef TS_HANDLERS_H
#define TS_HANDLERS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "catalog.h"
#include "perms.h"
#include "shm.h"
#include "status.h"

typedef struct ts_ctx {
  ts_catalog *catalog;
  ts_perms *perms;
  size_t max_message_bytes; /* largest Batch a handler may produce */
  ts_shm *shm;              /* clients' shared-memory pools; NULL: requests naming a slot are answered in
                               the message body */
} ts_ctx;

typedef ts_status (*ts_unary_fn)(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);

ts_status ts_h_list_tables(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);
ts_status ts_h_describe_table(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);
ts_status ts_h_take_rows(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);
ts_status ts_h_create_permutation(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);
ts_status ts_h_describe_permutation(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);
ts_status ts_h_read_batch(ts_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, ts_error *err);

/* StreamBatches: open checks the request; next gives the following batch, or TC_OK with *out NULL at the
 * end. */
typedef struct ts_stream ts_stream;
ts_status ts_h_stream_open(ts_ctx *ctx, const ProtobufCMessage *req, ts_stream **out, ts_error *err);
ts_status ts_h_stream_next(ts_stream *s, ProtobufCMessage **out, ts_error *err);
void ts_h_stream_close(ts_stream *s);

#endif
