"""Exceptions: one class per gRPC status (the server's code and message, unchanged), plus local errors.

Every exception is a TablecarError(code, message); `code` is the C library's status (a gRPC code 1..16, or a
negative local error) and `status` its name ("NOT_FOUND", ...). Some classes also derive from the builtin
that Python code expects: OutOfRangeError is an IndexError (so iteration by __getitem__ and DataLoader
samplers stop on it), DeadlineExceededError a TimeoutError, UnavailableError/ConnectError ConnectionErrors.
`args` is (code, message), so the exceptions pickle (DataLoader workers send them to the main process).
"""
from __future__ import annotations

from . import _lib


class TablecarError(Exception):
    """A failed tablecar call: `code` (int), `status` (its name) and the server's or library's `message`."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(code, message)
        self.code = code
        self.message = message

    @property
    def status(self) -> str:
        return _lib.GRPC_CODE_NAMES.get(self.code) or _lib.LOCAL_CODE_NAMES.get(self.code, str(self.code))

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status


class CancelledError(TablecarError): pass
class UnknownError(TablecarError): pass
class InvalidArgumentError(TablecarError, ValueError): pass
class DeadlineExceededError(TablecarError, TimeoutError): pass
class NotFoundError(TablecarError, LookupError): pass
class AlreadyExistsError(TablecarError): pass
class PermissionDeniedError(TablecarError): pass
class ResourceExhaustedError(TablecarError): pass
class FailedPreconditionError(TablecarError): pass
class AbortedError(TablecarError): pass
class OutOfRangeError(TablecarError, IndexError): pass
class UnimplementedError(TablecarError, NotImplementedError): pass
class InternalError(TablecarError): pass
class UnavailableError(TablecarError, ConnectionError): pass
class DataLossError(TablecarError): pass
class UnauthenticatedError(TablecarError): pass
# Local errors of the C library (negative codes).
class OutOfMemoryError(TablecarError, MemoryError): pass
class ConnectError(TablecarError, ConnectionError): pass
class ProtocolError(TablecarError): pass


_BY_CODE: dict[int, type[TablecarError]] = {
    1: CancelledError, 2: UnknownError, 3: InvalidArgumentError, 4: DeadlineExceededError, 5: NotFoundError,
    6: AlreadyExistsError, 7: PermissionDeniedError, 8: ResourceExhaustedError, 9: FailedPreconditionError,
    10: AbortedError, 11: OutOfRangeError, 12: UnimplementedError, 13: InternalError, 14: UnavailableError,
    15: DataLossError, 16: UnauthenticatedError,
    -1: OutOfMemoryError, -2: InvalidArgumentError, -3: ConnectError, -4: ProtocolError,
}


def error_for(code: int, message: str) -> TablecarError:
    """The exception for a C status code and message."""
    return _BY_CODE.get(code, TablecarError)(code, message)
