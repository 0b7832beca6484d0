/*
 * libtablecar: the C client of the tablecar sidecar (proto/tablecar/v1/tablecar.proto).
 *
 * It speaks gRPC over HTTP/2 itself (libnghttp2 + a plain socket), so it has no threads, no background
 * work and no global mutable state, and it works in processes that fork (data loader workers).
 *
 * Threads and processes
 *   - One tc_client per thread: a handle (and the streams made from it) must not be used by two threads at
 *     the same time. There is no lock inside, so nothing can be left locked by fork().
 *   - fork() is fine at any time between calls: every call checks getpid(), and a child that uses an
 *     inherited handle closes the inherited connection without writing a byte to it and opens its own. The
 *     parent's connection is not disturbed; the parent (and grandchildren...) may keep using the handle.
 *
 * Calls
 *   - Every function returns an int status: TC_OK (0), a gRPC status code (1..16, TC_E* below) or a negative
 *     local error. tc_strerror() names a status; tc_last_error() gives the message of the handle's last call.
 *   - A call has a deadline (tc_options.timeout_ms, or tc_call_opts.timeout_ms), sent to the server as
 *     grpc-timeout. Every RPC of this protocol is idempotent, so while the sidecar is unreachable or
 *     restarting (connection refused, socket file missing, connection reset, GOAWAY, UNAVAILABLE) a call is
 *     retried with exponential backoff and jitter until its deadline; it then fails with
 *     TC_EDEADLINE_EXCEEDED and tc_last_error() tells the last failure.
 *   - The handle connects lazily, on its first call, and keeps one HTTP/2 connection.
 *
 * Memory
 *   - Every result object (tc_batch, tc_table_list, tc_table_info, tc_permutation_info) is one allocation
 *     tree owned by the caller, freed with its own *_free function; every pointer inside it stays valid until
 *     then and does not depend on the client or stream it came from (they may be freed first).
 *   - Strings in results are NUL-terminated and never NULL (an absent string is "").
 *   - Buffers of a tc_batch point into the received message (no copy). They are NOT aligned: read multi-byte
 *     values with memcpy (or an unaligned-safe load, e.g. numpy.frombuffer). All values are little-endian.
 *   - A tc_batch is checked before it is returned (else TC_EPROTO): 8 * num_rows bytes of row ids; for every
 *     column of a type this header knows, its length matches its parent's, the bitmap and values are long
 *     enough, offsets are length + 1, from >= 0, monotone and within their data (or child), fixed-size list
 *     and struct children have the lengths their type implies. So a caller may index them without checks.
 *   - Inputs (strings, arrays) are only read during the call; the library keeps no pointer to them.
 *
 * Structs
 *   - Request structs and tc_call_opts: zero-initialize, then set fields (all-zero fields mean defaults).
 *     tc_options: fill with tc_options_init first. Any of them may gain fields at the end in a later
 *     version (with a new soname while the major version is 0).
 *
 * Example
 *   tc_client *c;
 *   tc_client_new("unix:/run/tablecar.sock", NULL, &c);
 *   tc_read_batch_req req = {.permutation = id, .split = "train", .offset = 0, .batch_size = 256};
 *   tc_batch *b;
 *   int rc = tc_read_batch(c, &req, NULL, &b);
 *   if (rc) fprintf(stderr, "%s: %s\n", tc_strerror(rc), tc_last_error(c));
 *   else { const tc_column *x = tc_batch_column(b, "x"); ...x->values, x->values_size...; tc_batch_free(b); }
 *   tc_client_free(c);
 */
#ifndef TABLECAR_H
#define TABLECAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: only what is marked TC_API is exported. */
#if defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

#define TC_VERSION_MAJOR 0
#define TC_VERSION_MINOR 2
#define TC_VERSION_PATCH 0

/* ------------------------------------------------------------------------------------------------------ */
/* Status codes */

/*
 * The list of statuses, kept once: GRPC(NAME, code) for gRPC's codes (the server's grpc-status, or a
 * transport failure as gRPC defines it), LOCAL(NAME, code, message) for the library's own errors, which
 * are negative. The enum (TC_E<NAME>), tc_strerror(), tc_status_name() and the Python package's exceptions
 * are all generated from it; the server checks at build time that it is gRPC core's list.
 */
