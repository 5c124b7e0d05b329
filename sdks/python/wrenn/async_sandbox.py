"""``AsyncSandbox``: the same surface for asyncio, as a wrapper that runs each call of the
synchronous SDK in a worker thread (``asyncio.to_thread``). It is not a native asyncio client:
every request in flight holds a thread of the default executor (and a running command one
more, its output reader). What the caller's code sees is on the loop, though: the output
callbacks run on the loop and may be coroutines, and waiting for a command holds no thread
(async_commands.py)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable, List, Optional

from .async_commands import AsyncCommands, AsyncPty, _Facade
from .sandbox import Sandbox, _class_method_variant
from .sandbox_info import SandboxInfo, SandboxPaginator


def _in_thread(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return call


class AsyncSandboxPaginator:
    def __init__(self, paginator: SandboxPaginator) -> None:
        self._paginator = paginator

    @property
    def has_next(self) -> bool:
        return self._paginator.has_next

    @property
    def next_token(self) -> Optional[str]:
        return self._paginator.next_token

    async def next_items(self) -> List[SandboxInfo]:
        return await asyncio.to_thread(self._paginator.next_items)


class AsyncSandbox:
    """Like ``Sandbox``, with coroutines: ``sandbox = await AsyncSandbox.create()``,
    ``await sandbox.commands.run("ls")``, ``await sandbox.files.read(path)``, ...
    (``files.read(format="stream")`` hands back the synchronous chunk iterator)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sync = sandbox
        self.sandbox_id = sandbox.sandbox_id
        self.traffic_access_token = sandbox.traffic_access_token
        self.commands = AsyncCommands(sandbox.commands)
        self.files: Any = _Facade(sandbox.files)
        self.pty = AsyncPty(sandbox.pty)

    async def __aenter__(self) -> "AsyncSandbox":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.kill()

    @classmethod
    async def create(cls, *args: Any, **kwargs: Any) -> "AsyncSandbox":
        return cls(await asyncio.to_thread(Sandbox.create, *args, **kwargs))

    @classmethod
    async def connect(cls, *args: Any, **kwargs: Any) -> "AsyncSandbox":
        return cls(await asyncio.to_thread(Sandbox.connect, *args, **kwargs))

    @classmethod
    def list(cls, *args: Any, **kwargs: Any) -> AsyncSandboxPaginator:
        return AsyncSandboxPaginator(Sandbox.list(*args, **kwargs))

    _cls_kill = staticmethod(_in_thread(Sandbox._cls_kill))
    _cls_pause = staticmethod(_in_thread(Sandbox._cls_pause))
    _cls_set_timeout = staticmethod(_in_thread(Sandbox._cls_set_timeout))
    _cls_get_info = staticmethod(_in_thread(Sandbox._cls_get_info))
    _cls_get_metrics = staticmethod(_in_thread(Sandbox._cls_get_metrics))
    _cls_update_network = staticmethod(_in_thread(Sandbox._cls_update_network))

    @classmethod
    async def _cls_resume(cls, *args: Any, **kwargs: Any) -> "AsyncSandbox":
        return await cls.connect(*args, **kwargs)

    @_class_method_variant("_cls_kill")
    async def kill(self) -> bool:
        return await asyncio.to_thread(self.sync.kill)

    @_class_method_variant("_cls_pause")
    async def pause(self) -> bool:
        return await asyncio.to_thread(self.sync.pause)

    @_class_method_variant("_cls_resume")
    async def resume(self, timeout: Optional[float] = None) -> "AsyncSandbox":
        await asyncio.to_thread(self.sync.resume, timeout)
        return self

    @_class_method_variant("_cls_set_timeout")
    async def set_timeout(self, timeout: float) -> None:
        await asyncio.to_thread(self.sync.set_timeout, timeout)

    @_class_method_variant("_cls_get_info")
    async def get_info(self) -> SandboxInfo:
        info: SandboxInfo = await asyncio.to_thread(self.sync.get_info)
        return info

    @_class_method_variant("_cls_get_metrics")
    async def get_metrics(self) -> Any:
        return await asyncio.to_thread(self.sync.get_metrics)

    @_class_method_variant("_cls_update_network")
    async def update_network(self, network: Any) -> SandboxInfo:
        info: SandboxInfo = await asyncio.to_thread(self.sync.update_network, network)
        return info
