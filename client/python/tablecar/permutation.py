"""Permutations: seeded shuffles and splits of a table, read by position (the datasets of torch.py build on them).

A Permutation is a view on one split (default: split 0) with a column selection and an output format;
split(), select_columns(), with_format() and with_row_ids() return new views on the same server-side
permutation. It is a map-style torch Dataset (position -> row), with a fast batched path for DataLoader:

  __getitems__(positions) -- one RPC per batch:
    * consecutive positions (SequentialSampler/BatchSampler over the permutation, the recommended setup:
      the permutation already is the shuffle, and resuming at step k is reading at offset k * batch_size):
      one ReadBatch(offset, len). Nothing else is fetched or cached.
    * any other positions (e.g. DataLoader(shuffle=True)): one TakeRows of their global row ids, pinned to
      the permutation's table version. The position -> row id map of the split is fetched once per process
      (row_ids(): a StreamBatches of the split's cheapest column, 8 bytes of row id per row plus that column;
      the protocol has no "row ids only" read) and cached. Call perm.row_ids() before creating the
      DataLoader so that forked workers inherit it instead of each fetching it.
  iter(batch_size, shard=(i, n)) -- StreamBatches (_stream.py): the fastest way through a split, flow-controlled.
  as_iterable(batch_size) -- an IterableDataset (torch.py) that shards the split over DataLoader workers and ranks.
"""
from __future__ import annotations

import ctypes
from ctypes import POINTER, byref
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from . import _lib, shm
from .client import Connection, Table
from ._stream import Stream
from .errors import InvalidArgumentError, NotFoundError, OutOfRangeError
from .formats import check_format, convert_batch, row
from .torch import IterablePermutation, RowBatch, _Dataset


ROW_ID_CHUNK = 1 << 16  # rows per batch when fetching a split's row ids


class SplitInfo(NamedTuple):
    name: str
    num_rows: int


# ---------------------------------------------------------------------------------------------------------
# Building


def _one_of(kind: str, ratios, counts, fixed) -> None:
    if sum(x is not None for x in (ratios, counts, fixed)) != 1:
        raise InvalidArgumentError(3, f"{kind}: give exactly one of ratios, counts or fixed")


class PermutationBuilder:
    """Describes a permutation (shuffle + split) of a table; execute() creates it on the server.

    Creation is idempotent: the same table version and spec give the same id and order everywhere.
    """

    def __init__(self, table: Table):
        self._table = table
        self._shuffle: tuple[int, int] | None = None
        self._split: tuple[int, dict[str, Any]] = (_lib.SPLIT_NONE, {})
        self._names: list[str] | None = None

    def split_random(self, ratios: Sequence[float] | None = None, counts: Sequence[int] | None = None,
                     fixed: int | None = None, seed: int = 0, names: Sequence[str] | None = None):
        """Random splits by ratios (summing to at most 1), row counts, or `fixed` equal parts."""
        _one_of("split_random", ratios, counts, fixed)
        self._split = (_lib.SPLIT_RANDOM, {"ratios": ratios, "counts": counts, "fixed": fixed, "seed": seed})
        self._names = list(names) if names is not None else None
        return self

    def split_sequential(self, ratios: Sequence[float] | None = None, counts: Sequence[int] | None = None,
                         fixed: int | None = None, names: Sequence[str] | None = None):
        """Splits of consecutive rows in table order (split i follows split i-1)."""
        _one_of("split_sequential", ratios, counts, fixed)
        self._split = (_lib.SPLIT_SEQUENTIAL, {"ratios": ratios, "counts": counts, "fixed": fixed})
        self._names = list(names) if names is not None else None
        return self

    def split_hash(self, columns: Sequence[str], split_weights: Sequence[int],
                   names: Sequence[str] | None = None):
        """Splits by a hash of `columns`, weighted: a row keeps its split when rows are appended."""
        if isinstance(columns, str):
            columns = [columns]
        self._split = (_lib.SPLIT_HASH, {"columns": list(columns), "weights": list(split_weights)})
        self._names = list(names) if names is not None else None
        return self

    def shuffle(self, seed: int = 0, clump_size: int | None = None):
        """Shuffles rows (or runs of clump_size consecutive rows, for read locality) with `seed`."""
        self._shuffle = (seed, clump_size or 0)
        return self

    def execute(self) -> "Permutation":
        kind, p = self._split
        spec = _lib.PermutationSpec(table=self._table.name.encode(), split=kind)
        keep = []  # ctypes arrays referenced by spec while the call runs

        def arr(ctype, values):
            a = (ctype * len(values))(*values)
            keep.append(a)
            return a, len(values)

        if self._shuffle is not None:
            spec.shuffle = 1
            spec.shuffle_seed, spec.clump_size = self._shuffle[0] & (2**64 - 1), self._shuffle[1]
        if kind in (_lib.SPLIT_RANDOM, _lib.SPLIT_SEQUENTIAL):
            if p["ratios"] is not None:
                spec.ratios, spec.n_ratios = arr(ctypes.c_double, [float(r) for r in p["ratios"]])
            if p["counts"] is not None:
                spec.counts, spec.n_counts = arr(ctypes.c_int64, [int(c) for c in p["counts"]])
            if p["fixed"] is not None:
                spec.fixed = int(p["fixed"])
            spec.split_seed = int(p.get("seed", 0)) & (2**64 - 1)
        elif kind == _lib.SPLIT_HASH:
            cols, spec.n_hash_columns = _lib.cstrs(p["columns"])
            if cols is not None:
                spec.hash_columns = cols
            spec.weights, spec.n_weights = arr(ctypes.c_int64, [int(w) for w in p["weights"]])
        if self._names:
            names, spec.n_split_names = _lib.cstrs(self._names)
            spec.split_names = names
        db = self._table.db
        lib, h = _lib.lib(), db._handle()
        out = POINTER(_lib.PermutationInfo)()
        h.check(lib.tc_create_permutation(h.ptr, byref(spec), None, byref(out)))
        return Permutation(db, _permutation_info(out))


