"""tablecar: Python client of the tablecar sidecar, over the fork-safe C library libtablecar (ctypes).

    import tablecar
    db = tablecar.connect("unix:/tmp/tablecar.sock")
    table = db.open_table("example")
    perm = (tablecar.permutation_builder(table)
            .split_random(ratios=[0.9, 0.1], seed=1, names=["train", "val"])
            .shuffle(seed=7)
            .execute())
    train = perm.split("train").with_format("torch")
    loader = torch.utils.data.DataLoader(train, batch_size=256, num_workers=4, collate_fn=tablecar.collate)

See README.md next to this package.
"""
from ._lib import find_library, library_path
from .client import Connection, Table, connect
from .errors import (AbortedError, AlreadyExistsError, CancelledError, ConnectError, DataLossError,
                     DeadlineExceededError, FailedPreconditionError, InternalError, InvalidArgumentError,
                     NotFoundError, OutOfMemoryError, OutOfRangeError, PermissionDeniedError, ProtocolError,
                     ResourceExhaustedError, TablecarError, UnauthenticatedError, UnavailableError,
                     UnimplementedError, UnknownError)
from .formats import FORMATS, ROW_ID_COLUMN
from .permutation import Permutation, PermutationBuilder, SplitInfo, permutation_builder
from .schema import Field, Schema
from .torch import IterablePermutation, RowBatch, collate

__version__ = "0.2.0"

__all__ = [
    "connect", "Connection", "Table", "Schema", "Field", "permutation_builder", "PermutationBuilder",
    "Permutation", "IterablePermutation", "RowBatch", "SplitInfo", "collate", "FORMATS", "ROW_ID_COLUMN",
    "find_library", "library_path", "TablecarError", "CancelledError", "UnknownError", "InvalidArgumentError",
    "DeadlineExceededError", "NotFoundError", "AlreadyExistsError", "PermissionDeniedError",
    "ResourceExhaustedError", "FailedPreconditionError", "AbortedError", "OutOfRangeError",
    "UnimplementedError", "InternalError", "UnavailableError", "DataLossError", "UnauthenticatedError",
    "OutOfMemoryError", "ConnectError", "ProtocolError",
]
