"""``client.sandboxes``: a sandbox's files without attaching to it, as the TypeScript SDK's
``sandboxes.readFile()`` / ``.archive()``. Through envd while it runs; from its disk once it
failed (state ``error``: its processes are gone, its files are kept), read on its host by a
read-only gVisor container, so a link is followed inside the sandbox, never on the host.

The reads of a failed sandbox's disk have their own errors (the contract's codes):
``files_unavailable`` (ConflictException: its disk is gone), ``files_read_busy``
(ConflictException with ``retryable`` True: another read of it is running, or its host runs as
many as it allows; try again shortly), ``files_read_too_large`` (InvalidArgumentException, 413)
and ``files_read_timeout`` (TimeoutException, 408)."""

from __future__ import annotations

from typing import Iterator, Literal, Optional, Union, overload

from .api_client import ApiClient, sandbox_path
from .exceptions import InvalidArgumentException
from .filesystem import _chunks

ReadFormat = Literal["bytes", "stream"]


class SandboxRecordsClient:
    """/v1/sandboxes/{id}/files and /archive."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    @overload
    def read_file(
        self, sandbox_id: str, path: str, user: Optional[str] = None,
        format: Literal["bytes"] = "bytes",
    ) -> bytes: ...

    @overload
    def read_file(
        self, sandbox_id: str, path: str, user: Optional[str], format: Literal["stream"]
    ) -> Iterator[bytes]: ...

    @overload
    def read_file(
        self, sandbox_id: str, path: str, *, format: Literal["stream"]
    ) -> Iterator[bytes]: ...

    def read_file(
        self, sandbox_id: str, path: str, user: Optional[str] = None, format: str = "bytes"
    ) -> Union[bytes, Iterator[bytes]]:
        """One file of the sandbox (a relative path starts in the user's home), as bytes or
        (``format="stream"``) an iterator of chunks. FileNotFoundException for no such file."""
        return self._read("files", sandbox_id, path, user, format)

    @overload
    def archive(
        self, sandbox_id: str, path: str, user: Optional[str] = None,
        format: Literal["bytes"] = "bytes",
    ) -> bytes: ...

    @overload
    def archive(
        self, sandbox_id: str, path: str, user: Optional[str], format: Literal["stream"]
    ) -> Iterator[bytes]: ...

    @overload
    def archive(
        self, sandbox_id: str, path: str, *, format: Literal["stream"]
    ) -> Iterator[bytes]: ...

    def archive(
        self, sandbox_id: str, path: str, user: Optional[str] = None, format: str = "bytes"
    ) -> Union[bytes, Iterator[bytes]]:
        """A tar (uncompressed) of a failed sandbox's path and everything under it, names
        relative to the path's parent, links stored as links. ConflictException for a sandbox
        that is not in state ``error`` (a running one's files come through ``read_file``)."""
        return self._read("archive", sandbox_id, path, user, format)

    def _read(
        self, route: str, sandbox_id: str, path: str, user: Optional[str], format: str
    ) -> Union[bytes, Iterator[bytes]]:
        if not isinstance(path, str) or not path:
            raise InvalidArgumentException("invalid_argument", "a path must be a non-empty string")
        if format not in ("bytes", "stream"):
            raise InvalidArgumentException(
                "invalid_argument", f'format must be "bytes" or "stream", got {format!r}'
            )
        # No bound on the answer's silence: the host starts a reader container first, and bounds
        # the read itself (FILES_RESCUE_LIMITS).
        response = self._api.open(
            "GET", f"{sandbox_path(sandbox_id)}/{route}", query={"path": path, "user": user},
            timeout=0,
        )
        if format == "stream":
            return _chunks(response)
        with response:
            return response.read()
