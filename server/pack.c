/* pack.c: see pack.h. */
#include "pack.h"

#include <grpc/slice.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The message packed into a byte buffer that owns the bytes (small messages: one copy). */
static grpc_byte_buffer *pack_copy(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(m, buf);
  grpc_slice slice = grpc_slice_new(buf, len, free);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

/* Batches are packed without copying their data: protobuf-c's pack_to_buffer hands every piece of the
 * encoding to an append callback in order, and a bytes field's data as its own pointer. Pieces of REF_MIN
 * bytes or more become gRPC slices over the message's own buffers (the gathered rows, written once); the
 * tags, lengths and small fields between them are copied into small slices. The message is freed when gRPC
 * drops the last slice over it (after the write), from whichever thread that happens on. */
#define REF_MIN 2048

typedef struct owner {
  atomic_int refs;
  ProtobufCMessage *m;
} owner;

static void owner_unref(void *p) {
  owner *o = p;
  if (atomic_fetch_sub(&o->refs, 1) == 1) {
    protobuf_c_message_free_unpacked(o->m, NULL);
    free(o);
  }
}

typedef struct slicer {
  ProtobufCBuffer base;
  owner *own;
  grpc_slice *slices;
  size_t n, cap;
  uint8_t small[4096]; /* small pieces since the last slice */
  size_t small_len;
  int failed;
} slicer;

static void slicer_push(slicer *sl, grpc_slice s) {
  if (sl->n == sl->cap) {
    size_t cap = sl->cap ? 2 * sl->cap : 16;
    grpc_slice *p = realloc(sl->slices, cap * sizeof *p);
    if (!p) {
      sl->failed = 1;
      grpc_slice_unref(s);
      return;
    }
    sl->slices = p;
    sl->cap = cap;
  }
  sl->slices[sl->n++] = s;
}

static void slicer_flush(slicer *sl) {
  if (sl->small_len) slicer_push(sl, grpc_slice_from_copied_buffer((const char *)sl->small, sl->small_len));
  sl->small_len = 0;
}

static void slicer_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
  slicer *sl = (slicer *)b;
  if (len >= REF_MIN) {
    slicer_flush(sl);
    atomic_fetch_add(&sl->own->refs, 1);
    slicer_push(sl, grpc_slice_new_with_user_data((void *)data, len, owner_unref, sl->own));
    return;
  }
  if (sl->small_len + len > sizeof sl->small) slicer_flush(sl);
  if (len > sizeof sl->small) { /* cannot happen with REF_MIN below the scratch size */
    slicer_push(sl, grpc_slice_from_copied_buffer((const char *)data, len));
    return;
  }
  memcpy(sl->small + sl->small_len, data, len);
  sl->small_len += len;
}

/* Packs M, which this takes over (it is freed here, or once gRPC is done with its bytes). */
static grpc_byte_buffer *pack_owned(ProtobufCMessage *m) {
  owner *own = malloc(sizeof *own);
  slicer *sl = calloc(1, sizeof *sl);
  if (!own || !sl) {
    free(own);
    free(sl);
    protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
  }
  atomic_init(&own->refs, 1);
  own->m = m;
  sl->base.append = slicer_append;
  sl->own = own;
  protobuf_c_message_pack_to_buffer(m, &sl->base);
  slicer_flush(sl);
  grpc_byte_buffer *bb = sl->failed ? NULL : grpc_raw_byte_buffer_create(sl->slices, sl->n);
  for (size_t i = 0; i < sl->n; i++) grpc_slice_unref(sl->slices[i]);
  free(sl->slices);
  free(sl);
  owner_unref(own);
  return bb;
}

grpc_byte_buffer *ts_pack(const ProtobufCMessage *m, ProtobufCMessage *owned) {
  return owned ? pack_owned(owned) : pack_copy(m);
}