/* clang-format off */
#define TC_STATUS_MAP(GRPC, LOCAL)                                                                         \
  GRPC(CANCELLED, 1)                                                                                       \
  GRPC(UNKNOWN, 2)                                                                                         \
  GRPC(INVALID_ARGUMENT, 3)                                                                                \
  GRPC(DEADLINE_EXCEEDED, 4)   /* also: the call's deadline passed locally */                              \
  GRPC(NOT_FOUND, 5)                                                                                       \
  GRPC(ALREADY_EXISTS, 6)                                                                                  \
  GRPC(PERMISSION_DENIED, 7)                                                                               \
  GRPC(RESOURCE_EXHAUSTED, 8)  /* also: a response larger than tc_options.max_recv_message_bytes */        \
  GRPC(FAILED_PRECONDITION, 9)                                                                             \
  GRPC(ABORTED, 10)                                                                                        \
  GRPC(OUT_OF_RANGE, 11)                                                                                   \
  GRPC(UNIMPLEMENTED, 12)                                                                                  \
  GRPC(INTERNAL, 13)                                                                                       \
  GRPC(UNAVAILABLE, 14)        /* also: connection lost or refused stream, when not retried */             \
  GRPC(DATA_LOSS, 15)                                                                                      \
  GRPC(UNAUTHENTICATED, 16)                                                                                \
  LOCAL(NOMEM, -1, "out of memory")                                                                        \
  LOCAL(INVAL, -2, "invalid argument") /* bad target, NULL pointer, bad request struct */                  \
  LOCAL(CONNECT, -3, "cannot connect to the server") /* and not retrying (no_retry, or permanent) */        \
  LOCAL(PROTO, -4, "protocol error: malformed response") /* the peer broke HTTP/2, gRPC or protobuf */
/* clang-format on */

enum {
  TC_OK = 0,
/* clang-format off */
#define TC_XX_GRPC(name, code) TC_E##name = code,
#define TC_XX_LOCAL(name, code, msg) TC_E##name = code,
  TC_STATUS_MAP(TC_XX_GRPC, TC_XX_LOCAL)
#undef TC_XX_GRPC
#undef TC_XX_LOCAL
  /* clang-format on */
};

/* A static description of a status ("OK", "NOT_FOUND", "out of memory"...). Never NULL. */
TC_API const char *tc_strerror(int status);

/* gRPC's name of a code ("OK", "NOT_FOUND"), or a local error's symbol without TC_ ("ENOMEM"); "?" for a
 * value not in TC_STATUS_MAP. Never NULL. */
TC_API const char *tc_status_name(int status);

/* The library's version, (major << 16) | (minor << 8) | patch, and as a string "0.1.0". Compare with
 * TC_VERSION_* to check that the library loaded at run time is the one a program was built against. */
TC_API unsigned int tc_version(void);
TC_API const char *tc_version_string(void);

/* For bindings that copy this header's structs (ctypes, cffi): sizeof the public struct NAME ("tc_batch",
 * "tc_field", ...) as the library was built, or 0 for a name that is not one, so that a binding can check
 * its copy against the library it loaded. */
TC_API size_t tc_abi_sizeof(const char *name);

/* ------------------------------------------------------------------------------------------------------ */
/* Client handle */

typedef struct tc_client tc_client;

typedef struct tc_options {
  int64_t timeout_ms;               /* default deadline of a call; < 0: none. Default 30000. */
  size_t max_recv_message_bytes;    /* largest response message accepted. Default 256 MiB. */
  uint32_t stream_window_bytes;     /* HTTP/2 per-stream receive window. Default 16 MiB. */
  uint32_t connection_window_bytes; /* HTTP/2 connection receive window. Default 64 MiB. */
  int retry;                        /* nonzero: retry while unreachable (see above). Default 1. */
  int64_t backoff_initial_ms;       /* first retry delay. Default 20. */
  int64_t backoff_max_ms;           /* largest retry delay. Default 1000. */
  double backoff_multiplier;        /* delay growth per attempt. Default 1.6. */
  double backoff_jitter;            /* delays vary by +-this fraction. Default 0.2. */
  const char *authority;            /* :authority header; NULL: "localhost" for Unix sockets, else HOST:PORT.
                                      Copied by tc_client_new. */
} tc_options;

