"""Batches through shared memory (README, "Batches through shared memory").

On a Unix-socket connection, the sidecar writes each batch straight into a slot of a pool that this process
made and the DataLoader's workers inherited, so no byte is copied after the sidecar's gather and no page is
faulted in per batch:

  * The pool (libtablecar's tc_shm_pool: a memfd, pre-faulted, sealed) is made in the process that forks
    the workers, lazily: at its first read, or just before it forks (os.register_at_fork) when a permutation
    of that connection exists. Workers never make one: a batch in a worker's own pool could not reach the
    main process without a copy.
  * A worker reads a batch into a slot it holds; tablecar.collate returns a ShmBatch, a small handle that
    pickles as (pool, slot, ticket, array layouts). Unpickling it in the main process takes the slot over
    (tc_shm_adopt) and yields the batch as arrays/tensors over the main process's own mapping of the slot.
    The slot goes back to the pool when the last of them is freed.
  * A slot held by a worker that died is taken back by the next acquire; a batch that does not fit a slot,
    an exhausted pool, a TCP connection or TABLECAR_SHM=0 take the socket path: the same values.

Settings (environment, read when a pool is made): TABLECAR_SHM (0: off), TABLECAR_SHM_SLOT_BYTES (default
4 MiB, the largest batch a slot takes), TABLECAR_SHM_SLOTS (default 16: batches in flight plus those alive
in the main process). The pool's memory (slots x slot bytes) is charged to this process, not the sidecar.
"""
from __future__ import annotations

import ctypes
import itertools
import logging
import os
import weakref
from ctypes import byref
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _lib
from .errors import FailedPreconditionError, TablecarError, UnavailableError, error_for
from .formats import _view, finish_format, slot_owner

if TYPE_CHECKING:
    from .client import Connection

log = logging.getLogger("tablecar")

DEFAULT_SLOT_BYTES = 4 << 20
DEFAULT_SLOTS = 16


def enabled() -> bool:
    return os.environ.get("TABLECAR_SHM", "1") != "0"


def in_worker() -> bool:
    """True inside a DataLoader worker process."""
    try:
        from torch.utils.data import get_worker_info
    except ImportError:  # pragma: no cover - torch is installed wherever the tests run
        return False
    return get_worker_info() is not None


class Pool:
    """A tc_shm_pool of this process (or inherited from the process that made it), attached to one server."""

    _keys = itertools.count()

    def __init__(self, slot_bytes: int, n_slots: int):
        lib = _lib.lib()
        ptr = _lib.PoolP()
        rc = lib.tc_shm_pool_new(slot_bytes, n_slots, byref(ptr))
        if rc:
            raise error_for(rc, f"cannot make a shared-memory pool of {n_slots} x {slot_bytes} bytes")
        self.ptr = ptr
        # What a handle names the pool by: unique in the process tree (the maker's pid, then a counter).
        self.key = f"{os.getpid()}:{next(Pool._keys)}"

    def attach(self, conn: Connection) -> None:
        h = conn._handle()
        h.check(_lib.lib().tc_shm_attach(self.ptr, h.ptr))

    def acquire(self) -> tuple[int, int] | None:
        slot, ticket = ctypes.c_uint32(), ctypes.c_uint64()
        if _lib.lib().tc_shm_acquire(self.ptr, byref(slot), byref(ticket)):
            return None
        return slot.value, ticket.value

    def adopt(self, slot: int, ticket: int) -> int:
        t = ctypes.c_uint64(ticket)
        rc = _lib.lib().tc_shm_adopt(self.ptr, slot, byref(t))
        if rc:
            raise FailedPreconditionError(rc, f"shared-memory slot {slot} changed hands before its batch arrived "
                                              f"(its worker died and the slot was taken back)")
        return t.value

    def release(self, slot: int, ticket: int) -> None:
        _lib.lib().tc_shm_release(self.ptr, slot, ticket)

    def address(self, slot: int) -> tuple[int, int]:
        size = ctypes.c_size_t()
        addr = _lib.lib().tc_shm_slot_data(self.ptr, slot, byref(size))
        return addr, size.value

    def span(self) -> tuple[int, int]:
        """[start, end) of the slots in this process's address space."""
        n, _ = self.stats()
        first, _ = self.address(0)
        last, size = self.address(n - 1)
        return first, last + size

    def stats(self) -> tuple[int, int]:
        """(slots, slots held right now)."""
        n, held = ctypes.c_size_t(), ctypes.c_size_t()
        _lib.lib().tc_shm_pool_stats(self.ptr, byref(n), byref(held))
        return n.value, held.value


class Lease:
    """A slot held by this process. It goes back to the pool when this object goes (arrays over the slot
    keep it alive), unless it was handed to another process (a pickled ShmBatch)."""

    __slots__ = ("pool", "slot", "ticket", "handed", "__weakref__")

    def __init__(self, pool: Pool, slot: int, ticket: int):
        self.pool, self.slot, self.ticket, self.handed = pool, slot, ticket, False

    def release(self) -> None:
        if not self.handed:
            self.handed = True
            self.pool.release(self.slot, self.ticket)

    def __del__(self):
        try:
            self.release()  # a forked copy does nothing: the library checks the holder's pid
        except Exception:  # at interpreter exit the library may be gone; the pid's slots are taken back
            pass


