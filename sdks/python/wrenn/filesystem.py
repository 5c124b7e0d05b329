"""``sandbox.files``: read and write files (text, bytes, streams of any size) through envd's
/files, and list, stat, create, move, remove and watch through its filesystem service.
Paths are absolute, or relative to the user's home."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import IO, Any, Dict, Iterator, List, Literal, Optional, Union, overload

from .connection_config import ConnectionConfig
from .envd import EnvdConnection
from .exceptions import (
    ConflictException,
    InvalidArgumentException,
    NotFoundException,
    UnexpectedResponseException,
)

SERVICE = "filesystem.Filesystem"
# A streamed read hands out the file in pieces of this size.
CHUNK_BYTES = 64 * 1024


class FileType(str, Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


_FILE_TYPES = {
    "FILE_TYPE_FILE": FileType.FILE,
    "FILE_TYPE_DIRECTORY": FileType.DIR,
    "FILE_TYPE_SYMLINK": FileType.SYMLINK,
}


class FilesystemEventType(str, Enum):
    CREATE = "create"
    WRITE = "write"
    REMOVE = "remove"
    RENAME = "rename"
    CHMOD = "chmod"


@dataclass
class WriteInfo:
    name: str
    path: str
    type: Optional[FileType] = FileType.FILE


@dataclass
class EntryInfo:
    name: str
    type: FileType
    path: str
    size: int
    # Mode and permission bits; permissions spelled like "-rw-r--r--".
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: Optional[datetime] = None
    symlink_target: Optional[str] = None


@dataclass
class FilesystemEvent:
    # Path relative to the watched directory.
    name: str
    type: FilesystemEventType


@dataclass
class WriteEntry:
    path: str
    data: Union[str, bytes, IO[bytes]]


def _entry(e: Dict[str, Any]) -> Optional[EntryInfo]:
    """An entry from envd (protobuf JSON), or None for a type the SDK does not know."""
    kind = _FILE_TYPES.get(e.get("type", ""))
    if kind is None:
        return None
    modified = e.get("modifiedTime")
    return EntryInfo(
        name=e.get("name", ""),
        type=kind,
        path=e.get("path", ""),
        size=int(e.get("size", 0)),
        mode=int(e.get("mode", 0)),
        permissions=e.get("permissions", ""),
        owner=e.get("owner", ""),
        group=e.get("group", ""),
        modified_time=_timestamp(modified) if isinstance(modified, str) else None,
        symlink_target=e.get("symlinkTarget"),
    )


def _timestamp(value: str) -> Optional[datetime]:
    # RFC 3339 with up to nanoseconds and a Z; fromisoformat (3.9) wants micro and +00:00.
    head, _, frac = value.rstrip("Z").partition(".")
    try:
        base = datetime.fromisoformat(head + "+00:00")
    except ValueError:
        return None
    return base.replace(microsecond=int((frac + "000000")[:6])) if frac else base


def _check_path(path: str) -> None:
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgumentException(
            "invalid_argument", "a path must be a non-empty string without NUL bytes"
        )


class WatchHandle:
    """A directory watch (``files.watch_dir``): ``get_new_events()`` returns what happened
    since the last call; ``stop()`` ends it."""

    def __init__(self, files: "Filesystem", watcher_id: str) -> None:
        self._files = files
        self._id = watcher_id

    def get_new_events(self) -> List[FilesystemEvent]:
        body = self._files._call("GetWatcherEvents", {"watcherId": self._id})
        events = []
        for e in body.get("events") or []:
            name = str(e.get("type", "")).replace("EVENT_TYPE_", "").lower()
            try:
                events.append(FilesystemEvent(e.get("name", ""), FilesystemEventType(name)))
            except ValueError:
                continue
        return events

    def stop(self) -> None:
        try:
            self._files._call("RemoveWatcher", {"watcherId": self._id})
        except NotFoundException:
            pass


class Filesystem:
    def __init__(self, envd: EnvdConnection, config: ConnectionConfig) -> None:
        self._envd = envd
        self._config = config

    @overload
    def read(
        self,
        path: str,
        format: Literal["text"] = "text",
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> str: ...

    @overload
    def read(
        self,
        path: str,
        format: Literal["bytes"],
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> bytearray: ...

    @overload
    def read(
        self,
        path: str,
        format: Literal["stream"],
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> Iterator[bytes]: ...

    def read(
        self,
        path: str,
        format: str = "text",
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> Union[str, bytearray, Iterator[bytes]]:
        """Reads a file as text (default), bytes, or a stream of byte chunks (large files)."""
        _check_path(path)
        if format not in ("text", "bytes", "stream"):
            raise InvalidArgumentException(
                "invalid_argument", f'format must be "text", "bytes" or "stream", got {format!r}'
            )
        response = self._envd.files_request("GET", path, user, timeout=request_timeout)
        if format == "stream":
            return _chunks(response)
        with response:
            data = response.read()
        return data.decode("utf-8", errors="replace") if format == "text" else bytearray(data)

    def write(
        self,
        path: str,
        data: Union[str, bytes, bytearray, IO[bytes]],
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> WriteInfo:
        """Writes a file (parents created, an existing file replaced). A file object is sent as
        it is read, so any size works."""
        _check_path(path)
        if isinstance(data, str):
            body: Any = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            body = bytes(data)
        elif hasattr(data, "read"):
            body = _reader(data)
        else:
            raise InvalidArgumentException(
                "invalid_argument", "file data must be str, bytes or a binary file object"
            )
        with self._envd.files_request("POST", path, user, body, request_timeout) as response:
            text = response.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        first = parsed[0] if isinstance(parsed, list) and parsed else None
        if not isinstance(first, dict) or not isinstance(first.get("path"), str):
            raise UnexpectedResponseException(
                "unexpected_response", f"envd answered the upload of {path} with {text[:120]!r}"
            )
        return WriteInfo(name=first.get("name", ""), path=first["path"])

    def write_files(
        self, files: List[WriteEntry], user: Optional[str] = None
    ) -> List[WriteInfo]:
        """Writes several files, one after the other."""
        return [self.write(f.path, f.data, user) for f in files]

    def list(
        self,
        path: str,
        depth: int = 1,
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> List[EntryInfo]:
        """A directory's entries, ``depth`` levels deep."""
        _check_path(path)
        if not isinstance(depth, int) or depth < 1:
            raise InvalidArgumentException(
                "invalid_argument", f"depth must be an integer >= 1, got {depth!r}"
            )
        body = self._call("ListDir", {"path": path, "depth": depth}, user, request_timeout)
        entries = (_entry(e) for e in body.get("entries") or [])
        return [e for e in entries if e is not None]

    def exists(
        self, path: str, user: Optional[str] = None, request_timeout: Optional[float] = None
    ) -> bool:
        try:
            self.get_info(path, user, request_timeout)
            return True
        except NotFoundException:
            return False

    def get_info(
        self, path: str, user: Optional[str] = None, request_timeout: Optional[float] = None
    ) -> EntryInfo:
        _check_path(path)
        return self._entry_of(self._call("Stat", {"path": path}, user, request_timeout), path)

    def make_dir(
        self, path: str, user: Optional[str] = None, request_timeout: Optional[float] = None
    ) -> bool:
        """Creates a directory and its parents. False if it already existed."""
        _check_path(path)
        try:
            self._call("MakeDir", {"path": path}, user, request_timeout)
            return True
        except ConflictException as error:
            if error.code == "already_exists":
                return False
            raise

    def rename(
        self,
        old_path: str,
        new_path: str,
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> EntryInfo:
        """Renames or moves a file or directory."""
        _check_path(old_path)
        _check_path(new_path)
        body = self._call(
            "Move", {"source": old_path, "destination": new_path}, user, request_timeout
        )
        return self._entry_of(body, new_path)

    def remove(
        self, path: str, user: Optional[str] = None, request_timeout: Optional[float] = None
    ) -> None:
        """Removes a file, or a directory with everything in it."""
        _check_path(path)
        self._call("Remove", {"path": path}, user, request_timeout)

    def watch_dir(
        self,
        path: str,
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
        recursive: bool = False,
    ) -> WatchHandle:
        """Starts watching a directory; poll the handle's ``get_new_events()``."""
        _check_path(path)
        body = self._call(
            "CreateWatcher", {"path": path, "recursive": bool(recursive)}, user, request_timeout
        )
        watcher_id = body.get("watcherId")
        if not isinstance(watcher_id, str):
            raise UnexpectedResponseException("unexpected_response", "envd gave no watcher id")
        return WatchHandle(self, watcher_id)

    def _call(
        self,
        method: str,
        message: Dict[str, Any],
        user: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        return self._envd.unary(
            f"{SERVICE}/{method}", message, user=user, timeout=request_timeout, what="file"
        )

    def _entry_of(self, body: Dict[str, Any], path: str) -> EntryInfo:
        entry = _entry(body.get("entry") or {})
        if entry is None:
            raise UnexpectedResponseException(
                "unexpected_response", f"envd gave no usable entry for {path}"
            )
        return entry


def _chunks(response: Any) -> Iterator[bytes]:
    with response:
        while True:
            chunk = response.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


def _reader(source: IO[Any]) -> Iterator[bytes]:
    while True:
        chunk = source.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
