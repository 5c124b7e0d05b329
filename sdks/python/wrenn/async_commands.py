"""``AsyncSandbox``'s commands and terminals. The output is read by the synchronous SDK's
reader thread; what the caller sees lives on the event loop:

- the output callbacks (``on_stdout``, ``on_stderr``, ``on_data``) are called on the loop
  (``loop.call_soon_threadsafe``), in the order the output came, so code in them may touch
  loop objects; a callback may be a coroutine function (each call becomes a task, and
  ``wait()`` returns only once those tasks ended); an exception in a callback is raised by
  ``wait()``;
- ``wait()`` awaits a future the reader thread resolves: no thread sits blocked in it.

Cancelling: an awaited foreground ``commands.run(...)`` that is cancelled KILLS the command
(nobody is left to take its result); a cancelled ``handle.wait()`` only DETACHES (the command
keeps running, its output is still collected; ``wait()`` again or ``kill()``)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Dict, List, Literal, Optional, Set, TypeVar, Union, overload

from .command_handle import CommandHandle, CommandResult
from .commands import DEFAULT_COMMAND_TIMEOUT, Commands
from .exceptions import SandboxException
from .pty import Pty, PtySize

T = TypeVar("T")
# A callback of the asyncio flavour: a function or a coroutine function of one argument.
AsyncOutputHandler = Callable[[str], Any]
AsyncPtyHandler = Callable[[bytes], Any]


class _Relay:
    """Brings a command's output callbacks and its end from the reader thread onto the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tasks: Set["asyncio.Future[Any]"] = set()
        self._error: Optional[BaseException] = None

    def wrap(self, fn: Optional[Callable[[T], Any]]) -> Optional[Callable[[T], None]]:
        if fn is None:
            return None

        def from_thread(arg: T) -> None:
            try:
                self._loop.call_soon_threadsafe(self._call, fn, arg)
            except RuntimeError:
                pass  # the loop is closed: nobody is listening any more

        return from_thread

    def _call(self, fn: Callable[[T], Any], arg: T) -> None:
        try:
            result = fn(arg)
        except Exception as error:  # noqa: BLE001 - raised by wait()
            self._error = self._error or error
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Future[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._error = self._error or task.exception()

    async def ended(self, handle: CommandHandle) -> CommandResult:
        """The command's result (or error) once it ended and every callback ran."""
        done: "asyncio.Future[None]" = self._loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        def from_thread() -> None:
            try:
                self._loop.call_soon_threadsafe(resolve)
            except RuntimeError:
                pass

        handle.add_done_callback(from_thread)
        await done
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return handle.result()


async def _start(
    start: Callable[[], CommandHandle], abandon: Optional[Callable[[CommandHandle], None]] = None
) -> CommandHandle:
    """Starts (or connects to) a process in a worker thread. Cancelled meanwhile, the handle
    that still comes is abandoned: a started process is killed (nothing else would ever stop
    it), a followed one only disconnected."""
    task = asyncio.ensure_future(asyncio.to_thread(start))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        drop = abandon or _kill_quietly

        def abandon_late(t: "asyncio.Future[CommandHandle]") -> None:
            if not t.cancelled() and t.exception() is None:
                drop(t.result())

        task.add_done_callback(abandon_late)
        raise


def _kill_quietly(handle: CommandHandle) -> None:
    async def kill() -> None:
        try:
            await asyncio.to_thread(handle.kill)
        except SandboxException:
            pass  # it ended meanwhile, or the sandbox is gone: either way it no longer runs
        handle.disconnect()

    _keep(asyncio.ensure_future(kill()))


_background: Set["asyncio.Future[Any]"] = set()


def _keep(task: "asyncio.Future[Any]") -> None:
    """Holds a fire-and-forget task until it ends (the loop keeps only weak references)."""
    _background.add(task)
    task.add_done_callback(_background.discard)


class AsyncCommandHandle:
    """A running command or terminal; ``await handle.wait()`` (cancelling it detaches)."""

    def __init__(self, handle: CommandHandle, relay: _Relay) -> None:
        self._handle = handle
        self._relay = relay
        self.pid = handle.pid
        self.sync = handle

    @property
    def stdout(self) -> str:
        return self._handle.stdout

    @property
    def stderr(self) -> str:
        return self._handle.stderr

    @property
    def exit_code(self) -> Optional[int]:
        return self._handle.exit_code

    async def wait(
        self,
        on_stdout: Optional[AsyncOutputHandler] = None,
        on_stderr: Optional[AsyncOutputHandler] = None,
        on_pty: Optional[AsyncPtyHandler] = None,
    ) -> CommandResult:
        """The result on exit code 0; raises CommandExitException, CommandTimeoutException or
        the error that ended the stream, as the synchronous ``wait``. Callbacks given here get
        the output from now on, on the loop."""
        r = self._relay
        self._handle.set_callbacks(r.wrap(on_stdout), r.wrap(on_stderr), r.wrap(on_pty))
        return await self._relay.ended(self._handle)

    async def kill(self) -> bool:
        return await asyncio.to_thread(self._handle.kill)

    async def send_stdin(self, data: Union[str, bytes]) -> None:
        await asyncio.to_thread(self._handle.send_stdin, data)

    def disconnect(self) -> None:
        self._handle.disconnect()


class _Facade:
    """The synchronous object's other methods as coroutines (in a worker thread)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(attr, *args, **kwargs)

        return call


class AsyncCommands(_Facade):
    """``sandbox.commands`` with coroutines: ``run``, ``connect``, ``list``, ``kill``,
    ``send_stdin``, ``close_stdin``."""

    def __init__(self, commands: Commands) -> None:
        super().__init__(commands)
        self._commands = commands

    @overload
    async def run(
        self,
        cmd: str,
        background: Literal[False] = False,
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[AsyncOutputHandler] = None,
        on_stderr: Optional[AsyncOutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> CommandResult: ...

    @overload
    async def run(
        self,
        cmd: str,
        background: Literal[True],
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[AsyncOutputHandler] = None,
        on_stderr: Optional[AsyncOutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> AsyncCommandHandle: ...

    async def run(
        self,
        cmd: str,
        background: bool = False,
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[AsyncOutputHandler] = None,
        on_stderr: Optional[AsyncOutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> Union[CommandResult, AsyncCommandHandle]:
        """As ``Commands.run``: the result in the foreground (cancelled: the command is
        killed), an AsyncCommandHandle with ``background=True``."""
        relay = _Relay(asyncio.get_running_loop())
        handle = await _start(
            lambda: self._commands.run(
                cmd, True, envs, user, cwd, relay.wrap(on_stdout), relay.wrap(on_stderr),
                stdin, timeout, request_timeout, tag,
            )
        )
        if background:
            return AsyncCommandHandle(handle, relay)
        try:
            return await relay.ended(handle)
        except asyncio.CancelledError:
            _kill_quietly(handle)
            raise

    async def connect(
        self,
        pid: int,
        on_stdout: Optional[AsyncOutputHandler] = None,
        on_stderr: Optional[AsyncOutputHandler] = None,
        request_timeout: Optional[float] = None,
    ) -> AsyncCommandHandle:
        """Follows a running process's output (envd replays what it still holds first)."""
        relay = _Relay(asyncio.get_running_loop())
        handle = await _start(
            lambda: self._commands.connect(
                pid, relay.wrap(on_stdout), relay.wrap(on_stderr), request_timeout
            ),
            lambda h: h.disconnect(),
        )
        return AsyncCommandHandle(handle, relay)


class AsyncPty(_Facade):
    """``sandbox.pty`` with coroutines: ``create``, ``send_stdin``, ``resize``, ``kill``."""

    def __init__(self, pty: Pty) -> None:
        super().__init__(pty)
        self._pty = pty

    async def create(
        self,
        size: PtySize,
        on_data: Optional[AsyncPtyHandler] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        envs: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = 60,
        cmd: Optional[str] = None,
        args: Optional[List[str]] = None,
        request_timeout: Optional[float] = None,
    ) -> AsyncCommandHandle:
        """A terminal; ``on_data`` gets its raw output on the loop."""
        relay = _Relay(asyncio.get_running_loop())
        handle = await _start(
            lambda: self._pty.create(
                size, relay.wrap(on_data), user, cwd, envs, timeout, cmd, args, request_timeout
            )
        )
        return AsyncCommandHandle(handle, relay)