/* Fills *opts with the defaults. Call it, then change what you need. */
TC_API void tc_options_init(tc_options *opts);

/*
 * Creates a handle for target (nothing is connected until the first call):
 *   unix:PATH, unix:///ABS/PATH    a Unix socket (PATH may be relative)
 *   unix-abstract:NAME             a Linux abstract socket
 *   HOST:PORT, [V6ADDR]:PORT       TCP (IPv4, IPv6, or a name resolved with getaddrinfo at each connect);
 *                                  also with gRPC's dns:, dns:///, ipv4:, ipv6: prefixes
 * opts may be NULL (defaults). On success *out is a handle to free with tc_client_free.
 * Returns TC_OK, TC_EINVAL (bad target or options) or TC_ENOMEM. On failure *out is NULL, and
 * tc_last_error(NULL) says why (e.g. "bad target \"bogus://x\": expected HOST:PORT, ...").
 */
TC_API int tc_client_new(const char *target, const tc_options *opts, tc_client **out);

/* Closes the connection and frees the handle. Free the handle's streams first. NULL is fine. */
TC_API void tc_client_free(tc_client *client);

/*
 * The message of the handle's last call: the server's grpc-message (percent-decoded) or a local description;
 * "" after a successful call. Owned by the handle, valid until its next call.
 * With client NULL: why the calling thread's last tc_client_new failed ("" if it succeeded), so that
 *   if (tc_client_new(target, NULL, &c)) fprintf(stderr, "%s\n", tc_last_error(c));
 * works too. That message is the thread's own (thread-local, like dlerror()'s), valid until the thread's
 * next tc_client_new.
 */
TC_API const char *tc_last_error(const tc_client *client);

/* Per-call options; a NULL tc_call_opts * means all zero. Zero-initialize it, then set what you need. */
typedef struct tc_call_opts {
  int64_t timeout_ms; /* 0: the handle's default; < 0: no deadline; else the deadline in ms from now.
                         For a stream: the longest wait for each tc_stream_next (and for its start). */
  int no_retry;       /* nonzero: fail at once when unreachable, instead of retrying */
} tc_call_opts;

/* ------------------------------------------------------------------------------------------------------ */
/* Schema: tablecar.v1.Field, DataType and friends */

/*
 * The list of types, kept once: XX(symbol, code, name, width). code is tablecar.v1.TypeId's number (checked
 * at build time), name is Arrow's name for it, width the bytes of one value of a fixed-width type (0 for
 * the others: bool is bit-packed, fixed_size_binary's width is the field's byte_width).
 */
/* clang-format off */
#define TC_TYPE_MAP(XX)                                                                                    \
  XX(UNSPECIFIED, 0, "unspecified", 0)                                                                     \
  XX(BOOL, 1, "bool", 0)                                                                                   \
  XX(INT8, 2, "int8", 1)                                                                                   \
  XX(INT16, 3, "int16", 2)                                                                                 \
  XX(INT32, 4, "int32", 4)                                                                                 \
  XX(INT64, 5, "int64", 8)                                                                                 \
  XX(UINT8, 6, "uint8", 1)                                                                                 \
  XX(UINT16, 7, "uint16", 2)                                                                               \
  XX(UINT32, 8, "uint32", 4)                                                                               \
  XX(UINT64, 9, "uint64", 8)                                                                               \
  XX(FLOAT16, 10, "float16", 2)                                                                            \
  XX(FLOAT32, 11, "float32", 4)                                                                            \
  XX(FLOAT64, 12, "float64", 8)                                                                            \
  XX(UTF8, 13, "utf8", 0)                   /* int32 offsets + bytes */                                    \
  XX(LARGE_UTF8, 14, "large_utf8", 0)       /* int64 offsets + bytes */                                    \
  XX(BINARY, 15, "binary", 0)                                                                              \
  XX(LARGE_BINARY, 16, "large_binary", 0)                                                                  \
  XX(FIXED_SIZE_BINARY, 17, "fixed_size_binary", 0) /* tc_field.byte_width bytes a value */               \
  XX(DATE32, 18, "date32", 4)               /* days since the epoch */                                     \
  XX(DATE64, 19, "date64", 8)               /* milliseconds since the epoch */                             \
  XX(TIMESTAMP, 20, "timestamp", 8)         /* in tc_field.unit, tc_field.timezone ("" = naive) */         \
  XX(LIST, 21, "list", 0)                   /* int32 offsets + one child */                                \
  XX(LARGE_LIST, 22, "large_list", 0)       /* int64 offsets + one child */                                \
  XX(FIXED_SIZE_LIST, 23, "fixed_size_list", 0) /* tc_field.list_size child values a row */               \
  XX(STRUCT, 24, "struct", 0)               /* a child per field */                                        \
  XX(NULL, 25, "null", 0)                   /* no buffers: every value is null (null_count == length) */
