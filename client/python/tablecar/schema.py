"""A small, plain-Python description of a table's schema (copied out of the C result, which is freed).

It is deliberately not pyarrow: users get names, type names, shapes, nullability and metadata, which is what
a training script looks at; a `dtype` tells which numpy dtype the numpy format gives a column.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from . import _lib

TIME_UNITS = {0: "s", 1: "ms", 2: "us", 3: "ns"}

# numpy's kind letter for the fixed-width types numpy reads as they are (formats.py views them zero-copy); the
# names and widths come from the library's type list.
_NUMPY_KINDS = {"int": "i", "uint": "u", "float": "f"}


@functools.lru_cache(maxsize=None)
def type_name(type_id: int) -> str:
    return _lib.type_name(type_id)


@functools.lru_cache(maxsize=None)
def numpy_dtype(type_id: int, unit: int = 0) -> np.dtype | None:
    """The numpy dtype of a fixed-width type's values as served, or None (bool, strings, nested...)."""
    name = _lib.type_name(type_id)
    if name == "timestamp":
        return np.dtype(f"<M8[{TIME_UNITS.get(unit, 's')}]")
    if name == "date32":
        return np.dtype("<M8[D]")  # date32 is widened (copied) from int32 days
    if name == "date64":
        return np.dtype("<M8[ms]")
    width = _lib.type_fixed_width(type_id)
    kind = _NUMPY_KINDS.get(name.rstrip("0123456789"))
    return np.dtype(f"<{kind}{width}") if width and kind else None


def _kvs(n: int, p) -> dict[str, str]:
    return {p[i].key.decode(): p[i].value.decode() for i in range(n)}


@dataclass(frozen=True)
class Field:
    """One column (or a nested child): `type` is the Arrow type name ("int64", "fixed_size_list", ...).

    For a chain of fixed-size lists over a fixed-width type (an image), `shape` is one row's shape, e.g.
    (3, 8, 8), and `element_type` the leaf type name ("uint8"); otherwise shape is () and element_type None.
    """
    name: str
    type: str
    nullable: bool
    shape: tuple[int, ...] = ()
    element_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    children: tuple["Field", ...] = ()
    byte_width: int = 0
    list_size: int = 0
    unit: str | None = None
    timezone: str | None = None
    dictionary_encoded: bool = False
    type_id: int = 0
    element_type_id: int = 0
    unit_id: int = 0

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype of the column in the numpy format (of its elements, for shaped columns); None when the
        numpy format gives an object array (strings, binaries, lists, structs)."""
        t = self.element_type_id if self.shape else self.type_id
        return np.dtype(bool) if type_name(t) == "bool" else numpy_dtype(t, self.unit_id)

    @classmethod
    def _from_c(cls, f: _lib.Field) -> "Field":
        ts = type_name(f.type) == "timestamp"
        return cls(
            name=f.name.decode(),
            type=type_name(f.type),
            nullable=bool(f.nullable),
            shape=tuple(f.shape[i] for i in range(f.ndim)),
            element_type=type_name(f.element_type) if f.ndim else None,
            metadata=_kvs(f.n_metadata, f.metadata),
            children=tuple(cls._from_c(f.children[i]) for i in range(f.n_children)),
            byte_width=f.byte_width,
            list_size=f.list_size,
            unit=TIME_UNITS.get(f.unit) if ts else None,
            timezone=(f.timezone.decode() or None) if ts else None,
            dictionary_encoded=bool(f.dictionary_encoded),
            type_id=f.type,
            element_type_id=f.element_type if f.ndim else 0,
            unit_id=f.unit if ts else 0,
        )


@dataclass(frozen=True)
class Schema:
    """The fields of a table, in order, and the schema's Arrow metadata."""
    fields: tuple[Field, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name_or_index: str | int) -> Field:
        if isinstance(name_or_index, int):
            return self.fields[name_or_index]
        for f in self.fields:
            if f.name == name_or_index:
                return f
        raise KeyError(name_or_index)

    __getitem__ = field

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    def select(self, names: Sequence[str]) -> "Schema":
        """The fields `names`, in that order, with the same schema metadata (KeyError for an unknown one)."""
        return Schema(tuple(self.field(n) for n in names), dict(self.metadata))

    @property
    def huggingface(self) -> dict | None:
        """The `huggingface` schema metadata that Hugging Face `datasets` writes, parsed from its JSON
        ({"info": {"features": {...}}}), or None when there is none. E.g. a ClassLabel's names:
        schema.huggingface["info"]["features"]["label"]["names"]."""
        text = self.metadata.get("huggingface")
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @classmethod
    def _from_c(cls, s: _lib.Schema) -> "Schema":
        return cls(tuple(Field._from_c(s.fields[i]) for i in range(s.n_fields)),
                   _kvs(s.n_metadata, s.metadata))
