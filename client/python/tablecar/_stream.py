"""A StreamBatches call of the C library (tc_stream), owned by Python: freed before its client, always."""
from __future__ import annotations

import weakref
from ctypes import POINTER, byref

from . import _lib
from .errors import CancelledError


class Stream:
    """One tc_stream; freed (cancelled if still running) when closed or collected, or when its connection
    is closed (then next() raises CancelledError)."""

    def __init__(self, handle, req: _lib.StreamReq):
        lib = _lib.lib()
        self.ptr = _lib.StreamP()
        self.handle = handle
        handle.check(lib.tc_stream_batches(handle.ptr, byref(req), None, byref(self.ptr)))
        # The finalizer holds the handle, and the handle's close() closes its streams first: a stream is
        # always freed before its client.
        self.close = weakref.finalize(self, _free_stream, lib, self.ptr, handle)
        handle.streams.add(self)

    def next(self):
        if not self.close.alive:
            raise CancelledError(1, "the stream is closed (its connection was closed)")
        out = POINTER(_lib.Batch)()
        self.handle.check(_lib.lib().tc_stream_next(self.ptr, byref(out)))
        return out if out else None


def _free_stream(lib, ptr, handle) -> None:
    lib.tc_stream_free(ptr)
