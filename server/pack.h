/* pack.h: a response message packed into a gRPC byte buffer, without copying a batch's data. */
#ifndef TS_PACK_H
#define TS_PACK_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/* M packed into a new byte buffer (NULL when out of memory). OWNED: the same message as M, taken over: it
 * is freed here, or once gRPC is done with its bytes, and must not be used after the call (NULL: M stays
 * the caller's and is copied). */
grpc_byte_buffer *ts_pack(const ProtobufCMessage *m, ProtobufCMessage *owned);

#endif