# The pools of this process by server target (None: shared memory unavailable there), and by key.
_pools: dict[str, Pool | None] = {}
_by_key: dict[str, Pool] = {}
# Connections whose permutations exist: the fork hook makes their pools before workers are forked.
_wanted: dict[str, weakref.ref] = {}


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _make(conn: Connection) -> tuple[Pool | None, bool]:
    """A new pool attached to conn's server, or None; and whether that answer is final. While there is no
    side socket (the sidecar is not up yet; or it is older, or runs with --shm-bytes 0) the next read looks
    again, for the price of a stat(); a pool the sidecar refuses or one we cannot make mean the socket path
    for good."""
    path = conn.target[len("unix:"):]
    if path.startswith("//"):
        path = path[2:]
    if not os.path.exists(path + ".shm"):
        return None, False
    try:
        pool = Pool(_env_int("TABLECAR_SHM_SLOT_BYTES", DEFAULT_SLOT_BYTES),
                    _env_int("TABLECAR_SHM_SLOTS", DEFAULT_SLOTS))
    except TablecarError as e:
        log.info("tablecar: batches over the socket, not shared memory: %s", e)
        return None, True
    try:
        pool.attach(conn)
    except TablecarError as e:
        log.info("tablecar: batches over the socket, not shared memory: %s", e)
        _lib.lib().tc_shm_pool_free(pool.ptr)
        return None, not isinstance(e, UnavailableError)
    _by_key[pool.key] = pool
    return pool, True


def pool_for(conn: Connection) -> Pool | None:
    """This process's pool for conn's server, made if this process may make one."""
    if not enabled() or not conn.target.startswith("unix:") or conn.target.startswith("unix-abstract:"):
        return None
    if conn.target in _pools:
        return _pools[conn.target]
    if in_worker():
        return None  # the main process made none before forking us (e.g. TABLECAR_SHM set later)
    pool, final = _make(conn)
    if final:
        _pools[conn.target] = pool
    return pool


def want(conn: Connection) -> None:
    """Conn's permutations are datasets: make its pool before this process forks."""
    if enabled() and conn.target not in _pools:
        _wanted.setdefault(conn.target, weakref.ref(conn))


def _before_fork() -> None:
    for target, ref in list(_wanted.items()):
        conn = ref()
        if conn is not None and target not in _pools:
            try:
                pool_for(conn)
            except Exception as e:  # never break a fork: the socket path still works
                log.info("tablecar: no shared-memory pool: %s", e)
        if conn is None or target in _pools:  # else the sidecar was not up: try again at the next fork
            _wanted.pop(target, None)


os.register_at_fork(before=_before_fork)


def lease(conn: Connection) -> Lease | None:
    """A slot of conn's pool for one read, or None (no pool, or every slot taken)."""
    pool = pool_for(conn)
    got = pool.acquire() if pool is not None else None
    return Lease(pool, *got) if got is not None else None


def stats(conn: Connection) -> tuple[int, int] | None:
    """(slots, held) of this process's pool for conn's server; None when it has none."""
    pool = _pools.get(conn.target)
    return pool.stats() if pool is not None else None


def existing_pool(conn: Connection) -> Pool | None:
    """This process's pool for conn's server, if it has one (makes none)."""
    return _pools.get(conn.target)


# ---------------------------------------------------------------------------------------------------------
# Handing a batch to the main process


def _slot_view(arr: np.ndarray, lease: Lease) -> bool:
    """True when arr is a C-contiguous view over LEASE's slot."""
    owner = slot_owner(arr)
    return owner is not None and owner.lease is lease and arr.flags.c_contiguous


def _encode(value: Any, lease: Lease, start: int) -> tuple:
    if isinstance(value, np.ma.MaskedArray):
        return ("masked", _encode(value.data, lease, start), np.ma.getmaskarray(value))
    if isinstance(value, np.ndarray) and value.dtype != object and _slot_view(value, lease):
        return ("slot", value.__array_interface__["data"][0] - start, value.dtype.str, value.shape)
    return ("value", value)


class ShmBatch:
    """What tablecar.collate returns in a worker for a batch in shared memory: pickled, it is a few hundred
    bytes; unpickled (in the main process) it is the batch's {column: values}, over that process's mapping.
    """

    __slots__ = ("columns", "lease", "fmt")

    def __init__(self, columns: dict[str, Any], lease: Lease, fmt: str):
        self.columns, self.lease, self.fmt = columns, lease, fmt

    def __reduce__(self):
        start, _ = self.lease.pool.address(self.lease.slot)
        layout = {k: _encode(v, self.lease, start) for k, v in self.columns.items()}
        self.lease.handed = True  # the receiver adopts it; from now on it is not ours to release
        return _rebuild, (self.lease.pool.key, self.lease.slot, self.lease.ticket, layout, self.fmt)


class SlotOwner:
    """The owner of arrays rebuilt over a slot: keeps the lease while any of them lives."""

    __slots__ = ("lease", "__weakref__")

    def __init__(self, lease: Lease):
        self.lease = lease


def _decode(item: tuple, start: int, owner: SlotOwner) -> Any:
    kind = item[0]
    if kind == "masked":
        return np.ma.MaskedArray(_decode(item[1], start, owner), mask=item[2])
    if kind == "slot":
        _, offset, dtype, shape = item
        dtype = np.dtype(dtype)
        return _view(start + offset, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, dtype, tuple(shape), owner,
                     "")
    return item[1]


def _rebuild(key: str, slot: int, ticket: int, layout: dict[str, tuple], fmt: str) -> dict[str, Any]:
    pool = _by_key.get(key)
    if pool is None:
        raise FailedPreconditionError(9, f"a batch in shared-memory pool {key} reached a process without that "
                                         f"pool (shared-memory batches are for the DataLoader's main process)")
    owner = SlotOwner(Lease(pool, slot, pool.adopt(slot, ticket)))
    start, _ = pool.address(slot)
    cols = {k: _decode(v, start, owner) for k, v in layout.items()}
    return finish_format(cols, fmt)
