"""``sandbox.pty``: interactive terminals on a pseudo-terminal (raw bytes in and out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Union

from .command_handle import CommandHandle, PtyHandler, _Callbacks
from .exceptions import InvalidArgumentException
from .process_client import ProcessClient, check_pid, check_timeout

_TERMINAL_ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


@dataclass
class PtySize:
    rows: int
    cols: int


def _check_size(size: PtySize) -> None:
    for name, value in (("cols", size.cols), ("rows", size.rows)):
        if not isinstance(value, int) or not 1 <= value <= 65535:
            raise InvalidArgumentException(
                "invalid_argument", f"{name} must be an integer from 1 to 65535, got {value!r}"
            )


class Pty(ProcessClient):
    """Terminals: ``create`` one, send it keystrokes, resize it, kill it."""

    def create(
        self,
        size: PtySize,
        on_data: Optional[PtyHandler] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        envs: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = 60,
        cmd: Optional[str] = None,
        args: Optional[List[str]] = None,
        request_timeout: Optional[float] = None,
    ) -> CommandHandle:
        """Starts a login shell (or ``cmd``) on a new terminal of ``size``. Its output goes to
        ``on_data`` (raw bytes, escape sequences included) as it arrives, or to the
        ``on_pty`` of ``handle.wait``. ``timeout`` seconds (0 or None: no limit) ends it."""
        _check_size(size)
        check_timeout("timeout", timeout)
        process: Dict[str, object] = {
            "cmd": cmd or "/bin/bash",
            "args": args if args is not None else ([] if cmd else ["-i", "-l"]),
            "envs": {**_TERMINAL_ENV, **(envs or {})},
        }
        if cwd is not None:
            process["cwd"] = cwd
        return self._open(
            "Start",
            {"process": process, "pty": {"size": {"cols": size.cols, "rows": size.rows}}},
            _Callbacks(on_pty=on_data),
            user=user,
            timeout=timeout or None,
            request_timeout=request_timeout,
        )

    def send_stdin(
        self, pid: int, data: Union[bytes, str], request_timeout: Optional[float] = None
    ) -> None:
        """Keystrokes (or any bytes) to the terminal."""
        self._send_input(pid, "pty", data, request_timeout)

    def resize(self, pid: int, size: PtySize, request_timeout: Optional[float] = None) -> None:
        """Changes the terminal's size (the program gets SIGWINCH)."""
        check_pid(pid)
        _check_size(size)
        self._call(
            "Update",
            {"process": {"pid": pid}, "pty": {"size": {"cols": size.cols, "rows": size.rows}}},
            request_timeout,
        )

    def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        """Ends the terminal (SIGKILL to its session). False when it was not running."""
        return self._kill(pid, request_timeout)