def permutation_builder(table: Table) -> PermutationBuilder:
    """Starts describing a permutation of `table` (LanceDB's lancedb.permutation_builder)."""
    return PermutationBuilder(table)


def _permutation_info(out) -> dict[str, Any]:
    """Copies a tc_permutation_info * into a dict and frees it."""
    lib = _lib.lib()
    try:
        p = out.contents
        return {"id": p.id.decode(), "table": p.table.decode(), "table_version": p.table_version.decode(),
                "num_rows": p.num_rows,
                "splits": tuple(SplitInfo(p.splits[i].name.decode(), p.splits[i].num_rows)
                                for i in range(p.n_splits))}
    finally:
        lib.tc_permutation_info_free(out)


# ---------------------------------------------------------------------------------------------------------
# Reading


class _Shared:
    """State shared by the views of one permutation in one process: the table schema and row-id maps."""

    def __init__(self):
        self.schema = None
        self.row_ids: dict[str, np.ndarray] = {}


class Permutation(_Dataset):
    """One split of a server-side permutation, as a map-style dataset of rows; see the module docstring."""

    def __init__(self, db: Connection, info: dict[str, Any], split: str | int = 0,
                 columns: Sequence[str] | None = None, format: str = "numpy", row_ids: bool = False,
                 _shared: _Shared | None = None):
        self._db = db
        self._info = info
        self._split_index = self._resolve_split(split)
        self._columns = tuple(columns) if columns is not None else None
        self._format = check_format(format)
        self._with_row_ids = row_ids
        self._shared = _shared or _Shared()
        shm.want(db)  # a dataset: its connection's shared-memory pool is made before workers are forked

    @classmethod
    def from_id(cls, db: Connection, id: str) -> "Permutation":
        """The permutation with this id (NotFoundError if the server does not know it)."""
        lib, h = _lib.lib(), db._handle()
        out = POINTER(_lib.PermutationInfo)()
        h.check(lib.tc_describe_permutation(h.ptr, id.encode(), None, byref(out)))
        return cls(db, _permutation_info(out))

    # ---- views ----

    def _resolve_split(self, split: str | int) -> int:
        splits = self._info["splits"]
        if isinstance(split, (int, np.integer)) and not isinstance(split, bool):
            if not -len(splits) <= split < len(splits):
                raise NotFoundError(5, f"split index {split} out of range: the permutation has "
                                       f"{len(splits)} split(s)")
            return int(split) % len(splits)
        for i, s in enumerate(splits):
            if s.name == split:
                return i
        raise NotFoundError(5, f"no split named {split!r}; splits: {[s.name for s in splits]}")

    def _view(self, **changes) -> "Permutation":
        args = {"split": self._split_index, "columns": self._columns, "format": self._format,
                "row_ids": self._with_row_ids, **changes}
        return Permutation(self._db, self._info, _shared=self._shared, **args)

    def split(self, name_or_index: str | int) -> "Permutation":
        """A view on another split, by name or index."""
        return self._view(split=name_or_index)

    def select_columns(self, columns: Sequence[str]) -> "Permutation":
        """A view that reads only these columns, in this order (unknown ones: InvalidArgumentError)."""
        if isinstance(columns, str):
            columns = [columns]
        if not columns:
            raise InvalidArgumentError(3, "select_columns needs at least one column")
        return self._view(columns=tuple(columns))

    def with_format(self, format: str) -> "Permutation":
        """A view giving "numpy" (default), "torch" or "python" values (see tablecar.formats)."""
        return self._view(format=format)

    def with_row_ids(self, enabled: bool = True) -> "Permutation":
        """A view that adds each row's global row id as a "_rowid" int64 column."""
        return self._view(row_ids=enabled)

    # ---- description ----

    id = property(lambda self: self._info["id"])
    table_name = property(lambda self: self._info["table"])
    table_version = property(lambda self: self._info["table_version"])
    num_table_rows = property(lambda self: self._info["num_rows"])
    splits = property(lambda self: list(self._info["splits"]))
    split_index = property(lambda self: self._split_index)
    split_name = property(lambda self: self._info["splits"][self._split_index].name)
    columns = property(lambda self: list(self._columns) if self._columns is not None else None)
    format = property(lambda self: self._format)

    @property
    def schema(self):
        """The schema of the rows this view reads: the table's fields (only the selected columns, in their
        order, after select_columns) with the table's schema and field metadata, unchanged. Fetched once per
        process (DescribeTable) and shared by the views of the permutation. The "_rowid" column that
        with_row_ids() adds is not a field of it."""
        if self._columns is None:
            return self._table_schema()
        try:
            return self._table_schema().select(self._columns)
        except KeyError as e:
            raise InvalidArgumentError(3, f"unknown column {e.args[0]!r} in table {self.table_name!r}") from None

    def _table_schema(self):
        if self._shared.schema is None:
            self._shared.schema = self._db._describe(self.table_name)["schema"]
        return self._shared.schema

    @property
    def metadata(self) -> dict[str, str]:
        """The table's schema metadata (e.g. metadata["huggingface"] for a Hugging Face dataset)."""
        return self.schema.metadata

    def __len__(self) -> int:
        return self._info["splits"][self._split_index].num_rows

    def __repr__(self) -> str:
        return (f"tablecar.Permutation({self.id!r}, table={self.table_name!r}, split={self.split_name!r}, "
                f"rows={len(self)}, format={self._format!r})")

    # ---- reading ----

    def _positions(self, indices) -> np.ndarray:
        n = len(self)
        pos = np.asarray(indices, dtype=np.int64).reshape(-1)
        pos = np.where(pos < 0, pos + n, pos)
        if pos.size and (pos.min() < 0 or pos.max() >= n):
            bad = int(pos[(pos < 0) | (pos >= n)][0])
            raise OutOfRangeError(11, f"position {bad} out of range: split {self.split_name!r} has {n} rows")
        return pos

    def read_batch(self, offset: int, batch_size: int) -> dict[str, Any]:
        """Rows [offset, offset + batch_size) of the split (fewer at its end), as {column: values}."""
        return self._read_batch(offset, batch_size)[0]

    def _read_batch(self, offset: int, batch_size: int, defer: bool = False):
        lib = _lib.lib()
        cols, n_cols = _lib.cstrs(self._columns)
        req = _lib.ReadBatchReq(permutation=self.id.encode(), split=self.split_name.encode(), offset=offset,
                                batch_size=batch_size, n_columns=n_cols)
        if cols is not None:
            req.columns = cols
        return self._db._batch_call(lib.tc_read_batch, req, self._format, self._with_row_ids, defer)

    def _fetch(self, indices) -> RowBatch:
        pos = self._positions(indices)
        if pos.size == 0:
            return RowBatch({}, np.empty(0, np.int64))
        if pos.size == 1 or bool(np.all(np.diff(pos) == 1)):
            cols, ids, offset, lease, pending = self._read_batch(int(pos[0]), int(pos.size), defer=True)
            return RowBatch(cols, ids, offset, lease, pending)
        ids = self.row_ids()[pos]
        cols, got, _, lease, pending = self._db._take(self.table_name, ids, self._columns, self.table_version,
                                                      self._format, self._with_row_ids, defer=True)
        return RowBatch(cols, got, -1, lease, pending)

    def __getitem__(self, index):
        """perm[i]: row i of the split as {column: value}; perm[a:b] or perm[[i, j, ...]]: those rows as one
        batch {column: batched values} (what DataLoader(batch_size=None, sampler=BatchSampler(...)) asks)."""
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            return self._fetch([index])[0]
        if isinstance(index, slice):
            index = range(*index.indices(len(self)))
        return self._fetch(index).columns

    def __getitems__(self, indices) -> RowBatch:
        """A whole DataLoader batch in one call (torch >= 1.13 calls it with the sampler's positions)."""
        return self._fetch(indices)

    def row_ids(self) -> np.ndarray:
        """Global row id of every position of the split (int64, read-only), fetched once per process."""
        name = self.split_name
        ids = self._shared.row_ids.get(name)
        if ids is None:
            ids = np.empty(len(self), np.int64)
            view = Permutation(self._db, self._info, self._split_index, [self._cheapest_column()])
            for _, got, offset in view._stream(batch_size=ROW_ID_CHUNK):
                ids[offset:offset + len(got)] = got
            ids.flags.writeable = False
            self._shared.row_ids[name] = ids
        return ids

    def _cheapest_column(self) -> str:
        """The column with the fewest bytes per row (fetching a split's row ids must fetch one column)."""
        schema = self._table_schema()

        def cost(f) -> float:
            if f.type == "bool":
                return 0.125
            if f.dtype is not None:
                return f.dtype.itemsize * (int(np.prod(f.shape)) if f.shape else 1)
            return 1e9 if f.children else 1e6

        return min(schema.fields, key=cost).name

    def _stream(self, batch_size: int, start: int = 0, end: int | None = None, shard: tuple[int, int] = (0, 1)):
        if batch_size < 1:
            raise InvalidArgumentError(3, "batch_size must be at least 1")
        index, count = shard
        if not 0 <= index < count:
            raise InvalidArgumentError(3, f"shard {index} of {count}: need 0 <= index < count")
        if end is not None and end <= start:
            return
        h = self._db._handle()
        cols, n_cols = _lib.cstrs(self._columns)
        req = _lib.StreamReq(permutation=self.id.encode(), split=self.split_name.encode(), start=start,
                             end=end or 0, batch_size=batch_size, shard_index=index, shard_count=count,
                             n_columns=n_cols)
        if cols is not None:
            req.columns = cols
        stream = Stream(h, req)
        try:
            while (out := stream.next()) is not None:
                yield convert_batch(out, self._format, self._with_row_ids)
        finally:
            stream.close()

    def iter(self, batch_size: int = 256, shard: tuple[int, int] = (0, 1), start: int = 0,
             end: int | None = None, drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """Batches {column: values} of positions [start, end) of the split, streamed (StreamBatches).

        shard=(i, n) takes the positions p with (p - start) % n == i, as torch's DistributedSampler does.
        Consume the iterator in the thread that started it (it uses that thread's connection).
        """
        for cols, ids, _ in self._stream(batch_size, start, end, shard):
            if drop_last and len(ids) < batch_size:
                return
            yield cols

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The split's rows in order (streamed in batches)."""
        for cols, ids, _ in self._stream(1024):
            for i in range(len(ids)):
                yield row(cols, i)

    def as_iterable(self, batch_size: int = 256, *, rank: int | None = None, world_size: int | None = None,
                    drop_last: bool = False) -> "IterablePermutation":
        """An IterableDataset of batches of this view, sharded over DataLoader workers and ranks."""
        return IterablePermutation(self, batch_size, rank=rank, world_size=world_size, drop_last=drop_last)
