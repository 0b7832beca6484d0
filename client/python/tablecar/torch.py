"""What PyTorch's DataLoader sees of a permutation: RowBatch and `collate` (a batch as whole columns), and
IterablePermutation (the split sharded over DataLoader workers and distributed ranks).

torch is optional: without it a Permutation is a plain map-style dataset object (see permutation.py).
Imports inside this module are absolute, so `torch` below is PyTorch, not this file.
"""
from __future__ import annotations

import collections.abc
import os
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .errors import InvalidArgumentError
from .formats import finish_format, row
from .shm import ShmBatch, in_worker

if TYPE_CHECKING:
    from .permutation import Permutation

try:  # torch is optional: without it a Permutation is a plain map-style dataset object
    from torch.utils.data import Dataset as _Dataset, IterableDataset as _IterableDataset
except ImportError:  # pragma: no cover - torch is installed wherever the tests run
    _Dataset = _IterableDataset = object  # type: ignore[assignment,misc]


class RowBatch(collections.abc.Sequence):
    """What __getitems__ returns: a sequence of rows (dicts) backed by whole columns.

    torch's default collate sees a list of row dicts and stacks them (it works, row by row);
    tablecar.collate returns `.columns` as they are, which is the point of reading a batch in one call.
    A batch in a shared-memory slot (shm.py) holds its lease; in a DataLoader worker its columns stay in the
    numpy format (`pending` names the format they become) until the main process has them.
    """

    __slots__ = ("_columns", "row_ids", "offset", "lease", "pending")

    def __init__(self, columns: dict[str, Any], row_ids: np.ndarray, offset: int = -1, lease=None,
                 pending: str | None = None):
        self._columns = columns
        self.row_ids = row_ids
        self.offset = offset
        self.lease = lease
        self.pending = pending

    @property
    def columns(self) -> dict[str, Any]:
        """{column: batched values} in the permutation's format."""
        if self.pending is not None:
            self._columns, self.pending = finish_format(self._columns, self.pending), None
        return self._columns

    def __len__(self) -> int:
        return len(self.row_ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return row(self.columns, i)

    def __repr__(self) -> str:
        return f"RowBatch({len(self)} rows, columns={list(self.columns)})"


def collate(batch):
    """collate_fn for DataLoader(perm, batch_size=B, collate_fn=tablecar.collate).

    A RowBatch (from __getitems__) becomes its columns, untouched: {column: batched values} in the
    permutation's format (use .with_format("torch") for tensors). In a worker, a batch in shared memory
    becomes a ShmBatch, which the main process unpickles into those same columns over its own mapping. A dict of columns (perm[list_of_positions])
    passes as it is. Anything else goes to torch's default_collate.
    """
    if isinstance(batch, RowBatch):
        if batch.lease is not None and in_worker():  # the main process gets it over its own mapping
            return ShmBatch(batch._columns, batch.lease, batch.pending or "numpy")
        return batch.columns
    if isinstance(batch, collections.abc.Mapping):
        return batch
    from torch.utils.data import default_collate
    return default_collate(batch)


def _rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """The distributed rank and world size: the arguments, else torch.distributed, else RANK/WORLD_SIZE."""
    if rank is None or world_size is None:
        r, w = None, None
        try:
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():
                r, w = dist.get_rank(), dist.get_world_size()
        except ImportError:  # pragma: no cover
            pass
        if r is None:
            r, w = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        rank = r if rank is None else rank
        world_size = w if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise InvalidArgumentError(3, f"rank {rank} of world size {world_size}: need 0 <= rank < world size")
    return rank, world_size


class IterablePermutation(_IterableDataset):
    """Batches of a permutation's split for DataLoader(ds, batch_size=None, num_workers=W).

    Worker w of W on rank r of R reads shard r * W + w of R * W (StreamBatches shards: positions
    p % (R*W) == shard), so all workers of all ranks together read every row of the split exactly once per
    epoch. Shards differ by at most one row; with drop_last a shard's short last batch is dropped.
    """

    def __init__(self, perm: Permutation, batch_size: int = 256, *, rank: int | None = None,
                 world_size: int | None = None, drop_last: bool = False):
        self.perm = perm
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last

    def shard(self) -> tuple[int, int]:
        """(shard_index, shard_count) of the calling process."""
        try:
            from torch.utils.data import get_worker_info
            info = get_worker_info()
        except ImportError:  # pragma: no cover
            info = None
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = _rank_world(self.rank, self.world_size)
        return rank * nw + wid, world * nw

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.perm.iter(self.batch_size, shard=self.shard(), drop_last=self.drop_last)