/* clang-format on */

typedef enum tc_type {
/* clang-format off */
#define TC_XX(sym, code, name, width) TC_TYPE_##sym = code,
  TC_TYPE_MAP(TC_XX)
#undef TC_XX
  /* clang-format on */
} tc_type;

/* Arrow's name of a type ("int64", "fixed_size_list", ...); NULL for a value not in TC_TYPE_MAP. */
TC_API const char *tc_type_name(int type);

/* Bytes of one value of a fixed-width type (int8..float64, date32/64, timestamp); 0 for the others. */
TC_API int tc_type_fixed_width(int type);

typedef enum tc_time_unit {
  TC_UNIT_SECOND = 0,
  TC_UNIT_MILLISECOND = 1,
  TC_UNIT_MICROSECOND = 2,
  TC_UNIT_NANOSECOND = 3
} tc_time_unit;

typedef struct tc_kv {
  const char *key;
  const char *value;
} tc_kv;

typedef struct tc_field {
  const char *name;
  int type;             /* tc_type (an int: a newer server may send values this header lacks) */
  int32_t byte_width;   /* TC_TYPE_FIXED_SIZE_BINARY */
  int32_t list_size;    /* TC_TYPE_FIXED_SIZE_LIST */
  int unit;             /* tc_time_unit, TC_TYPE_TIMESTAMP */
  const char *timezone; /* TC_TYPE_TIMESTAMP; "" = naive */
  int nullable;
  int dictionary_encoded; /* served decoded, with the value type above */
  size_t n_children;      /* list item field, or struct fields */
  const struct tc_field *children;
  size_t n_metadata; /* Arrow field metadata, in file order */
  const tc_kv *metadata;
  size_t ndim;          /* fixed-size-list chains of a fixed-width type: shape of one row */
  const int64_t *shape; /* (NULL when ndim is 0) */
  int element_type;     /* ... and its leaf tc_type; TC_TYPE_UNSPECIFIED otherwise */
} tc_field;

typedef struct tc_schema {
  size_t n_fields;
  const tc_field *fields;
  size_t n_metadata;
  const tc_kv *metadata;
} tc_schema;

/* ------------------------------------------------------------------------------------------------------ */
/* Batches: column views into the received message */

typedef struct tc_column {
  const tc_field *field; /* the column's field; NULL only if the server sent fewer fields than arrays */
  const char *name;      /* field->name, or "" */
  int type;              /* field->type, or TC_TYPE_UNSPECIFIED */
  int64_t length;
  int64_t null_count;
  const uint8_t *validity; /* LSB-first bitmap, ceil(length / 8) bytes; NULL (size 0) when no nulls,
                                 and for TC_TYPE_NULL (all null) */
  size_t validity_size;
  const uint8_t *offsets; /* length + 1 int32 or int64 offsets (utf8/binary/list types); else NULL */
  size_t offsets_size;
  const uint8_t *values; /* fixed-width values, or the string/binary bytes; else NULL */
  size_t values_size;
  size_t n_children;                /* list: 1, struct: one per field */
  const struct tc_column *children; /* children[i].field is field->children[i] */
} tc_column;

typedef struct tc_batch {
  const char *table;
  const char *version; /* the table version the rows were read from */
  int64_t num_rows;
  int64_t offset;         /* ReadBatch / StreamBatches: position of the first row in the split/shard */
  const uint8_t *row_ids; /* num_rows int64 little-endian global row ids (unaligned); see tc_row_id */
  size_t row_ids_size;    /* bytes: 8 * num_rows */
  size_t n_columns;
  const tc_column *columns;
  int shm; /* 1: the buffers (row_ids and every column's) are in the request's shared-memory slot, 64-byte
              aligned, and valid while the caller holds the slot; 0: in the message, as usual */
} tc_batch;

