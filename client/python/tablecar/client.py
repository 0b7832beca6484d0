"""Connections and tables: `tablecar.connect(...)`, `db.open_table(name)`, `table.take(...)`.

A Connection holds no socket itself: each thread gets its own C handle (tc_client) the first time it calls,
kept in a threading.local, because a handle must not be used by two threads at once (tablecar.h). Nothing
here is locked and no thread is started, so fork() is safe at any time between calls: a forked DataLoader
worker keeps using the handle it inherited, and the C library notices the new pid and opens the worker's
own connection without touching the parent's.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from ctypes import POINTER, byref
from typing import Any, Sequence

import numpy as np

from . import _lib, shm
from .errors import error_for
from .formats import check_format, convert_batch
from .schema import Schema

_INT64_MAX = 2**63 - 1


def _timeout_ms(timeout: float | None) -> int:
    """tc_options.timeout_ms for a timeout in seconds: -1 (none) for None, at least 1, at most INT64_MAX
    (the library takes that for no deadline) instead of wrapping around in the int64."""
    if timeout is None:
        return -1
    ms = timeout * 1000
    if ms != ms:
        raise ValueError("timeout is NaN")
    return _INT64_MAX if ms >= _INT64_MAX else max(1, int(ms))


class _Handle:
    """One tc_client, freed with the object (its finalizer also runs at interpreter exit) or by close().

    It knows the streams open on it (weakly): the C library wants them freed before the client, so close()
    frees them first, and they become closed (a stream object holds the handle, so it is never collected
    before its streams otherwise).
    """

    __slots__ = ("ptr", "_free", "streams", "__weakref__")

    def __init__(self, target: str, opts: _lib.Options):
        lib = _lib.lib()
        ptr = _lib.ClientP()
        rc = lib.tc_client_new(target.encode(), byref(opts), byref(ptr))
        if rc:
            why = lib.tc_last_error(None)  # this thread's reason (the library keeps it thread-local)
            raise error_for(rc, why.decode("utf-8", "replace") if why else f"cannot create a client for {target!r}")
        self.ptr = ptr
        self.streams = weakref.WeakSet()
        self._free = weakref.finalize(self, lib.tc_client_free, ptr)

    def close(self) -> None:
        """Frees the streams still open on the client, then the client (idempotent)."""
        for s in list(self.streams):
            s.close()
        self._free()

    def check(self, rc: int) -> None:
        """Raises the exception for a failed call, with the handle's last error message."""
        if rc:
            msg = _lib.lib().tc_last_error(self.ptr)
            raise error_for(rc, msg.decode("utf-8", "replace") if msg else "")


class Connection:
    """A connection to a tablecar sidecar; see connect()."""

    def __init__(self, target: str, timeout: float | None = 30.0, *, retry: bool = True,
                 max_message_bytes: int | None = None):
        self.target = target
        self.timeout = timeout
        self.retry = retry
        self.max_message_bytes = max_message_bytes
        self._opts = self._options()
        self._local = threading.local()
        self._handle()  # validates the target now (nothing is connected yet)

    def _options(self) -> _lib.Options:
        opts = _lib.Options()
        _lib.lib().tc_options_init(byref(opts))
        opts.timeout_ms = _timeout_ms(self.timeout)
        opts.retry = int(bool(self.retry))
        if self.max_message_bytes:
            opts.max_recv_message_bytes = self.max_message_bytes
        return opts

    def _handle(self) -> _Handle:
        h = getattr(self._local, "handle", None)
        if h is None:
            h = self._local.handle = _Handle(self.target, self._opts)
        return h

    # Pickling (spawned DataLoader workers): the settings travel, handles are made anew on the other side.
    def __getstate__(self):
        return {"target": self.target, "timeout": self.timeout, "retry": self.retry,
                "max_message_bytes": self.max_message_bytes}

    def __setstate__(self, state):
        self.__init__(state["target"], state["timeout"], retry=state["retry"],
                      max_message_bytes=state["max_message_bytes"])

    def __repr__(self) -> str:
        return f"tablecar.Connection({self.target!r})"

    def close(self) -> None:
        """Closes this thread's connection (a later call opens a new one). Iterators still streaming on it
        stop: their next batch raises CancelledError."""
        h = getattr(self._local, "handle", None)
        self._local.handle = None
        if h is not None:
            h.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- calls ----

    def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", ... (raises when unreachable after the timeout)."""
        h = self._handle()
        status = ctypes.c_int()
        h.check(_lib.lib().tc_health_check(h.ptr, service.encode(), None, byref(status)))
        return _lib.HEALTH_NAMES.get(status.value, str(status.value))

    def table_names(self) -> list[str]:
        """Names of the tables, sorted."""
        lib, h = _lib.lib(), self._handle()
        out = POINTER(_lib.TableList)()
        h.check(lib.tc_list_tables(h.ptr, None, byref(out)))
        try:
            tl = out.contents
            return [tl.tables[i].name.decode() for i in range(tl.n_tables)]
        finally:
            lib.tc_table_list_free(out)

    def open_table(self, name: str) -> "Table":
        """The table `name` at its current version (NotFoundError if there is none)."""
        return Table(self, self._describe(name))

    def _describe(self, name: str) -> dict[str, Any]:
        lib, h = _lib.lib(), self._handle()
        out = POINTER(_lib.TableInfo)()
        h.check(lib.tc_describe_table(h.ptr, name.encode(), None, byref(out)))
        try:
            t = out.contents
            return {"name": t.name.decode(), "schema": Schema._from_c(t.schema), "num_rows": t.num_rows,
                    "version": t.version.decode(), "num_bytes": t.num_bytes,
                    "files": [t.files[i].decode() for i in range(t.n_files)]}
        finally:
            lib.tc_table_info_free(out)

    def _take(self, table: str, indices, columns: Sequence[str] | None, version: str | None, fmt: str,
              with_row_ids: bool = False, defer: bool = False):
        lib, h = _lib.lib(), self._handle()
        idx = np.ascontiguousarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError("indices must be one-dimensional")
        cols, n_cols = _lib.cstrs(columns)
        req = _lib.TakeRowsReq(table=table.encode(), n_indices=len(idx), n_columns=n_cols,
                               version=(version or "").encode())
        req.indices = idx.ctypes.data_as(POINTER(ctypes.c_int64))
        if cols is not None:
            req.columns = cols
        return self._batch_call(lib.tc_take_rows, req, fmt, with_row_ids, defer)

    def _batch_call(self, fn, req, fmt: str, with_row_ids: bool, defer: bool = False):
        """A TakeRows/ReadBatch call (fn, req) into a shared-memory slot when one is free (shm.py), else
        over the socket. Returns (columns, row ids, offset, lease, pending): with a lease, the columns are
        over the slot; with DEFER, inside a DataLoader worker with fmt "torch", they are still in the numpy
        format and pending is "torch" (collate hands them over as they are; formats.finish_format makes
        tensors of them in the process that uses them), else pending is None."""
        h = self._handle()
        lease = shm.lease(self) if fmt != "python" else None  # python values are copies anyway
        if lease is not None:
            req.shm, req.shm_slot = lease.pool.ptr, lease.slot
        out = POINTER(_lib.Batch)()
        try:
            h.check(fn(h.ptr, byref(req), None, byref(out)))
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        if lease is not None and not out.contents.shm:  # too big for the slot: it came in the message
            lease.release()
            lease = None
        defer = defer and lease is not None and fmt == "torch" and shm.in_worker()
        cols, ids, offset = convert_batch(out, fmt, with_row_ids, lease, defer)
        return cols, ids, offset, lease, fmt if defer else None


