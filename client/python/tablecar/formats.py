"""Batches (tc_batch) to Python: the "numpy", "torch" and "python" formats.

numpy (the default)
  Fixed-width columns (ints, floats, float16, date64, timestamps) are numpy arrays *over the received
  message*: no copy. They are read-only and not aligned (the C buffers are not: numpy reads unaligned data
  correctly). Each array's base is a _View whose `owner` frees the tc_batch (tc_batch_free) only once no
  array refers to it any more, so a view stays valid as long as you hold it. Fixed-size-list chains over a
  fixed-width type (images) are one such array of shape (n, *field.shape). bool and date32 are copied (bits
  unpacked; int32 days widened to datetime64[D]). Dates and timestamps are datetime64 in their own unit
  (date32: [D], date64: [ms], timestamp: [s]/[ms]/[us]/[ns]); a timestamp's timezone is in the schema
  (Field.timezone), its values are UTC, as Arrow stores them.
  Strings/binaries (utf8, large_utf8 and the views served as them) and fixed_size_binary are object arrays
  of str/bytes, None for nulls. Lists (list, large_list, and fixed-size lists that are not images) are
  object arrays holding one numpy array per row, in this same format (a masked array when it has nulls, an
  object array for strings: list<utf8> rows are object arrays of str), None for a null row. Structs are
  object arrays of dicts {field: value} per row (None for a null row), their values being what item() gives
  for the child column (numpy scalars, str, bytes, arrays, None): a row of a struct is one object, as
  Hugging Face's Image struct<bytes, path> is one image.
  Nulls in a numeric column: the column is a numpy.ma.MaskedArray (mask True = null) over the same
  zero-copy data, so integer columns stay integers. Columns without nulls *in this batch* are plain arrays.
  An image column with null rows masks the whole row (item() gives None for a row whose elements are all
  masked; the python format tells a null row from a row of null elements).
torch
  Numeric columns become tensors that own their memory: a copy, which is aligned and writable (torch kernels
  expect element-aligned storage; torch.from_numpy accepts the unaligned read-only views but then warns, and
  a write would scribble on the received message). Inside a DataLoader worker the copy is made straight into
  shared memory, as torch's default_collate does, so sending it to the main process costs no second copy.
  uint16/uint32 widen to int32/int64, uint64 to int64 (OverflowError past 2**63-1), timestamps/dates are
  int64 tensors of their unit, nulls in float columns become NaN, and nulls in other numeric columns raise
  ValueError (torch has no nulls; choose the numpy format or other columns). Other columns are lists: of
  str/bytes/None, of dicts for structs, of per-row tensors (numeric lists) or lists (lists of strings).
python
  Lists of Python values, None exactly where Arrow has a null: int (all integer types, uint64 included),
  float (float16/32/64, the exact value the file holds), bool, str, bytes (binary, fixed_size_binary),
  datetime.date (date32), naive datetime.datetime in UTC (date64, and timestamps in s/ms/us: a timezone
  stays in the schema), int nanoseconds since the epoch (timestamps in ns, which datetime cannot hold),
  lists (list, large_list, fixed-size lists, nested), dicts (structs, in field order).
"""
from __future__ import annotations

import ctypes
import weakref
from typing import Any

import numpy as np

from . import _lib
from .errors import ProtocolError
from .schema import numpy_dtype, type_name

FORMATS = ("numpy", "torch", "python")
ROW_ID_COLUMN = "_rowid"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    return fmt


class BatchOwner:
    """Owns one tc_batch; frees it when the last numpy view over it is gone (or at interpreter exit).
    A batch in shared memory (shm.py) also holds its slot's lease, given back with it."""

    __slots__ = ("ptr", "lease", "_free", "__weakref__")

    def __init__(self, ptr, lease=None):
        self.ptr = ptr
        self.lease = lease
        self._free = weakref.finalize(self, _lib.lib().tc_batch_free, ptr)


