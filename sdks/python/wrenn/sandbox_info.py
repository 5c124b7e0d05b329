"""What the API says about a sandbox, in E2B's field names (sandbox_id, template_id,
cpu_count, memory_mb, ...) plus Wrenn's own; and ``Sandbox.list``'s pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterator, List, Optional, TypedDict

from ._contract import LIMITS, SandboxState
from .api_client import ApiClient
from .exceptions import InvalidArgumentException, UnexpectedResponseException


def _date(value: Any) -> Optional[datetime]:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class SandboxNetworkOpts(TypedDict, total=False):
    """``Sandbox.create(network=...)``, in E2B's Python names. ``allow_out`` / ``deny_out``:
    IPv4 addresses, CIDRs or (``allow_out`` only) host names and ``*.`` wildcards (a
    destination in ``allow_out`` is reachable whatever ``deny_out``
    says); ``allow_public_traffic``: False makes the sandbox's ports need
    ``Sandbox.traffic_access_token``. ``rules``: E2B's header rules, e.g.
    ``{"api.example.com": [{"transform": {"headers": {"Authorization": "Bearer
    ${e2b.secrets.API_TOKEN}"}}}]}``, set by the host's egress proxy (placeholders filled in
    on the host, never in the sandbox); they do not allow a domain."""

    allow_out: List[str]
    deny_out: List[str]
    allow_public_traffic: bool
    rules: Dict[str, List[Dict[str, Any]]]
    # E2B's egressProxy: {"address": "host:port", "username": ..., "password": ...}; allowed TCP
    # goes through this SOCKS5 proxy, never direct. The password is never returned.
    egress_proxy: Dict[str, str]


class SandboxNetworkUpdate(TypedDict, total=False):
    """``sandbox.update_network(...)``: a whole new egress policy; what it leaves out is
    cleared. ``allow_internet_access`` unset: the server's default, as at create."""

    allow_out: List[str]
    deny_out: List[str]
    allow_internet_access: bool
    rules: Dict[str, List[Dict[str, Any]]]
    egress_proxy: Dict[str, str]


@dataclass
class SandboxNetwork:
    allow_out: List[str] = field(default_factory=list)
    deny_out: List[str] = field(default_factory=list)
    # As written: placeholders, never secret values. None: no rules.
    rules: Optional[Dict[str, Any]] = None
    # {"address", "username"?}: never the password. None: no proxy.
    egress_proxy: Optional[Dict[str, str]] = None


@dataclass
class SandboxInfo:
    sandbox_id: str
    template_id: str
    # A str: a newer server may report a state this SDK's SandboxState does not list.
    state: str
    metadata: Dict[str, str]
    started_at: Optional[datetime]
    end_at: Optional[datetime]
    cpu_count: int
    memory_mb: int
    disk_size_mb: int
    envd_version: Optional[str] = None
    allow_internet_access: bool = False
    auto_pause: bool = False
    auto_resume: bool = False
    timeout_seconds: int = 0
    env_var_names: List[str] = field(default_factory=list)
    host_id: Optional[str] = None
    error: Optional[str] = None
    error_reason: Optional[str] = None
    network: SandboxNetwork = field(default_factory=SandboxNetwork)
    allow_public_traffic: bool = True


@dataclass
class SandboxMetrics:
    timestamp: Optional[datetime]
    cpu_count: int
    cpu_used_pct: float
    mem_used: int
    mem_total: int
    mem_cache: int
    disk_used: int
    disk_total: int


@dataclass
class SandboxQuery:
    """Filters of ``Sandbox.list``: all must match."""

    metadata: Optional[Dict[str, str]] = None
    # Default: every state but stopped.
    state: Optional[List[SandboxState]] = None
    template: Optional[str] = None


def parse_sandbox(value: Any) -> SandboxInfo:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise UnexpectedResponseException(
            "unexpected_response", f"not a sandbox: {str(value)[:120]}"
        )
    resources = value.get("resources") or {}
    network = value.get("network") or {}
    return SandboxInfo(
        sandbox_id=value["id"],
        template_id=value.get("template", ""),
        state=value.get("state", ""),
        metadata=dict(value.get("metadata") or {}),
        started_at=_date(value.get("startedAt")),
        end_at=_date(value.get("endAt")),
        cpu_count=int(resources.get("vcpus", 0)),
        memory_mb=int(resources.get("memoryMb", 0)),
        disk_size_mb=int(resources.get("diskMb", 0)),
        envd_version=value.get("envdVersion"),
        allow_internet_access=bool(value.get("allowInternet")),
        auto_pause=bool(value.get("autoPause")),
        auto_resume=bool(value.get("autoResume")),
        timeout_seconds=int(value.get("timeoutSeconds", 0)),
        env_var_names=list(value.get("envVarNames") or []),
        host_id=value.get("hostId"),
        error=value.get("error"),
        error_reason=value.get("errorReason"),
        network=SandboxNetwork(
            allow_out=list(network.get("allowOut") or []),
            deny_out=list(network.get("denyOut") or []),
            rules=network.get("rules"),
            egress_proxy=network.get("egressProxy"),
        ),
        allow_public_traffic=value.get("allowPublicTraffic") is not False,
    )


def parse_stats(value: Any) -> SandboxMetrics:
    if not isinstance(value, dict):
        raise UnexpectedResponseException("unexpected_response", "stats is not an object")
    return SandboxMetrics(
        timestamp=_date(value.get("timestamp")),
        cpu_count=int(value.get("cpuCount", 0)),
        cpu_used_pct=float(value.get("cpuUsedPct", 0)),
        mem_used=int(value.get("memUsedBytes", 0)),
        mem_total=int(value.get("memTotalBytes", 0)),
        mem_cache=int(value.get("memCacheBytes", 0)),
        disk_used=int(value.get("diskUsedBytes", 0)),
        disk_total=int(value.get("diskTotalBytes", 0)),
    )


class SandboxPaginator:
    """Pages of ``Sandbox.list()``: ``next_items()`` while ``has_next``, or iterate over all."""

    def __init__(
        self,
        api: ApiClient,
        query: Optional[SandboxQuery] = None,
        limit: Optional[int] = None,
        next_token: Optional[str] = None,
    ) -> None:
        bounds = LIMITS["listLimit"]
        if limit is not None and (
            not isinstance(limit, int) or not bounds["min"] <= limit <= bounds["max"]
        ):
            raise InvalidArgumentException(
                "invalid_request", f"limit must be {bounds['min']}-{bounds['max']}, got {limit!r}"
            )
        self._api = api
        self._query = query or SandboxQuery()
        self._limit = limit
        self._token = next_token
        self._started = False

    @property
    def has_next(self) -> bool:
        """Whether another page may follow (True before the first page)."""
        return not self._started or self._token is not None

    @property
    def next_token(self) -> Optional[str]:
        """The token of the next page, to continue later with ``next_token=``."""
        return self._token

    def next_items(self) -> List[SandboxInfo]:
        """The next page; an empty list once there are no more."""
        if not self.has_next:
            return []
        q = self._query
        states = [s.value if isinstance(s, SandboxState) else str(s) for s in q.state or []]
        body = self._api.json(
            "GET",
            "/v1/sandboxes",
            query={
                "state": ",".join(states) if states else None,
                "metadata": [f"{k}={v}" for k, v in (q.metadata or {}).items()] or None,
                "template": q.template,
                "limit": self._limit,
                "cursor": self._token,
            },
        )
        if not isinstance(body, dict) or not isinstance(body.get("sandboxes"), list):
            raise UnexpectedResponseException("unexpected_response", "not a page of sandboxes")
        cursor = body.get("nextCursor")
        self._started = True
        self._token = cursor if isinstance(cursor, str) else None
        return [parse_sandbox(s) for s in body["sandboxes"]]

    def __iter__(self) -> Iterator[SandboxInfo]:
        while self.has_next:
            yield from self.next_items()
