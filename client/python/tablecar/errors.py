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
        return _lib.status_name(self.code)

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


# The class of each status, by the library's name for it.
_BY_NAME: dict[str, type[TablecarError]] = {
    "CANCELLED": CancelledError, "UNKNOWN": UnknownError, "INVALID_ARGUMENT": InvalidArgumentError,
    "DEADLINE_EXCEEDED": DeadlineExceededError, "NOT_FOUND": NotFoundError, "ALREADY_EXISTS": AlreadyExistsError,
    "PERMISSION_DENIED": PermissionDeniedError, "RESOURCE_EXHAUSTED": ResourceExhaustedError,
    "FAILED_PRECONDITION": FailedPreconditionError, "ABORTED": AbortedError, "OUT_OF_RANGE": OutOfRangeError,
    "UNIMPLEMENTED": UnimplementedError, "INTERNAL": InternalError, "UNAVAILABLE": UnavailableError,
    "DATA_LOSS": DataLossError, "UNAUTHENTICATED": UnauthenticatedError,
    "ENOMEM": OutOfMemoryError, "EINVAL": InvalidArgumentError, "ECONNECT": ConnectError, "EPROTO": ProtocolError,
}


def error_for(code: int, message: str) -> TablecarError:
    """The exception for a C status code and message."""
    return _BY_NAME.get(_lib.status_name(code), TablecarError)(code, message)