class _View:
    """What np.asarray turns into a zero-copy array; keeps `owner` alive as the array's base. Read-only
    unless WRITABLE (tensors over a shared-memory slot: the slot is this process's while they live)."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, address: int, dtype: np.dtype, shape: tuple[int, ...], owner, writable: bool = False):
        self.__array_interface__ = {"data": (address, not writable), "typestr": dtype.str, "shape": shape,
                                    "version": 3}
        if dtype.descr[0][0]:  # datetime64 and other dtypes with a non-trivial descr
            self.__array_interface__["descr"] = dtype.descr
        self.owner = owner


def _need(what: str, have: int, need: int, name: str) -> None:
    if have < need:
        raise ProtocolError(-4, f"column {name!r}: {what} has {have} bytes, {need} needed")


def _view(address: int | None, size: int, dtype, shape: tuple[int, ...], owner, name: str) -> np.ndarray:
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.empty(shape, dtype)
    _need("values", size, count * dtype.itemsize, name)
    return np.asarray(_View(address, dtype, shape, owner))


def slot_owner(arr: np.ndarray):
    """The owner of the shared-memory slot arr's memory is in (arr is a view made over it), or None."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, _View) and getattr(base.owner, "lease", None) is not None:
        return base.owner
    return None


def _bits(address: int | None, size: int, n: int, name: str) -> np.ndarray:
    """A bit-packed LSB-first buffer as n bools (a copy)."""
    if n == 0:
        return np.zeros(0, bool)
    nbytes = (n + 7) // 8
    _need("bitmap", size, nbytes, name)
    raw = np.frombuffer((ctypes.c_uint8 * nbytes).from_address(address), np.uint8)
    return np.unpackbits(raw, bitorder="little", count=n).astype(bool)


def _invalid(c: _lib.Column, name: str) -> np.ndarray | None:
    """Mask of the null rows (True = null), or None when the column has none."""
    if c.null_count <= 0 or not c.validity:
        return None
    return ~_bits(c.validity, c.validity_size, c.length, name)


def _masked(arr: np.ndarray, invalid: np.ndarray | None):
    return arr if invalid is None else np.ma.MaskedArray(arr, mask=invalid)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _offsets(c: _lib.Column, wide: bool, name: str) -> np.ndarray:
    n = c.length
    return _view(c.offsets, c.offsets_size, "<i8" if wide else "<i4", (n + 1,), None, name) if n else \
        np.zeros(1, np.int64)


def _var(c: _lib.Column, wide: bool, text: bool, name: str) -> np.ndarray:
    n = c.length
    if n == 0:
        return np.empty(0, object)
    off = _offsets(c, wide, name).tolist()
    _need("values", c.values_size, off[-1], name)
    data = ctypes.string_at(c.values, off[-1]) if off[-1] else b""
    invalid = _invalid(c, name)
    if text:
        vals = [data[off[i]:off[i + 1]].decode("utf-8", "replace") for i in range(n)]
    else:
        vals = [data[off[i]:off[i + 1]] for i in range(n)]
    if invalid is not None:
        for i in np.flatnonzero(invalid).tolist():
            vals[i] = None
    return _objects(vals)


def item(arr, i: int):
    """Row i of a converted column (numpy format), None for a null."""
    if isinstance(arr, np.ma.MaskedArray):
        m = np.ma.getmaskarray(arr)[i]
        if m.all():
            return None
        return arr[i] if arr.ndim > 1 else arr.data[i]
    return arr[i]


def _shaped(c: _lib.Column, f: _lib.Field, owner, name: str):
    """A fixed-size-list chain over a fixed-width type, as one (n, *shape) array."""
    n = c.length
    shape = tuple(f.shape[k] for k in range(f.ndim))
    leaf, invalid = c, _invalid(c, name)
    for k in range(f.ndim):
        if leaf.n_children < 1:
            raise ProtocolError(-4, f"column {name!r}: fixed-size list without its child array")
        leaf = leaf.children[0]
        inner = _invalid(leaf, name)
        if invalid is not None or inner is not None:
            outer = np.zeros(leaf.length, bool) if invalid is None else np.repeat(invalid, shape[k])
            invalid = outer if inner is None else outer | inner[:len(outer)]
    total = n * int(np.prod(shape, dtype=np.int64))
    if type_name(f.element_type) == "bool":
        arr = _bits(leaf.values, leaf.values_size, total, name).reshape((n, *shape))
    else:
        dtype = numpy_dtype(f.element_type)
        if dtype is None:
            return None
        arr = _view(leaf.values, leaf.values_size, dtype, (n, *shape), owner, name)
    if invalid is not None:
        arr = np.ma.MaskedArray(arr, mask=invalid[:total].reshape((n, *shape)))
    return arr


