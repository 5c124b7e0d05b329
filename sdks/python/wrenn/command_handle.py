"""A running command (or terminal): its output as it arrives, and its result once it ends."""

from __future__ import annotations

import codecs
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .envd import ConnectStream, decode_bytes
from .exceptions import (
    CommandExitException,
    CommandTimeoutException,
    ConnectionException,
    SandboxException,
    ServerException,
    StreamLostException,
    TimeoutException,
    UnexpectedResponseException,
)

OutputHandler = Callable[[str], Any]
PtyHandler = Callable[[bytes], Any]
# Reopens a process's stream from an output offset: (events after the start event, the
# stream, where envd's replay really began, or None when it did not say).
Reopen = Callable[[int], Tuple[Iterator[Dict[str, Any]], ConnectStream, Optional[int]]]


def _transient(error: SandboxException) -> bool:
    """Failures worth a reconnect: the network, the proxy or the host agent in between, a
    stream cut mid-message, silence, and envd dropping a slow reader (the replay catches up).
    Not: the process being gone, the sandbox paused, a wrong key."""
    if isinstance(error, StreamLostException):
        return False
    if isinstance(error, (ConnectionException, ServerException)):
        return error.code != "disconnected"
    if isinstance(error, TimeoutException):
        return error.code == "request_timeout"
    if isinstance(error, UnexpectedResponseException):
        return error.code == "protocol_error"
    return error.code in ("resource_exhausted", "unavailable")


@dataclass
class CommandResult:
    """How a command ended: what it printed and its exit code (-1 when a signal ended it)."""

    stdout: str
    stderr: str
    exit_code: int
    # envd's description when the exit was not clean ("exit status 3", "signal: killed").
    error: Optional[str] = None


@dataclass
class _Callbacks:
    on_stdout: Optional[OutputHandler] = None
    on_stderr: Optional[OutputHandler] = None
    on_pty: Optional[PtyHandler] = None