/* Frees a batch and the message its buffers point into. NULL is fine. */
TC_API void tc_batch_free(tc_batch *batch);

/* The column named name, or NULL. */
TC_API const tc_column *tc_batch_column(const tc_batch *batch, const char *name);

/* Row id i (0 <= i < num_rows) of a batch. */
static inline int64_t tc_row_id(const tc_batch *batch, int64_t i) {
  const uint8_t *p = batch->row_ids + 8 * (size_t)i;
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
  return (int64_t)v;
}

/* ------------------------------------------------------------------------------------------------------ */
/* Batches through shared memory
 *
 * On a Unix socket, a batch can be written by the server straight into memory this process (and its forked
 * children) already has mapped, instead of travelling in the message: no copy after the server's gather,
 * and no page faulted in per batch. A pool is a memfd of n_slots slots of slot_bytes, plus a header that
 * records who holds each slot (a process id, so a slot held by a process that died is taken back). Make it
 * before forking workers: they inherit the mapping, and no thread is involved.
 *
 *   tc_shm_pool *pool;  tc_shm_pool_new(4 << 20, 16, &pool);   // memfd, pre-faulted, sealed
 *   tc_shm_attach(pool, client);                                // once: the fd goes to the server
 *   ... fork ...
 *   uint32_t slot; uint64_t ticket;
 *   if (tc_shm_acquire(pool, &slot, &ticket) == TC_OK) {
 *     tc_read_batch_req req = {..., .shm = pool, .shm_slot = slot};
 *     tc_read_batch(client, &req, NULL, &b);   // b->shm: b's buffers are in the slot
 *     ... use b, tc_batch_free(b) ...
 *     tc_shm_release(pool, slot, ticket);
 *   }
 *
 * A batch larger than a slot (or any batch, from a server without shared memory) comes in the message as
 * usual: check b->shm. A slot's holder can hand it to another process of the tree (a DataLoader worker to
 * the main process) with its ticket: the receiver calls tc_shm_adopt. The pool's memory is charged to the
 * process that made it (its cgroup), never to the server.
 */
typedef struct tc_shm_pool tc_shm_pool;

/* The side socket's wire format, kept here once for the library and the server: the socket is PATH.shm
 * next to unix:PATH, and the client's 16-byte header {magic, u64 little-endian pool size} starts with
 * these 8 bytes (server/shm_socket.h has the whole exchange). */
#define TC_SHM_SIDE_SUFFIX ".shm"
#define TC_SHM_MAGIC "TCSHM\0\0\1"

/* Makes a pool of N_SLOTS slots of SLOT_BYTES (rounded up to pages): TC_EINVAL for 0 or too many,
 * TC_ENOMEM when the memory cannot be had. Free it with tc_shm_pool_free (in each process that has it). */
TC_API int tc_shm_pool_new(size_t slot_bytes, size_t n_slots, tc_shm_pool **out);
/* Unmaps the pool in this process and closes its side connection here; the server lets it go once no
 * process of the tree holds that connection. NULL is fine. */
TC_API void tc_shm_pool_free(tc_shm_pool *pool);
/* Hands the pool to CLIENT's server, over the side socket PATH.shm next to unix:PATH (once per pool; a
 * second call for the same server is a no-op). TC_EUNIMPLEMENTED for a target that is not a Unix socket
 * path; the server's status (e.g. TC_ERESOURCE_EXHAUSTED past its --shm-bytes) or TC_EUNAVAILABLE (no side
 * socket: an older server, or --shm-bytes 0) otherwise, with tc_last_error(client) saying why. */
TC_API int tc_shm_attach(tc_shm_pool *pool, tc_client *client);
/* 1 once the pool was attached (in this process or the one it was forked from). */
TC_API int tc_shm_attached(const tc_shm_pool *pool);

/* Takes a free slot for the calling process (or one whose holder died): *slot and the *ticket to release
 * or hand it over with. TC_ERESOURCE_EXHAUSTED when every slot is held by a live process. */
