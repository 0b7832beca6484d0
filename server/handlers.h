/* handlers.h: the Tablecar RPCs as plain functions from a request message to a response message, with no
 * gRPC in sight (service.c does the transport), so tests can call them directly.
 *
 * Each unary handler takes a request that protobuf-c unpacked and, on TC_OK, stores a new response in *out
 * (free it with protobuf_c_message_free_unpacked). On error it fills err and stores nothing.
 */
#ifndef TC_HANDLERS_H
#define TC_HANDLERS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "catalog.h"
#include "perms.h"
#include "status.h"

typedef struct tc_ctx {
  tc_catalog *catalog;
  tc_perms *perms;
  size_t max_message_bytes;  /* largest Batch a handler may produce */
} tc_ctx;

typedef tc_status (*tc_unary_fn)(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out,
                                 tc_error *err);

tc_status tc_h_list_tables(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, tc_error *err);
tc_status tc_h_describe_table(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out,
                              tc_error *err);
tc_status tc_h_take_rows(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, tc_error *err);
tc_status tc_h_create_permutation(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out,
                                  tc_error *err);
tc_status tc_h_describe_permutation(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out,
                                    tc_error *err);
tc_status tc_h_read_batch(tc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **out, tc_error *err);

/* StreamBatches: open checks the request; next gives the following batch, or TC_OK with *out NULL at the
 * end. */
typedef struct tc_stream tc_stream;
tc_status tc_h_stream_open(tc_ctx *ctx, const ProtobufCMessage *req, tc_stream **out, tc_error *err);
tc_status tc_h_stream_next(tc_stream *s, ProtobufCMessage **out, tc_error *err);
void tc_h_stream_close(tc_stream *s);

#endif