class CommandHandle:
    """A started command or terminal (``commands.run(..., background=True)``,
    ``commands.connect``, ``pty.create``). Its output is collected as it arrives, in a thread
    of its own, so a background command never stalls on an unread stream."""

    def __init__(
        self,
        pid: int,
        events: Iterator[Dict[str, Any]],
        stream: ConnectStream,
        kill: Callable[[], bool],
        send_stdin: Callable[[bytes], None],
        callbacks: _Callbacks,
        cmd: Optional[str] = None,
        timeout: Optional[float] = None,
        background: bool = True,
        reopen: Optional[Reopen] = None,
        reconnect_timeout: float = 0,
    ) -> None:
        self.pid = pid
        self.cmd = cmd
        self._events = events
        self._stream = stream
        self._kill = kill
        self._send_stdin = send_stdin
        self._callbacks = callbacks
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout if timeout else None
        # When the stream breaks, follow the process again from the bytes already received
        # (envd replays the rest from its 4 MiB ring): nothing lost or repeated.
        self._reopen = reopen
        self._reconnect_timeout = reconnect_timeout
        self._offset = 0
        self._disconnected = False
        # How often the stream came back, and output bytes lost across those gaps (0 unless a
        # gap outgrew envd's ring).
        self.reconnects = 0
        self.lost_bytes = 0
        self._decoders = {
            "stdout": codecs.getincrementaldecoder("utf-8")(errors="replace"),
            "stderr": codecs.getincrementaldecoder("utf-8")(errors="replace"),
        }
        self._out: List[str] = []
        self._err: List[str] = []
        self._lock = threading.Lock()
        self._result: Optional[CommandResult] = None
        self._failure: Optional[BaseException] = None
        self._done = threading.Event()
        self._done_callbacks: List[Callable[[], None]] = []
        self._thread: Optional[threading.Thread] = None
        if background:
            self._thread = threading.Thread(
                target=self._consume, name=f"wrenn-process-{pid}", daemon=True
            )
            self._thread.start()

    @property
    def stdout(self) -> str:
        """Everything the command printed on stdout so far."""
        with self._lock:
            return "".join(self._out)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "".join(self._err)

    @property
    def exit_code(self) -> Optional[int]:
        """The exit code once it ended, else None."""
        return self._result.exit_code if self._result else None

    @property
    def error(self) -> Optional[str]:
        return self._result.error if self._result else None

    def wait(
        self,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        on_pty: Optional[PtyHandler] = None,
    ) -> CommandResult:
        """Waits for the end. Returns the result on exit code 0; raises CommandExitException
        (non-zero), CommandTimeoutException (its timeout passed: it was killed), or the error
        that ended the stream. Callbacks given here get the output from now on."""
        self.set_callbacks(on_stdout, on_stderr, on_pty)
        if self._thread is None:
            self._consume()
        else:
            self._done.wait()
        return self.result()

    def set_callbacks(
        self,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        on_pty: Optional[PtyHandler] = None,
    ) -> None:
        """Callbacks given here get the output from now on (those not given stay)."""
        if on_stdout or on_stderr or on_pty:
            self._callbacks = _Callbacks(
                on_stdout or self._callbacks.on_stdout,
                on_stderr or self._callbacks.on_stderr,
                on_pty or self._callbacks.on_pty,
            )

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Calls ``callback`` (from the thread that reads the output) once the command ended
        or its stream failed; at once when that already happened. Then ``result()`` answers."""
        with self._lock:
            if not self._done.is_set():
                self._done_callbacks.append(callback)
                return
        callback()

    def result(self) -> CommandResult:
        """What ``wait`` returns or raises, once the command ended (``add_done_callback``)."""
        if not self._done.is_set():
            raise SandboxException("still_running", f"process {self.pid} has not ended yet")
        if self._failure is not None:
            raise self._failure
        result = self._result
        assert result is not None
        if result.exit_code != 0:
            raise CommandExitException(result.stdout, result.stderr, result.exit_code, result.error)
        return result

    def kill(self) -> bool:
        """SIGKILL to the command and its whole session. False if it had already ended."""
        return self._kill()

    def send_stdin(self, data: "str | bytes") -> None:
        self._send_stdin(data.encode() if isinstance(data, str) else data)

    def disconnect(self) -> None:
        """Stops receiving output; the command keeps running (commands.connect(pid) resumes)."""
        self._disconnected = True
        self._stream.close()

    def _consume(self) -> None:
        try:
            self._result = self._read_to_end()
        except BaseException as error:  # noqa: BLE001 - handed to wait()
            self._failure = error
        finally:
            self._stream.close()
            with self._lock:
                self._done.set()
                callbacks, self._done_callbacks = self._done_callbacks, []
            for callback in callbacks:
                callback()

    def _read_to_end(self) -> CommandResult:
        while True:
            try:
                return self._follow()
            except SandboxException as error:
                if self._disconnected:
                    raise ServerException(
                        "disconnected", f"stopped following process {self.pid} before it ended"
                    ) from error
                if self._reopen is None or not _transient(error):
                    raise
                self._reconnect(error)

    def _reconnect(self, error: SandboxException) -> None:
        """Reopens the stream from the bytes received so far, retrying with backoff for up to
        ``reconnect_timeout``; then StreamLostException."""
        assert self._reopen is not None
        broken_since = time.monotonic()
        last: SandboxException = error
        attempt = 0
        while True:
            waited = time.monotonic() - broken_since
            if waited >= self._reconnect_timeout:
                raise StreamLostException(self.pid, waited, last)
            attempt += 1
            time.sleep(min(2.0, 0.1 * 2 ** min(attempt, 5)))
            if self._disconnected:
                raise ServerException(
                    "disconnected", f"stopped following process {self.pid} before it ended"
                )
            try:
                events, stream, replay_start = self._reopen(self._offset)
            except SandboxException as again:
                if not _transient(again):
                    raise
                last = again
                continue
            lost = replay_start - self._offset if replay_start and replay_start > self._offset else 0
            self._offset += lost
            self.lost_bytes += lost
            self.reconnects += 1
            old, self._stream, self._events = self._stream, stream, events
            old.close()
            # disconnect() sets its flag before closing the current stream: checked after the
            # swap, a disconnect during the reopen never leaves the new stream followed.
            if self._disconnected:
                stream.close()
                raise ServerException(
                    "disconnected", f"stopped following process {self.pid} before it ended"
                )
            return

    def _follow(self) -> CommandResult:
        """Reads the current stream to the process's end (raises when the stream breaks)."""
        try:
            for message in self._events:
                event = (message.get("event") or {}) if isinstance(message, dict) else {}
                if "data" in event:
                    self._on_data(event["data"] or {})
                elif "end" in event:
                    end = event["end"] or {}
                    self._flush()
                    exit_code = int(end.get("exitCode", 0))
                    status = end.get("status") or ""
                    if self._timed_out() and status == "signal: killed":
                        raise self._timeout_error()
                    error = end.get("error")
                    return CommandResult(self.stdout, self.stderr, exit_code, error or None)
        except SandboxException as error:
            deadline = error.code == "deadline_exceeded" and self._deadline is not None
            # No message for the stream's whole silence bound, past the deadline: envd should
            # have killed it then; make sure, and say what happened.
            silent = error.code == "request_timeout" and self._timed_out()
            if deadline or silent:
                if silent:
                    try:
                        self._kill()
                    except SandboxException:
                        pass
                self._flush()
                raise self._timeout_error()
            raise
        raise ServerException(
            "no_end_event", f"the stream of process {self.pid} ended without an end event"
        )

    def _timed_out(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline - 0.25

    def _timeout_error(self) -> CommandTimeoutException:
        return CommandTimeoutException(
            self.cmd, self.pid, self._timeout or 0, self.stdout, self.stderr
        )

    def _on_data(self, data: Dict[str, Any]) -> None:
        if "pty" in data:
            raw = decode_bytes(data["pty"])
            self._offset += len(raw)
            if self._callbacks.on_pty:
                self._callbacks.on_pty(raw)
            return
        for name in ("stdout", "stderr"):
            if name in data:
                raw = decode_bytes(data[name])
                self._offset += len(raw)
                # An incomplete UTF-8 sequence waits for the next chunk.
                self._on_text(name, self._decoders[name].decode(raw))

    def _on_text(self, name: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            (self._out if name == "stdout" else self._err).append(text)
        handler = self._callbacks.on_stdout if name == "stdout" else self._callbacks.on_stderr
        if handler:
            handler(text)

    def _flush(self) -> None:
        for name in ("stdout", "stderr"):
            self._on_text(name, self._decoders[name].decode(b"", final=True))