def numpy_column(c: _lib.Column, owner, name: str | None = None) -> Any:
    """One column (tc_column) in the numpy format; see the module docstring."""
    name = name if name is not None else (c.name or b"").decode()
    t, n = type_name(c.type), c.length
    f = c.field.contents if c.field else None
    if t == "date32":  # int32 days
        days = _view(c.values, c.values_size, "<i4", (n,), owner, name)
        return _masked(days.astype("datetime64[D]"), _invalid(c, name))
    dtype = numpy_dtype(c.type, f.unit if f is not None else 0)
    if dtype is not None:
        return _masked(_view(c.values, c.values_size, dtype, (n,), owner, name), _invalid(c, name))
    if t == "bool":
        return _masked(_bits(c.values, c.values_size, n, name), _invalid(c, name))
    if t == "null":  # Arrow's Null type: no buffers, every value null
        return _objects([None] * n)
    if t in ("utf8", "large_utf8", "binary", "large_binary"):
        return _var(c, wide=t.startswith("large_"), text=t.endswith("utf8"), name=name)
    if t == "fixed_size_binary":
        w = f.byte_width if f is not None else 0
        _need("values", c.values_size, n * w, name)
        data = ctypes.string_at(c.values, n * w) if n * w else b""
        invalid = _invalid(c, name)
        return _objects([None if invalid is not None and invalid[i] else data[i * w:(i + 1) * w]
                         for i in range(n)])
    if t == "fixed_size_list":
        if f is not None and f.ndim:
            arr = _shaped(c, f, owner, name)
            if arr is not None:
                return arr
        size = f.list_size if f is not None else 0
        child = numpy_column(c.children[0], owner, name) if c.n_children else np.empty(0, object)
        invalid = _invalid(c, name)
        return _objects([None if invalid is not None and invalid[i] else child[i * size:(i + 1) * size]
                         for i in range(n)])
    if t in ("list", "large_list"):
        off = _offsets(c, t == "large_list", name).tolist()
        child = numpy_column(c.children[0], owner, name) if c.n_children else np.empty(0, object)
        invalid = _invalid(c, name)
        return _objects([None if invalid is not None and invalid[i] else child[off[i]:off[i + 1]]
                         for i in range(n)])
    if t == "struct":
        names = [(c.children[k].name or b"").decode() for k in range(c.n_children)]
        kids = [numpy_column(c.children[k], owner, f"{name}.{names[k]}") for k in range(c.n_children)]
        invalid = _invalid(c, name)
        return _objects([None if invalid is not None and invalid[i] else
                         {nm: item(kid, i) for nm, kid in zip(names, kids)} for i in range(n)])
    raise TypeError(f"column {name!r}: type {t} is not supported by the Python client")


# ---------------------------------------------------------------------------------------------------------
# python


def python_column(c: _lib.Column, owner, name: str | None = None) -> list:
    """One column in the python format: a list of Python values, None exactly where Arrow has a null.

    Converted from the C column itself rather than from the numpy format, whose masks cannot tell a null
    fixed-size list from one whose elements are all null."""
    name = name if name is not None else (c.name or b"").decode()
    t, n = type_name(c.type), c.length
    f = c.field.contents if c.field else None
    if t in ("list", "large_list", "fixed_size_list", "struct"):
        invalid = _invalid(c, name)
        if t == "fixed_size_list" and f is not None and f.ndim and invalid is None:
            arr = _shaped(c, f, owner, name)
            if arr is not None and not isinstance(arr, np.ma.MaskedArray):
                return arr.tolist()  # no nulls anywhere: numpy's nested lists, fast
        if t == "struct":
            names = [(c.children[k].name or b"").decode() for k in range(c.n_children)]
            kids = [python_column(c.children[k], owner, f"{name}.{names[k]}") for k in range(c.n_children)]
            out = [{nm: kid[i] for nm, kid in zip(names, kids)} for i in range(n)]
        else:
            child = python_column(c.children[0], owner, name) if c.n_children else []
            if t == "fixed_size_list":
                size = f.list_size if f is not None else 0
                out = [child[i * size:(i + 1) * size] for i in range(n)]
            else:
                off = _offsets(c, t == "large_list", name).tolist()
                out = [child[off[i]:off[i + 1]] for i in range(n)]
        if invalid is not None:
            for i in np.flatnonzero(invalid).tolist():
                out[i] = None
        return out
    return to_python(numpy_column(c, owner, name))


def to_python(value):
    """A numpy-format value (column, row or cell) as plain Python objects."""
    if isinstance(value, np.ma.MaskedArray):
        return value.tolist()  # masked entries become None
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [to_python(v) for v in value]
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------------------
# torch