def connect(target: str = "unix:/tmp/tablecar.sock", timeout: float | None = 30.0, *, retry: bool = True,
            max_message_bytes: int | None = None) -> Connection:
    """Connects (lazily) to a sidecar.

    target: unix:PATH, unix-abstract:NAME or HOST:PORT. timeout: seconds each call may take, retries
    included (None: no deadline); while the sidecar is unreachable or restarting, calls are retried with
    backoff until then (retry=False: fail at once). max_message_bytes: largest response accepted.
    """
    return Connection(target, timeout, retry=retry, max_message_bytes=max_message_bytes)


class Table:
    """One version of a table, as open_table found it (like a checked-out LanceDB table).

    `take` reads that version only: if the table's files change, it fails with FailedPreconditionError
    rather than mixing versions; `checkout_latest()` moves the object to the newest version.
    """

    def __init__(self, db: Connection, info: dict[str, Any]):
        self._db = db
        self._info = info

    name = property(lambda self: self._info["name"])
    schema: Schema = property(lambda self: self._info["schema"])  # type: ignore[assignment]
    version: str = property(lambda self: self._info["version"])  # type: ignore[assignment]
    files: list[str] = property(lambda self: list(self._info["files"]))  # type: ignore[assignment]
    num_bytes: int = property(lambda self: self._info["num_bytes"])  # type: ignore[assignment]
    db: Connection = property(lambda self: self._db)  # type: ignore[assignment]
    # The schema's Arrow metadata, unchanged (e.g. metadata["huggingface"]); field metadata is on the fields.
    metadata: dict = property(lambda self: self._info["schema"].metadata)  # type: ignore[assignment]

    def count_rows(self) -> int:
        return self._info["num_rows"]

    def __len__(self) -> int:
        return self._info["num_rows"]

    def __repr__(self) -> str:
        return f"tablecar.Table({self.name!r}, rows={len(self)}, version={self.version!r})"

    def checkout_latest(self) -> "Table":
        """Re-reads the table's description (version, schema, rows); returns self."""
        self._info = self._db._describe(self.name)
        return self

    def take(self, indices, columns: Sequence[str] | None = None, format: str = "numpy",
             with_row_ids: bool = False) -> dict[str, Any]:
        """Rows by global row index (0..count_rows()-1), in the order given, duplicates allowed.

        Returns {column: values} in `format` ("numpy", "torch", "python"; see tablecar.formats), plus
        "_rowid" when with_row_ids. OutOfRangeError (an IndexError) for an index past the end.
        """
        check_format(format)
        return self._db._take(self.name, indices, columns, self.version, format, with_row_ids)[0]