TC_API int tc_shm_acquire(tc_shm_pool *pool, uint32_t *slot, uint64_t *ticket);
/* The calling process takes over SLOT from the holder of TICKET; *ticket becomes the new one.
 * TC_EFAILED_PRECONDITION when the slot changed hands meanwhile (its holder died and it was taken back). */
TC_API int tc_shm_adopt(tc_shm_pool *pool, uint32_t slot, uint64_t *ticket);
/* Gives SLOT back if the calling process holds it under TICKET (else nothing happens: TC_EFAILED_PRECONDITION).
 * Batches in it must not be used any more. */
TC_API int tc_shm_release(tc_shm_pool *pool, uint32_t slot, uint64_t ticket);
/* The slot's memory in this process, and its size. NULL for a slot out of range. */
TC_API uint8_t *tc_shm_slot_data(const tc_shm_pool *pool, uint32_t slot, size_t *size);
/* Slots, and how many are held right now (by anyone, dead holders included). */
TC_API void tc_shm_pool_stats(const tc_shm_pool *pool, size_t *n_slots, size_t *held);

/* ------------------------------------------------------------------------------------------------------ */
/* Tables */

typedef struct tc_table_info {
  const char *name;
  tc_schema schema; /* empty in tc_list_tables results */
  int64_t num_rows;
  const char *version;
  size_t n_files; /* relative to the data dir, in row order; none in tc_list_tables results */
  const char *const *files;
  int64_t num_bytes;
} tc_table_info;

typedef struct tc_table_list {
  size_t n_tables; /* sorted by name */
  const tc_table_info *tables;
} tc_table_list;

/* ListTables. *out: free with tc_table_list_free. */
TC_API int tc_list_tables(tc_client *client, const tc_call_opts *call, tc_table_list **out);
TC_API void tc_table_list_free(tc_table_list *list);

/* DescribeTable. *out: free with tc_table_info_free. */
TC_API int tc_describe_table(tc_client *client, const char *table, const tc_call_opts *call, tc_table_info **out);
TC_API void tc_table_info_free(tc_table_info *info);

/* TakeRows: rows by global index, in the order asked. Zero-initialize, then set the fields. */
typedef struct tc_take_rows_req {
  const char *table;
  const int64_t *indices;
  size_t n_indices;
  const char *const *columns; /* NULL / 0: all columns */
  size_t n_columns;
  const char *version; /* NULL or "": any version; else FAILED_PRECONDITION unless it matches */
  tc_shm_pool *shm;    /* optional, attached: write the batch into slot shm_slot (see "Batches through shared
                          memory") */
  uint32_t shm_slot;
} tc_take_rows_req;

/* *out: free with tc_batch_free. */
TC_API int tc_take_rows(tc_client *client, const tc_take_rows_req *req, const tc_call_opts *call, tc_batch **out);

/* ------------------------------------------------------------------------------------------------------ */
/* Permutations */

typedef enum tc_split_kind {
  TC_SPLIT_NONE = 0, /* one split holding every row */
  TC_SPLIT_RANDOM = 1,
  TC_SPLIT_SEQUENTIAL = 2,
  TC_SPLIT_HASH = 3
} tc_split_kind;

/*
 * CreatePermutationRequest. Zero-initialize, then set the fields (all zero: table order, one split).
 * RANDOM and SEQUENTIAL splits take exactly one of ratios, counts or fixed; HASH takes hash_columns and
 * weights.
 */
typedef struct tc_permutation_spec {
  const char *table;
  int shuffle; /* nonzero: shuffle the rows with shuffle_seed and clump_size */
  uint64_t shuffle_seed;
  int64_t clump_size; /* shuffle runs of this many rows (0 or 1: single rows) */
  int split;          /* tc_split_kind */
  size_t n_ratios;
  const double *ratios;
  size_t n_counts;
  const int64_t *counts;
  int32_t fixed;         /* that many equal parts */
  uint64_t split_seed;   /* TC_SPLIT_RANDOM */
  size_t n_hash_columns; /* TC_SPLIT_HASH */
  const char *const *hash_columns;
  size_t n_weights;
  const int64_t *weights;
  size_t n_split_names; /* names of the splits; default "0", "1", ... */
  const char *const *split_names;
} tc_permutation_spec;

typedef struct tc_split_info {
  const char *name;
  int64_t num_rows;
} tc_split_info;