_WIDEN = {np.dtype("<u2"): np.dtype("<i4"), np.dtype("<u4"): np.dtype("<i8")}


def _tensor_copy(arr: np.ndarray):
    """An aligned, writable tensor copy of arr; in a DataLoader worker, in shared memory (see docstring)."""
    import torch
    from torch.utils.data import get_worker_info

    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    owner = slot_owner(arr) if arr.size and arr.flags.c_contiguous and arr.flags.aligned else None
    if owner is not None:  # the slot's memory, kept by the tensor: no copy at all
        return torch.from_numpy(np.asarray(_View(arr.__array_interface__["data"][0], arr.dtype, arr.shape, owner,
                                                 writable=True)))
    proto = torch.from_numpy(np.empty(0, arr.dtype))
    if get_worker_info() is not None and arr.size:
        try:
            storage = proto.storage()._new_shared(arr.size)
            out = proto.new(storage).view(arr.shape)
        except (AttributeError, RuntimeError):  # private API: fall back to a plain copy
            out = torch.empty(arr.shape, dtype=proto.dtype)
    else:
        out = torch.empty(arr.shape, dtype=proto.dtype)
    out.numpy()[...] = arr
    return out


def _torch_cell(v, name: str):
    """A cell of an object column (a list row, a struct row, a string...) for the torch format."""
    if isinstance(v, np.ndarray):
        return to_torch(v, name)
    if isinstance(v, dict):
        return {k: _torch_cell(x, f"{name}.{k}") for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    return v


def to_torch(value, name: str = ""):
    """A numpy-format column as a tensor (numeric) or a list (everything else); see the module docstring."""
    if isinstance(value, np.ma.MaskedArray):
        if not np.ma.getmaskarray(value).any():
            value = value.data
        elif value.dtype.kind == "f":
            value = value.filled(np.nan)
        else:
            raise ValueError(f"column {name!r} has nulls, which torch tensors cannot hold; use the numpy "
                             f"format (masked arrays) or select other columns")
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype == object:
        return [_torch_cell(v, name) for v in value]
    if value.dtype.kind == "M":
        value = value.view("<i8")
    elif value.dtype in _WIDEN:
        value = value.astype(_WIDEN[value.dtype])
    elif value.dtype == np.dtype("<u8"):
        if value.size and value.max() > np.iinfo(np.int64).max:
            raise OverflowError(f"column {name!r}: uint64 values past 2**63-1 do not fit torch.int64")
        value = value.view("<i8")
    return _tensor_copy(value)


# ---------------------------------------------------------------------------------------------------------
# batches


def finish_format(cols: dict[str, Any], fmt: str) -> dict[str, Any]:
    """numpy-format columns in format fmt ("numpy" or "torch": the formats a batch in shared memory takes)."""
    return {k: to_torch(v, k) for k, v in cols.items()} if fmt == "torch" else cols


def convert_batch(ptr, fmt: str, with_row_ids: bool = False, lease=None,
                  defer: bool = False) -> tuple[dict[str, Any], np.ndarray, int]:
    """Takes ownership of a tc_batch * and returns (columns in format fmt, row ids (int64 copy), offset).

    lease: the shared-memory slot the batch is in (kept as long as the arrays over it). defer: leave the
    columns in the numpy format (finish_format makes them fmt later, in the process that uses them)."""
    owner = BatchOwner(ptr, lease)
    b = ptr.contents
    n = b.num_rows
    row_ids = _view(b.row_ids, b.row_ids_size, "<i8", (n,), owner, ROW_ID_COLUMN).astype(np.int64)
    cols: dict[str, Any] = {}
    if with_row_ids:
        cols[ROW_ID_COLUMN] = row_ids
    for i in range(b.n_columns):
        c = b.columns[i]
        name = (c.name or b"").decode()
        cols[name] = python_column(c, owner, name) if fmt == "python" else numpy_column(c, owner, name)
    if fmt == "python" and with_row_ids:
        cols[ROW_ID_COLUMN] = row_ids.tolist()
    elif fmt == "torch" and not defer:
        cols = finish_format(cols, fmt)
    return cols, row_ids, b.offset


def row(columns: dict[str, Any], i: int) -> dict[str, Any]:
    """Row i of a converted batch, as {column: value}; None for nulls."""
    out = {}
    for k, v in columns.items():
        if isinstance(v, np.ndarray):
            out[k] = item(v, i)
        else:
            out[k] = v[i]
    return out
