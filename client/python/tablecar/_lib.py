"""ctypes bindings of libtablecar (include/tablecar.h), and where the library is found.

Only this module knows the C layout. The structures mirror the header field by field; the tests compare
their sizes with the header's (tests/python/test_api.py), so a change of the header shows up at once.

The library is found, in order:
  1. TABLECAR_LIBRARY: a path to libtablecar.so (what the tests set);
  2. the dynamic loader's cache: ctypes.util.find_library("tablecar") (after `cmake --install` + ldconfig);
  3. the standard library directories, where `cmake --install` puts it with the usual prefixes (the venv's
     or Python's prefix, /usr/local, /usr; lib/ and the multiarch lib/<triplet>/), so an install that
     ldconfig has not seen yet is found too;
  4. "libtablecar.so.0" through the dynamic loader (LD_LIBRARY_PATH).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import sysconfig
from ctypes import (POINTER, Structure, c_char_p, c_double, c_int, c_int32, c_int64, c_size_t, c_uint32,
                    c_uint64, c_void_p)
from pathlib import Path

# ---------------------------------------------------------------------------------------------------------
# Status codes (tablecar.h)

OK = 0
SPLIT_NONE, SPLIT_RANDOM, SPLIT_SEQUENTIAL, SPLIT_HASH = 0, 1, 2, 3
HEALTH_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

# ---------------------------------------------------------------------------------------------------------
# Structures


class Options(Structure):
    _cname_ = "tc_options"
    _fields_ = [
        ("timeout_ms", c_int64),
        ("max_recv_message_bytes", c_size_t),
        ("stream_window_bytes", c_uint32),
        ("connection_window_bytes", c_uint32),
        ("retry", c_int),
        ("backoff_initial_ms", c_int64),
        ("backoff_max_ms", c_int64),
        ("backoff_multiplier", c_double),
        ("backoff_jitter", c_double),
        ("authority", c_char_p),
    ]


class CallOpts(Structure):
    _cname_ = "tc_call_opts"
    _fields_ = [("timeout_ms", c_int64), ("no_retry", c_int)]


class KV(Structure):
    _cname_ = "tc_kv"
    _fields_ = [("key", c_char_p), ("value", c_char_p)]


class Field(Structure):
    _cname_ = "tc_field"
    pass


Field._fields_ = [
    ("name", c_char_p),
    ("type", c_int),
    ("byte_width", c_int32),
    ("list_size", c_int32),
    ("unit", c_int),
    ("timezone", c_char_p),
    ("nullable", c_int),
    ("dictionary_encoded", c_int),
    ("n_children", c_size_t),
    ("children", POINTER(Field)),
    ("n_metadata", c_size_t),
    ("metadata", POINTER(KV)),
    ("ndim", c_size_t),
    ("shape", POINTER(c_int64)),
    ("element_type", c_int),
]


class Schema(Structure):
    _cname_ = "tc_schema"
    _fields_ = [
        ("n_fields", c_size_t),
        ("fields", POINTER(Field)),
        ("n_metadata", c_size_t),
        ("metadata", POINTER(KV)),
    ]


class Column(Structure):
    _cname_ = "tc_column"
    pass


# Buffers are c_void_p (an int address or None), not POINTER(c_uint8): formats.py makes numpy views on them.
Column._fields_ = [
    ("field", POINTER(Field)),
    ("name", c_char_p),
    ("type", c_int),
    ("length", c_int64),
    ("null_count", c_int64),
    ("validity", c_void_p),
    ("validity_size", c_size_t),
    ("offsets", c_void_p),
    ("offsets_size", c_size_t),
    ("values", c_void_p),
    ("values_size", c_size_t),
    ("n_children", c_size_t),
    ("children", POINTER(Column)),
]


class Batch(Structure):
    _cname_ = "tc_batch"
    _fields_ = [
        ("table", c_char_p),
        ("version", c_char_p),
        ("num_rows", c_int64),
        ("offset", c_int64),
        ("row_ids", c_void_p),
        ("row_ids_size", c_size_t),
        ("n_columns", c_size_t),
        ("columns", POINTER(Column)),
        ("shm", c_int),
    ]


class TableInfo(Structure):
    _cname_ = "tc_table_info"
    _fields_ = [
        ("name", c_char_p),
        ("schema", Schema),
        ("num_rows", c_int64),
        ("version", c_char_p),
        ("n_files", c_size_t),
        ("files", POINTER(c_char_p)),
        ("num_bytes", c_int64),
    ]


class TableList(Structure):
    _cname_ = "tc_table_list"
    _fields_ = [("n_tables", c_size_t), ("tables", POINTER(TableInfo))]


class TakeRowsReq(Structure):
    _cname_ = "tc_take_rows_req"
    _fields_ = [
        ("table", c_char_p),
        ("indices", POINTER(c_int64)),
        ("n_indices", c_size_t),
        ("columns", POINTER(c_char_p)),
        ("n_columns", c_size_t),
        ("version", c_char_p),
        ("shm", c_void_p),
        ("shm_slot", c_uint32),
    ]


class PermutationSpec(Structure):
    _cname_ = "tc_permutation_spec"
    _fields_ = [
        ("table", c_char_p),
        ("shuffle", c_int),
        ("shuffle_seed", c_uint64),
        ("clump_size", c_int64),
        ("split", c_int),
        ("n_ratios", c_size_t),
        ("ratios", POINTER(c_double)),
        ("n_counts", c_size_t),
        ("counts", POINTER(c_int64)),
        ("fixed", c_int32),
        ("split_seed", c_uint64),
        ("n_hash_columns", c_size_t),
        ("hash_columns", POINTER(c_char_p)),
        ("n_weights", c_size_t),
        ("weights", POINTER(c_int64)),
        ("n_split_names", c_size_t),
        ("split_names", POINTER(c_char_p)),
    ]


class SplitInfo(Structure):
    _cname_ = "tc_split_info"
    _fields_ = [("name", c_char_p), ("num_rows", c_int64)]


class PermutationInfo(Structure):
    _cname_ = "tc_permutation_info"
    _fields_ = [
        ("id", c_char_p),
        ("table", c_char_p),
        ("table_version", c_char_p),
        ("num_rows", c_int64),
        ("n_splits", c_size_t),
        ("splits", POINTER(SplitInfo)),
        ("spec", PermutationSpec),
    ]


class ReadBatchReq(Structure):
    _cname_ = "tc_read_batch_req"
    _fields_ = [
        ("permutation", c_char_p),
        ("split", c_char_p),
        ("offset", c_int64),
        ("batch_size", c_int64),
        ("columns", POINTER(c_char_p)),
        ("n_columns", c_size_t),
        ("shm", c_void_p),
        ("shm_slot", c_uint32),
    ]


class StreamReq(Structure):
    _cname_ = "tc_stream_req"
    _fields_ = [
        ("permutation", c_char_p),
        ("split", c_char_p),
        ("start", c_int64),
        ("end", c_int64),
        ("batch_size", c_int64),
        ("shard_index", c_int32),
        ("shard_count", c_int32),
        ("columns", POINTER(c_char_p)),
        ("n_columns", c_size_t),
    ]


# Opaque handles.
ClientP = c_void_p
StreamP = c_void_p
PoolP = c_void_p

# ---------------------------------------------------------------------------------------------------------
# Loading


def _standard_dirs() -> list[Path]:
    """Where `cmake --install` puts the library with the usual prefixes (GNUInstallDirs' lib or lib/<triplet>)."""
    triplet = sysconfig.get_config_var("MULTIARCH") or ""
    dirs: list[Path] = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, "/usr/local", "/usr")):
        for sub in ("lib", f"lib/{triplet}" if triplet else "", "lib64"):
            if sub:
                dirs.append(Path(prefix) / sub)
    return dirs


