"""Every failure the SDK reports, carrying the server's ``code`` and ``message``.

The class names are E2B's (``SandboxException``, ``NotFoundException``,
``CommandExitException``, ...), so code that catches them keeps working after the move. Which
class a server error becomes is decided by the contract's error registry (``_contract.py``),
never by copying status numbers here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from ._contract import E2B_STATUS_ERROR_CODES, ERROR_CODES


class SandboxException(Exception):
    """The base of every error the SDK raises. ``code`` is machine-readable and stable."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later unchanged (the contract's registry says)."""
        spec = ERROR_CODES.get(self.code)
        if spec is not None:
            return bool(spec["retryable"])
        return (self.status or 0) >= 500

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


WrennError = SandboxException


class AuthenticationException(SandboxException):
    """The API key is missing, wrong or revoked (401), or envd refused its access token."""


class PermissionDeniedException(SandboxException):
    """The key may not do this (403)."""


class InvalidArgumentException(SandboxException):
    """The request was malformed or asked for something out of bounds (400)."""


class NotFoundException(SandboxException):
    """Something does not exist (404)."""


class SandboxNotFoundException(NotFoundException):
    """The sandbox does not exist, is another owner's, or was destroyed."""


class FileNotFoundException(NotFoundException):
    """No file or directory at that path in the sandbox."""


class ConflictException(SandboxException):
    """The request conflicts with the current state (409): already exists, busy, wrong state."""


class SandboxNotRunningException(ConflictException):
    """The sandbox exists but is not running (paused, pausing, resuming): resume it first."""


class RateLimitException(SandboxException):
    """Too many requests, or a pool of the key is used up (429)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: Optional[int] = None,
        retry_after_seconds: Optional[int] = None,
    ) -> None:
        super().__init__(code, message, status)
        self.retry_after_seconds = retry_after_seconds


class NotEnoughSpaceException(SandboxException):
    """The sandbox's disk is full (507)."""


class TimeoutException(SandboxException):
    """Something took longer than allowed (a request, or a deadline envd enforced)."""


class ServerException(SandboxException):
    """The control plane or a host failed (5xx). Usually worth a retry later."""


class ConnectionException(SandboxException):
    """The control plane could not be reached at all (connection refused, DNS, TLS)."""


class StreamLostException(ConnectionException):
    """A command's output stream broke and could not be reconnected within
    ``reconnect_timeout``. The command may still be running: ``commands.connect(pid)``
    picks it up."""

    def __init__(self, pid: int, waited: float, cause: BaseException) -> None:
        super().__init__(
            "stream_lost",
            f"lost the output stream of process {pid} and could not reconnect for "
            f"{round(waited)} s ({cause}); it may still be running: "
            f"commands.connect({pid}) picks it up",
        )
        self.pid = pid
        self.__cause__ = cause


class UnexpectedResponseException(SandboxException):
    """The server answered with something the SDK cannot read."""


class CommandExitException(SandboxException):
    """A command exited with a non-zero code (raised by ``run`` and ``wait``)."""

    def __init__(self, stdout: str, stderr: str, exit_code: int, error: Optional[str]) -> None:
        super().__init__("command_failed", error or f"exit status {exit_code}")
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        self.error = error


class CommandTimeoutException(TimeoutException):
    """A command ran past its ``timeout``: it was killed (its whole session), and this says so.

    ``stdout`` and ``stderr`` hold what it printed until then.
    """

    def __init__(
        self, cmd: Optional[str], pid: int, timeout: float, stdout: str, stderr: str
    ) -> None:
        what = "the command" if cmd is None else f"the command {json.dumps(cmd)}"
        super().__init__(
            "command_timeout",
            f"{what} (pid {pid}) ran longer than its timeout of {timeout:g} s and was killed",
        )
        self.cmd = cmd
        self.pid = pid
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


_NOT_RUNNING_CODES = {"sandbox_not_running", "sandbox_paused"}


def error_for_status(
    http_status: int, code: str, message: str, retry_after: Optional[int] = None
) -> SandboxException:
    """The typed error for a server code: the contract says what kind of failure it is; the
    HTTP status decides only for a code this SDK does not know (a newer server)."""
    spec = ERROR_CODES.get(code)
    status = int(spec["status"]) if spec is not None else http_status
    if status == 401:
        return AuthenticationException(code, message, http_status)
    if status == 403:
        return PermissionDeniedException(code, message, http_status)
    if status == 404:
        if code == "sandbox_not_found":
            return SandboxNotFoundException(code, message, http_status)
        if code == "file_not_found":
            return FileNotFoundException(code, message, http_status)
        return NotFoundException(code, message, http_status)
    if status == 409:
        if code in _NOT_RUNNING_CODES:
            return SandboxNotRunningException(code, message, http_status)
        return ConflictException(code, message, http_status)
    if status == 429:
        return RateLimitException(code, message, http_status, retry_after)
    if status in (408, 504):
        return TimeoutException(code, message, http_status)
    if status == 507:
        return NotEnoughSpaceException(code, message, http_status)
    if 400 <= status < 500:
        return InvalidArgumentException(code, message, http_status)
    return ServerException(code, message, http_status)


def error_from_body(
    status: int, text: str, retry_after: Optional[str] = None
) -> SandboxException:
    """The error of a non-2xx HTTP answer: Wrenn's ``{"error":{"code","message"}}``, E2B's
    ``{"code":<int>,"message"}`` or a Connect unary error ``{"code":"<name>","message"}``."""
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    after = int(retry_after) if retry_after and retry_after.strip().isdigit() else None
    if isinstance(body, dict):
        inner = body.get("error")
        if (
            isinstance(inner, dict)
            and isinstance(inner.get("code"), str)
            and isinstance(inner.get("message"), str)
        ):
            return error_for_status(status, inner["code"], inner["message"], after)
        message = body.get("message")
        if isinstance(message, str):
            code = body.get("code")
            if isinstance(code, str):
                return error_for_status(status, code, message, after)
            if status == 502 and message == "The sandbox was not found":
                return SandboxNotRunningException("sandbox_not_running", message, status)
            return error_for_status(
                status, E2B_STATUS_ERROR_CODES.get(status, f"http_{status}"), message, after
            )
    snippet = text.strip()[:200]
    detail = f": {snippet}" if snippet else ""
    if status >= 500:
        return ServerException(f"http_{status}", f"the server answered {status}{detail}", status)
    return UnexpectedResponseException(
        f"http_{status}",
        f"unexpected answer {status}{detail} (is the URL a Wrenn control plane?)",
        status,
    )


def error_from_connect(
    error: Dict[str, Any], what: str = "other", status: Optional[int] = None
) -> SandboxException:
    """The typed error of a Connect error object from envd (``{"code": "not_found", ...}``)."""
    code = str(error.get("code") or "unknown")
    message = str(error.get("message") or code)
    if code == "not_found":
        if what == "file":
            return FileNotFoundException(code, message, status)
        return NotFoundException(code, message, status)
    if code in ("invalid_argument", "out_of_range"):
        return InvalidArgumentException(code, message, status)
    if code in ("already_exists", "failed_precondition", "aborted"):
        return ConflictException(code, message, status)
    if code == "unauthenticated":
        return AuthenticationException(code, message, status)
    if code == "permission_denied":
        return PermissionDeniedException(code, message, status)
    if code == "resource_exhausted":
        return RateLimitException(code, message, status)
    if code == "deadline_exceeded":
        return TimeoutException(code, message, status)
    return ServerException(code, message, status)
