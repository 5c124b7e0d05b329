"""``sandbox.commands``: shell commands in the sandbox, in the foreground or the background."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Union, overload

from .command_handle import CommandHandle, CommandResult, OutputHandler, _Callbacks
from .exceptions import InvalidArgumentException
from .process_client import ProcessClient, check_pid, check_timeout

# E2B's default: a foreground command may run a minute unless told otherwise (0: no limit).
DEFAULT_COMMAND_TIMEOUT = 60.0


@dataclass
class ProcessInfo:
    pid: int
    cmd: str
    args: List[str] = field(default_factory=list)
    envs: Dict[str, str] = field(default_factory=dict)
    cwd: Optional[str] = None
    tag: Optional[str] = None


class Commands(ProcessClient):
    """Shell commands (``/bin/bash -l -c CMD``) in the sandbox."""

    @overload
    def run(
        self,
        cmd: str,
        background: Literal[False] = False,
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> CommandResult: ...

    @overload
    def run(
        self,
        cmd: str,
        background: Literal[True],
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> CommandHandle: ...

    def run(
        self,
        cmd: str,
        background: bool = False,
        envs: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        cwd: Optional[str] = None,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        stdin: bool = False,
        timeout: Optional[float] = DEFAULT_COMMAND_TIMEOUT,
        request_timeout: Optional[float] = None,
        tag: Optional[str] = None,
    ) -> Union[CommandResult, CommandHandle]:
        """Runs a shell command line. In the foreground it returns the result on exit code 0
        and raises CommandExitException otherwise; with ``background=True`` it returns a
        handle as soon as the process started. ``timeout`` (seconds; 0 or None: no limit)
        kills the command and its children, and raises CommandTimeoutException. ``stdin=True``
        keeps its stdin open for ``send_stdin``."""
        if not isinstance(cmd, str) or not cmd:
            raise InvalidArgumentException(
                "invalid_argument", "the command must be a non-empty string"
            )
        check_timeout("timeout", timeout)
        process: Dict[str, object] = {"cmd": "/bin/bash", "args": ["-l", "-c", cmd]}
        if envs:
            process["envs"] = dict(envs)
        if cwd is not None:
            process["cwd"] = cwd
        message: Dict[str, object] = {"process": process, "stdin": bool(stdin)}
        if tag is not None:
            message["tag"] = tag
        handle = self._open(
            "Start",
            message,
            _Callbacks(on_stdout, on_stderr),
            user=user,
            timeout=timeout or None,
            request_timeout=request_timeout,
            cmd=cmd,
            background=background,
        )
        return handle if background else handle.wait()

    def connect(
        self,
        pid: int,
        on_stdout: Optional[OutputHandler] = None,
        on_stderr: Optional[OutputHandler] = None,
        request_timeout: Optional[float] = None,
    ) -> CommandHandle:
        """Follows a running process's output (envd replays what it still holds first)."""
        check_pid(pid)
        return self._open(
            "Connect",
            {"process": {"pid": pid}},
            _Callbacks(on_stdout, on_stderr),
            request_timeout=request_timeout,
        )

    def list(self, request_timeout: Optional[float] = None) -> List[ProcessInfo]:
        """Processes running in the sandbox (commands and terminals)."""
        body = self._call("List", {}, request_timeout)
        out: List[ProcessInfo] = []
        for p in body.get("processes") or []:
            config = p.get("config") or {}
            out.append(
                ProcessInfo(
                    pid=int(p.get("pid", 0)),
                    cmd=config.get("cmd", ""),
                    args=list(config.get("args") or []),
                    envs=dict(config.get("envs") or {}),
                    cwd=config.get("cwd"),
                    tag=p.get("tag"),
                )
            )
        return out

    def send_stdin(
        self, pid: int, data: Union[str, bytes], request_timeout: Optional[float] = None
    ) -> None:
        """Writes to the stdin of a process started with ``stdin=True``."""
        self._send_input(pid, "stdin", data, request_timeout)

    def close_stdin(self, pid: int, request_timeout: Optional[float] = None) -> None:
        """Closes the stdin of a process (it sees end-of-file)."""
        check_pid(pid)
        self._call("CloseStdin", {"process": {"pid": pid}}, request_timeout)

    def kill(self, pid: int, request_timeout: Optional[float] = None) -> bool:
        """SIGKILL to the process and its whole session. False when no such process runs."""
        return self._kill(pid, request_timeout)