typedef struct tc_permutation_info {
  const char *id;
  const char *table;
  const char *table_version;
  int64_t num_rows; /* rows of the table */
  size_t n_splits;
  const tc_split_info *splits;
  tc_permutation_spec spec; /* the spec, as the server echoes it; its pointers live in this object */
} tc_permutation_info;

/* CreatePermutation (idempotent: same table version and spec, same id). *out: tc_permutation_info_free. */
TC_API int tc_create_permutation(tc_client *client, const tc_permutation_spec *spec, const tc_call_opts *call,
                                 tc_permutation_info **out);
/* DescribePermutation. *out: free with tc_permutation_info_free. */
TC_API int tc_describe_permutation(tc_client *client, const char *id, const tc_call_opts *call,
                                   tc_permutation_info **out);
TC_API void tc_permutation_info_free(tc_permutation_info *info);

/* ReadBatch: rows [offset, offset + batch_size) of a split. Zero-initialize, then set the fields. */
typedef struct tc_read_batch_req {
  const char *permutation; /* tc_permutation_info.id */
  const char *split;       /* a split's name, or its index in decimal */
  int64_t offset;
  int64_t batch_size;         /* 1 or more */
  const char *const *columns; /* NULL / 0: all columns */
  size_t n_columns;
  tc_shm_pool *shm; /* optional, attached: write the batch into slot shm_slot (see "Batches through shared
                       memory") */
  uint32_t shm_slot;
} tc_read_batch_req;

/* *out: free with tc_batch_free. */
TC_API int tc_read_batch(tc_client *client, const tc_read_batch_req *req, const tc_call_opts *call, tc_batch **out);

/* ------------------------------------------------------------------------------------------------------ */
/* StreamBatches */

typedef struct tc_stream tc_stream;

/* StreamBatchesRequest. Zero-initialize, then set the fields. */
typedef struct tc_stream_req {
  const char *permutation;
  const char *split;
  int64_t start;       /* first position in the split */
  int64_t end;         /* one past the last; 0: the end of the split */
  int64_t batch_size;  /* 1 or more */
  int32_t shard_index; /* shard shard_index of shard_count (0 of 0 or 1: everything) */
  int32_t shard_count;
  const char *const *columns;
  size_t n_columns;
} tc_stream_req;

/*
 * Starts a StreamBatches call (the request is sent at once; errors show in tc_stream_next). *out: free with
 * tc_stream_free, before the client. Other calls and streams may use the client while the stream is open.
 *
 * The stream reads one message at a time: HTTP/2 flow control credit is only returned to the server for
 * what tc_stream_next consumed, so at most about tc_options.stream_window_bytes wait in memory.
 * No grpc-timeout is sent for a stream (an epoch may take hours); call->timeout_ms bounds each wait instead.
 * When the connection is lost, the sidecar restarts or the handle is used in a forked child, the stream is
 * resumed after the last batch delivered (batch offsets continue as if nothing happened).
 */
TC_API int tc_stream_batches(tc_client *client, const tc_stream_req *req, const tc_call_opts *call, tc_stream **out);

/*
 * The next batch: returns TC_OK with *out a batch (free with tc_batch_free), TC_OK with *out NULL at the end
 * of the stream, or an error; the message of an error is in tc_last_error() of the stream's client.
 * TC_EDEADLINE_EXCEEDED (no batch within the timeout) leaves the stream open: calling again waits again.
 * After any other error, and after the end, the stream is finished: further calls return the same.
 */
TC_API int tc_stream_next(tc_stream *stream, tc_batch **out);

/* Cancels the stream if it is still running, and frees it. NULL is fine. */
TC_API void tc_stream_free(tc_stream *stream);

/* ------------------------------------------------------------------------------------------------------ */
/* grpc.health.v1.Health/Check */

enum { TC_HEALTH_UNKNOWN = 0, TC_HEALTH_SERVING = 1, TC_HEALTH_NOT_SERVING = 2, TC_HEALTH_SERVICE_UNKNOWN = 3 };

/* service: "" (NULL) for the server, or e.g. "tablecar.v1.Tablecar". *status: a TC_HEALTH_* value. */
TC_API int tc_health_check(tc_client *client, const char *service, const tc_call_opts *call, int *status);

#ifdef __cplusplus
}
#endif
#endif /* TABLECAR_H */
