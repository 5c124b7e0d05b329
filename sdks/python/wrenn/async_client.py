"""``AsyncWrennClient``: ``WrennClient`` for asyncio, in ``AsyncSandbox``'s style (each call of
the synchronous client in a worker thread). The same names, awaitable: ``client.snapshots``,
``client.templates``, ``client.workspaces``, ``client.sandboxes``. A streamed read
(``format="stream"``) is an async iterator whose chunks are read in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator, List, Literal, Optional, Union, overload

from .connection_config import ConnectionConfig
from .workspaces import WorkspaceInfo
from .wrenn_client import Fork, Snapshot, SnapshotPage, Template, TemplateBuild, WrennClient

async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each chunk read in a worker thread; the stream is closed however the loop ends."""

    def next_chunk() -> Optional[bytes]:
        return next(chunks, None)

    try:
        while True:
            chunk = await asyncio.to_thread(next_chunk)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class AsyncSnapshotsClient:
    def __init__(self, client: WrennClient) -> None:
        self._s = client.snapshots

    async def create(self, sandbox_id: str, name: Optional[str] = None) -> Snapshot:
        return await asyncio.to_thread(self._s.create, sandbox_id, name)

    async def list(
        self,
        sandbox_id: Optional[str] = None,
        name: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> SnapshotPage:
        return await asyncio.to_thread(self._s.list, sandbox_id, name, limit, cursor)

    async def get(self, snapshot_id: str) -> Snapshot:
        return await asyncio.to_thread(self._s.get, snapshot_id)

    async def delete(self, snapshot_id: str) -> None:
        await asyncio.to_thread(self._s.delete, snapshot_id)

    async def fork(
        self, sandbox_id: str, count: Optional[int] = None, timeout_seconds: Optional[int] = None
    ) -> List[Fork]:
        return await asyncio.to_thread(self._s.fork, sandbox_id, count, timeout_seconds)


class AsyncTemplatesClient:
    def __init__(self, client: WrennClient) -> None:
        self._t = client.templates

    async def create(
        self,
        name: str,
        from_image: Optional[str] = None,
        from_template: Optional[str] = None,
        start_cmd: Optional[str] = None,
        ready_cmd: Optional[str] = None,
        **extra: Any,
    ) -> Template:
        return await asyncio.to_thread(
            self._t.create, name, from_image, from_template, start_cmd, ready_cmd, **extra
        )

    async def list(self) -> List[Template]:
        return await asyncio.to_thread(self._t.list)

    async def get(self, name_tag: str) -> Template:
        return await asyncio.to_thread(self._t.get, name_tag)

    async def build(
        self, name_tag: str, logs_offset: Optional[int] = None, limit: Optional[int] = None
    ) -> TemplateBuild:
        return await asyncio.to_thread(self._t.build, name_tag, logs_offset, limit)

    async def delete(self, name_tag: str) -> None:
        await asyncio.to_thread(self._t.delete, name_tag)


class AsyncWorkspacesClient:
    def __init__(self, client: WrennClient) -> None:
        self._w = client.workspaces

    async def create(
        self,
        name: str,
        image: Optional[str] = None,
        vcpus: Optional[int] = None,
        memory_mb: Optional[int] = None,
        disk_gb: Optional[int] = None,
    ) -> WorkspaceInfo:
        return await asyncio.to_thread(self._w.create, name, image, vcpus, memory_mb, disk_gb)

    async def list(self) -> List[WorkspaceInfo]:
        return await asyncio.to_thread(self._w.list)

    async def get(self, name: str) -> WorkspaceInfo:
        return await asyncio.to_thread(self._w.get, name)

    async def suspend(self, name: str) -> WorkspaceInfo:
        return await asyncio.to_thread(self._w.suspend, name)

    async def resume(self, name: str) -> WorkspaceInfo:
        return await asyncio.to_thread(self._w.resume, name)

    async def destroy(self, name: str) -> None:
        await asyncio.to_thread(self._w.destroy, name)


class AsyncSandboxRecordsClient:
    def __init__(self, client: WrennClient) -> None:
        self._r = client.sandboxes

    @overload
    async def read_file(
        self, sandbox_id: str, path: str, user: Optional[str] = None,
        format: Literal["bytes"] = "bytes",
    ) -> bytes: ...

    @overload
    async def read_file(
        self, sandbox_id: str, path: str, user: Optional[str], format: Literal["stream"]
    ) -> AsyncIterator[bytes]: ...

    @overload
    async def read_file(
        self, sandbox_id: str, path: str, *, format: Literal["stream"]
    ) -> AsyncIterator[bytes]: ...

    async def read_file(
        self, sandbox_id: str, path: str, user: Optional[str] = None, format: str = "bytes"
    ) -> Union[bytes, AsyncIterator[bytes]]:
        """As ``WrennClient.sandboxes.read_file`` (also a failed sandbox's file)."""
        return await self._read(self._r.read_file, sandbox_id, path, user, format)

    @overload
    async def archive(
        self, sandbox_id: str, path: str, user: Optional[str] = None,
        format: Literal["bytes"] = "bytes",
    ) -> bytes: ...

    @overload
    async def archive(
        self, sandbox_id: str, path: str, user: Optional[str], format: Literal["stream"]
    ) -> AsyncIterator[bytes]: ...

    @overload
    async def archive(
        self, sandbox_id: str, path: str, *, format: Literal["stream"]
    ) -> AsyncIterator[bytes]: ...

    async def archive(
        self, sandbox_id: str, path: str, user: Optional[str] = None, format: str = "bytes"
    ) -> Union[bytes, AsyncIterator[bytes]]:
        """As ``WrennClient.sandboxes.archive``: a tar of a failed sandbox's path."""
        return await self._read(self._r.archive, sandbox_id, path, user, format)

    @staticmethod
    async def _read(
        read: Any, sandbox_id: str, path: str, user: Optional[str], format: str
    ) -> Union[bytes, AsyncIterator[bytes]]:
        answer = await asyncio.to_thread(read, sandbox_id, path, user, format)
        if isinstance(answer, bytes):
            return answer
        return _aiter(answer)


class AsyncWrennClient:
    """``WrennClient`` with coroutines; the same settings (``api_key``, ``api_url``,
    ``request_timeout``; WRENN_API_KEY and WRENN_API_URL). ``sync`` is the wrapped client."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        connection_config: Optional[ConnectionConfig] = None,
    ) -> None:
        self.sync = WrennClient(api_key, api_url, request_timeout, connection_config)
        self.snapshots = AsyncSnapshotsClient(self.sync)
        self.templates = AsyncTemplatesClient(self.sync)
        self.workspaces = AsyncWorkspacesClient(self.sync)
        self.sandboxes = AsyncSandboxRecordsClient(self.sync)
