"""What commands and terminals share: envd's process service, its calls and its streams."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Tuple

from .command_handle import CommandHandle, _Callbacks
from .connection_config import ConnectionConfig
from ._contract import ENVD_REPLAY_FROM_HEADER, ENVD_REPLAY_START_HEADER
from .envd import STREAM_SILENCE_SECONDS, ConnectStream, EnvdConnection, encode_bytes
from .exceptions import InvalidArgumentException, NotFoundException, UnexpectedResponseException

SERVICE = "process.Process"


def check_pid(pid: int) -> None:
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= 0xFFFFFFFF:
        raise InvalidArgumentException(
            "invalid_argument", f"pid must be a positive integer, got {pid!r}"
        )


def check_timeout(name: str, value: Optional[float]) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value < 0):
        raise InvalidArgumentException(
            "invalid_argument", f"{name} must be a number of seconds >= 0, got {value!r}"
        )


class ProcessClient:
    """What ``sandbox.commands`` and ``sandbox.pty`` share: envd's process service."""

    def __init__(self, envd: EnvdConnection, config: ConnectionConfig) -> None:
        self._envd = envd
        self._config = config

    def _open(
        self,
        method: str,
        message: Dict[str, Any],
        callbacks: _Callbacks,
        user: Optional[str] = None,
        timeout: Optional[float] = None,
        request_timeout: Optional[float] = None,
        cmd: Optional[str] = None,
        background: bool = True,
    ) -> CommandHandle:
        """Starts (or connects to) a process; returns its handle once the start event came."""
        headers = {"connect-timeout-ms": str(int(timeout * 1000))} if timeout else {}
        events, stream, pid = self._stream_to_start(
            method, message, user, request_timeout, headers
        )

        def reopen(offset: int) -> Tuple[Iterator[Dict[str, Any]], ConnectStream, Optional[int]]:
            events, stream, _ = self._stream_to_start(
                "Connect",
                {"process": {"pid": pid}},
                user,
                request_timeout,
                {ENVD_REPLAY_FROM_HEADER: str(offset)},
            )
            start = stream.response.header(ENVD_REPLAY_START_HEADER)
            return events, stream, int(start) if start and start.isdigit() else None

        return CommandHandle(
            pid,
            events,
            stream,
            kill=lambda: self._kill(pid),
            send_stdin=lambda data: self._send_input(pid, "stdin", data),
            callbacks=callbacks,
            cmd=cmd,
            timeout=timeout,
            background=background,
            reopen=reopen,
            reconnect_timeout=self._config.reconnect_timeout,
        )

    def _stream_to_start(
        self,
        method: str,
        message: Dict[str, Any],
        user: Optional[str],
        request_timeout: Optional[float],
        headers: Dict[str, str],
    ) -> Tuple[Iterator[Dict[str, Any]], ConnectStream, int]:
        """Opens a process stream and reads its start event: (the rest, the stream, pid)."""
        stream = self._envd.stream(
            f"{SERVICE}/{method}",
            message,
            user=user,
            timeout=request_timeout,
            headers=headers,
            what="process",
        )
        events = iter(stream)
        first = next(events, None)
        event = (first or {}).get("event") or {}
        if "start" not in event:
            stream.close()
            raise UnexpectedResponseException(
                "protocol_error", "the process stream ended before the process started"
            )
        # From here the stream may stay quiet as long as the process does: envd's keepalives
        # show it is alive, so only their absence is a failure.
        stream.set_timeout(STREAM_SILENCE_SECONDS)
        return events, stream, int((event["start"] or {}).get("pid", 0))

    def _call(
        self, method: str, message: Dict[str, Any], request_timeout: Optional[float]
    ) -> Dict[str, Any]:
        return self._envd.unary(
            f"{SERVICE}/{method}", message, timeout=request_timeout, what="process"
        )

    def _send_input(
        self, pid: int, kind: str, data: "str | bytes", request_timeout: Optional[float] = None
    ) -> None:
        check_pid(pid)
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self._call(
            "SendInput",
            {"process": {"pid": pid}, "input": {kind: encode_bytes(raw)}},
            request_timeout,
        )

    def _kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        check_pid(pid)
        try:
            self._call(
                "SendSignal", {"process": {"pid": pid}, "signal": "SIGNAL_SIGKILL"}, request_timeout
            )
            return True
        except NotFoundException:
            return False