def find_library() -> str:
    """The path (or loader name) of libtablecar to load; see the module docstring for the order."""
    env = os.environ.get("TABLECAR_LIBRARY")
    if env:
        if not Path(env).is_file():
            raise OSError(f"TABLECAR_LIBRARY={env!r} is not a file")
        return env
    found = ctypes.util.find_library("tablecar")
    if found:
        return found
    for d in _standard_dirs():
        for name in ("libtablecar.so.0", "libtablecar.so"):
            if (d / name).is_file():
                return str(d / name)
    return "libtablecar.so.0"


def _declare(lib: ctypes.CDLL) -> None:
    P = POINTER
    sig = {
        "tc_strerror": (c_char_p, [c_int]),
        "tc_status_name": (c_char_p, [c_int]),
        "tc_type_name": (c_char_p, [c_int]),
        "tc_type_fixed_width": (c_int, [c_int]),
        "tc_version": (c_uint32, []),
        "tc_version_string": (c_char_p, []),
        "tc_abi_sizeof": (c_size_t, [c_char_p]),
        "tc_options_init": (None, [P(Options)]),
        "tc_client_new": (c_int, [c_char_p, P(Options), P(ClientP)]),
        "tc_client_free": (None, [ClientP]),
        "tc_last_error": (c_char_p, [ClientP]),
        "tc_batch_free": (None, [P(Batch)]),
        "tc_list_tables": (c_int, [ClientP, P(CallOpts), P(P(TableList))]),
        "tc_table_list_free": (None, [P(TableList)]),
        "tc_describe_table": (c_int, [ClientP, c_char_p, P(CallOpts), P(P(TableInfo))]),
        "tc_table_info_free": (None, [P(TableInfo)]),
        "tc_take_rows": (c_int, [ClientP, P(TakeRowsReq), P(CallOpts), P(P(Batch))]),
        "tc_create_permutation": (c_int, [ClientP, P(PermutationSpec), P(CallOpts), P(P(PermutationInfo))]),
        "tc_describe_permutation": (c_int, [ClientP, c_char_p, P(CallOpts), P(P(PermutationInfo))]),
        "tc_permutation_info_free": (None, [P(PermutationInfo)]),
        "tc_read_batch": (c_int, [ClientP, P(ReadBatchReq), P(CallOpts), P(P(Batch))]),
        "tc_stream_batches": (c_int, [ClientP, P(StreamReq), P(CallOpts), P(StreamP)]),
        "tc_stream_next": (c_int, [StreamP, P(P(Batch))]),
        "tc_stream_free": (None, [StreamP]),
        "tc_health_check": (c_int, [ClientP, c_char_p, P(CallOpts), P(c_int)]),
        "tc_shm_pool_new": (c_int, [c_size_t, c_size_t, P(PoolP)]),
        "tc_shm_pool_free": (None, [PoolP]),
        "tc_shm_attach": (c_int, [PoolP, ClientP]),
        "tc_shm_attached": (c_int, [PoolP]),
        "tc_shm_acquire": (c_int, [PoolP, P(c_uint32), P(c_uint64)]),
        "tc_shm_adopt": (c_int, [PoolP, c_uint32, P(c_uint64)]),
        "tc_shm_release": (c_int, [PoolP, c_uint32, c_uint64]),
        "tc_shm_slot_data": (c_void_p, [PoolP, c_uint32, P(c_size_t)]),
        "tc_shm_pool_stats": (None, [PoolP, P(c_size_t), P(c_size_t)]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


# The library version this package is written for: its major and minor must match the loaded library's.
ABI_VERSION = (0, 2)


def _structures() -> list[type[Structure]]:
    return [c for c in globals().values() if isinstance(c, type) and issubclass(c, Structure) and
            hasattr(c, "_cname_")]


def _check(lib: ctypes.CDLL, path: str) -> None:
    """Refuses a library of another version, or whose structs differ from this module's copies."""
    v = lib.tc_version()
    if (v >> 16, (v >> 8) & 0xFF) != ABI_VERSION:
        raise OSError(f"libtablecar {lib.tc_version_string().decode()} ({path}) does not match this package "
                      f"(it needs {ABI_VERSION[0]}.{ABI_VERSION[1]}.x)")
    for cls in _structures():
        want = lib.tc_abi_sizeof(cls._cname_.encode())
        if want != ctypes.sizeof(cls):
            raise OSError(f"libtablecar ({path}) has another layout of {cls._cname_} ({want} bytes, this "
                          f"package expects {ctypes.sizeof(cls)}): install matching versions")


_lib: ctypes.CDLL | None = None
_lib_path: str | None = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use, so importing tablecar never fails for lack of it)."""
    global _lib, _lib_path
    if _lib is None:
        path = find_library()
        try:
            loaded = ctypes.CDLL(path)
        except OSError as e:
            raise OSError(f"cannot load libtablecar ({path}): {e}; set TABLECAR_LIBRARY to its path") from e
        _declare(loaded)
        _check(loaded, path)
        _lib, _lib_path = loaded, path
    return _lib


def library_path() -> str:
    """Where the loaded library came from (loads it)."""
    lib()
    return _lib_path or ""


def strerror(code: int) -> str:
    return lib().tc_strerror(code).decode()


def status_name(code: int) -> str:
    """"NOT_FOUND", "ENOMEM", ... (the library's list); the number for a code it does not know."""
    name = lib().tc_status_name(code).decode()
    return str(code) if name == "?" else name


def type_name(type_id: int) -> str:
    """Arrow's name of a tablecar type id (the library's list); "typeN" for an id it does not know."""
    name = lib().tc_type_name(type_id)
    return name.decode() if name is not None else f"type{type_id}"


def type_fixed_width(type_id: int) -> int:
    """Bytes per value of a fixed-width type; 0 for the others."""
    return lib().tc_type_fixed_width(type_id)


def cstrs(items) -> tuple[ctypes.Array | None, int]:
    """A char *const * array for a list of str (NULL for an empty or None list) and its length."""
    if not items:
        return None, 0
    enc = [s.encode() for s in items]
    return (c_char_p * len(enc))(*enc), len(enc)
