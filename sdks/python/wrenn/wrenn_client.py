"""The /v1 API beyond one sandbox's life, as the TypeScript SDK's ``WrennClient`` has it:
snapshots of running sandboxes and forks (``client.snapshots``), templates
(``client.templates``), workspaces (``client.workspaces``), a sandbox's files by id, also once
it failed (``client.sandboxes``). ``Sandbox`` stays the way to create and use a sandbox; a
snapshot's id is a template: ``Sandbox.create(snapshot.id)`` restores it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from .api_client import ApiClient, sandbox_path
from .connection_config import ConnectionConfig
from .exceptions import UnexpectedResponseException
from .sandbox_info import SandboxInfo, _date, parse_sandbox
from .sandbox_records import SandboxRecordsClient
from .workspaces import WorkspacesClient

# A snapshot and a fork write the sandbox's memory and disk: longer than a usual request.
_SAVE_TIMEOUT = 600.0


def _object(value: Any, where: str, arrays: Tuple[str, ...] = ()) -> Dict[str, Any]:
    """The answer as a dict whose ``arrays`` fields are lists, or a clear error."""
    if not isinstance(value, dict) or any(not isinstance(value.get(a), list) for a in arrays):
        raise UnexpectedResponseException(
            "unexpected_response", f"not a {where}: {str(value)[:120]}"
        )
    return value


def _enc(value: str) -> str:
    return quote(value, safe="")


@dataclass
class Snapshot:
    id: str
    name: Optional[str]
    source_sandbox_id: str
    template: str
    size_bytes: int
    created_at: Optional[datetime]
    # In the fleet's shared store: it outlives its host and restores on any host.
    stored: bool = False


@dataclass
class SnapshotPage:
    snapshots: List[Snapshot]
    next_cursor: Optional[str]


@dataclass
class ForkError:
    code: str
    message: str


@dataclass
class Fork:
    """One sandbox of a fork: ``sandbox`` when it was made, else ``error``."""

    sandbox: Optional[SandboxInfo] = None
    envd_access_token: Optional[str] = None
    error: Optional[ForkError] = None


@dataclass
class TemplateError:
    code: str
    message: str
    step: Optional[str]


@dataclass
class Template:
    template_id: str
    name: str
    tag: str
    from_image: str
    # A str: "building", "ready" or "error" (a newer server may add states).
    status: str
    step: Optional[str]
    cpu_count: int
    memory_mb: int
    usable: bool
    error: Optional[TemplateError]
    created_at: Optional[datetime]
    updated_at: Optional[datetime]


@dataclass
class TemplateLogEntry:
    timestamp: Optional[datetime]
    level: str
    step: str
    message: str


@dataclass
class TemplateBuild:
    template: Template
    logs: List[TemplateLogEntry] = field(default_factory=list)
    next_logs_offset: int = 0


def parse_snapshot(value: Any) -> Snapshot:
    v = _object(value, "snapshot")
    return Snapshot(
        id=str(v.get("id", "")),
        name=v.get("name"),
        source_sandbox_id=str(v.get("sourceSandboxId", "")),
        template=str(v.get("template", "")),
        size_bytes=int(v.get("sizeBytes", 0)),
        created_at=_date(v.get("createdAt")),
        stored=bool(v.get("stored", False)),
    )


def parse_template(value: Any) -> Template:
    v = _object(value, "template")
    err = v.get("error")
    return Template(
        template_id=str(v.get("templateId", "")),
        name=str(v.get("name", "")),
        tag=str(v.get("tag", "")),
        from_image=str(v.get("fromImage", "")),
        status=str(v.get("status", "")),
        step=v.get("step"),
        cpu_count=int(v.get("cpuCount", 0)),
        memory_mb=int(v.get("memoryMB", 0)),
        usable=bool(v.get("usable")),
        error=(
            TemplateError(str(err.get("code", "")), str(err.get("message", "")), err.get("step"))
            if isinstance(err, dict)
            else None
        ),
        created_at=_date(v.get("createdAt")),
        updated_at=_date(v.get("updatedAt")),
    )


def _parse_log(value: Any) -> TemplateLogEntry:
    v = _object(value, "build log entry")
    return TemplateLogEntry(
        timestamp=_date(v.get("timestamp")),
        level=str(v.get("level", "")),
        step=str(v.get("step", "")),
        message=str(v.get("message", "")),
    )


def _parse_fork(value: Any) -> Fork:
    v = _object(value, "fork")
    sandbox = v.get("sandbox")
    err = v.get("error")
    return Fork(
        sandbox=parse_sandbox(sandbox) if isinstance(sandbox, dict) else None,
        envd_access_token=sandbox.get("envdAccessToken") if isinstance(sandbox, dict) else None,
        error=ForkError(str(err.get("code", "")), str(err.get("message", "")))
        if isinstance(err, dict)
        else None,
    )


class SnapshotsClient:
    """/v1/snapshots and /v1/sandboxes/{id}/snapshots|fork."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def _save_timeout(self) -> float:
        timeout = self._api.config.request_timeout
        return 0.0 if timeout == 0 else max(timeout, _SAVE_TIMEOUT)

    def create(self, sandbox_id: str, name: Optional[str] = None) -> Snapshot:
        """Saves a running sandbox (memory, processes, files); it keeps running."""
        body: Dict[str, Any] = {} if name is None else {"name": name}
        path = f"{sandbox_path(sandbox_id)}/snapshots"
        return parse_snapshot(self._api.json("POST", path, body, timeout=self._save_timeout()))

    def list(
        self,
        sandbox_id: Optional[str] = None,
        name: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> SnapshotPage:
        """A page of the caller's snapshots, newest first (``next_cursor`` continues it)."""
        query = {"sandboxId": sandbox_id, "name": name, "limit": limit, "cursor": cursor}
        page = _object(self._api.json("GET", "/v1/snapshots", query=query), "snapshot page",
                       ("snapshots",))
        return SnapshotPage(
            snapshots=[parse_snapshot(s) for s in page["snapshots"]],
            next_cursor=page.get("nextCursor"),
        )

    def get(self, snapshot_id: str) -> Snapshot:
        return parse_snapshot(self._api.json("GET", f"/v1/snapshots/{_enc(snapshot_id)}"))

    def delete(self, snapshot_id: str) -> None:
        self._api.json("DELETE", f"/v1/snapshots/{_enc(snapshot_id)}")

    def fork(
        self, sandbox_id: str, count: Optional[int] = None, timeout_seconds: Optional[int] = None
    ) -> List[Fork]:
        """``count`` sandboxes from one snapshot of a running sandbox; each entry a sandbox or
        an error. ``Sandbox.connect(fork.sandbox.sandbox_id)`` uses one."""
        body: Dict[str, Any] = {}
        if count is not None:
            body["count"] = count
        if timeout_seconds is not None:
            body["timeoutSeconds"] = timeout_seconds
        path = f"{sandbox_path(sandbox_id)}/fork"
        answer = _object(
            self._api.json("POST", path, body, timeout=self._save_timeout()), "fork", ("forks",)
        )
        return [_parse_fork(f) for f in answer["forks"]]


class TemplatesClient:
    """/v1/templates: templates the caller's owner builds from OCI images."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def create(
        self,
        name: str,
        from_image: Optional[str] = None,
        from_template: Optional[str] = None,
        start_cmd: Optional[str] = None,
        ready_cmd: Optional[str] = None,
        **extra: Any,
    ) -> Template:
        """Starts a build; answers once the image is found (status ``building``); follow it
        with ``build(name)``. ``extra``: the contract's other fields, in its camelCase names
        (``steps``, ``registry``, ``cpuCount``, ...)."""
        body: Dict[str, Any] = {"name": name, **extra}
        for key, value in (
            ("fromImage", from_image),
            ("fromTemplate", from_template),
            ("startCmd", start_cmd),
            ("readyCmd", ready_cmd),
        ):
            if value is not None:
                body[key] = value
        return parse_template(self._api.json("POST", "/v1/templates", body))

    def list(self) -> List[Template]:
        answer = _object(self._api.json("GET", "/v1/templates"), "template list", ("templates",))
        return [parse_template(t) for t in answer["templates"]]

    def get(self, name_tag: str) -> Template:
        """One template, by NAME or NAME:TAG."""
        return parse_template(self._api.json("GET", f"/v1/templates/{_enc(name_tag)}"))

    def build(
        self, name_tag: str, logs_offset: Optional[int] = None, limit: Optional[int] = None
    ) -> TemplateBuild:
        """The template with its build log from ``logs_offset`` on (``next_logs_offset``
        continues it)."""
        query = {"logsOffset": logs_offset, "limit": limit}
        answer = _object(
            self._api.json("GET", f"/v1/templates/{_enc(name_tag)}/build", query=query),
            "template build",
            ("logs",),
        )
        return TemplateBuild(
            template=parse_template(answer.get("template")),
            logs=[_parse_log(line) for line in answer["logs"]],
            next_logs_offset=int(answer.get("nextLogsOffset", 0)),
        )

    def delete(self, name_tag: str) -> None:
        """Deletes it (ConflictException ``template_in_use`` while a sandbox uses it)."""
        self._api.json("DELETE", f"/v1/templates/{_enc(name_tag)}")


class WrennClient:
    """Snapshots, templates, workspaces and a sandbox's files without attaching to it
    (``sandboxes.read_file`` / ``.archive``, also for a failed sandbox); connection settings
    as ``Sandbox.create`` takes them (``api_key``, ``api_url``, ``request_timeout``;
    WRENN_API_KEY and WRENN_API_URL)."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        connection_config: Optional[ConnectionConfig] = None,
    ) -> None:
        config = connection_config or ConnectionConfig(
            api_key=api_key, api_url=api_url, request_timeout=request_timeout
        )
        self.api = ApiClient(config)
        self.snapshots = SnapshotsClient(self.api)
        self.templates = TemplatesClient(self.api)
        self.workspaces = WorkspacesClient(self.api)
        self.sandboxes = SandboxRecordsClient(self.api)
