"""The Sandbox class: E2B's shape (create / connect / list / kill, commands, files, pty) over
Wrenn's /v1 API, with envd reached through the control plane's proxy."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Dict, List, Optional, TypeVar
from urllib.parse import urlsplit

from ._contract import ENVD_PORT, LIMITS
from .api_client import ApiClient, sandbox_path
from .commands import Commands
from .connection_config import ConnectionConfig
from .envd import EnvdConnection
from .exceptions import ConflictException, InvalidArgumentException, NotFoundException
from .filesystem import Filesystem
from .pty import Pty
from .sandbox_info import (
    SandboxInfo,
    SandboxMetrics,
    SandboxNetworkOpts,
    SandboxNetworkUpdate,
    SandboxPaginator,
    SandboxQuery,
    parse_sandbox,
    parse_stats,
)

T = TypeVar("T")

# Pausing writes the sandbox's memory to disk, and resuming a hibernated one copies it back:
# neither is a request-sized wait.
_SUSPEND_TIMEOUT = 300.0


class _class_method_variant:
    """E2B's pattern: ``Sandbox.kill(sandbox_id)`` on the class, ``sandbox.kill()`` on an
    instance, one name."""

    def __init__(self, class_method: str) -> None:
        self.class_method = class_method

    def __call__(self, method: Callable[..., T]) -> Any:
        self.method = method
        functools.update_wrapper(self, method)
        return self

    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return getattr(owner, self.class_method)
        return functools.partial(self.method, obj)


def _seconds(name: str, value: Optional[float]) -> Optional[int]:
    if value is None:
        return None
    bounds = LIMITS["timeoutSeconds"]
    if not isinstance(value, (int, float)) or value <= 0 or value > bounds["max"]:
        raise InvalidArgumentException(
            "invalid_request", f"{name} must be seconds in (0, {bounds['max']}], got {value!r}"
        )
    return math.ceil(value)


def _bounded(name: str, value: Optional[int], bounds: Dict[str, int]) -> Optional[int]:
    if value is not None and (
        not isinstance(value, int) or not bounds["min"] <= value <= bounds["max"]
    ):
        raise InvalidArgumentException(
            "invalid_request", f"{name} must be {bounds['min']}-{bounds['max']}, got {value!r}"
        )
    return value


def _config(
    api_key: Optional[str] = None,
    api_url: Optional[str] = None,
    request_timeout: Optional[float] = None,
    domain: Optional[str] = None,
) -> ConnectionConfig:
    return ConnectionConfig(
        api_key=api_key, api_url=api_url, request_timeout=request_timeout, domain=domain
    )


class Sandbox:
    """A sandbox: make one with ``Sandbox.create()``, or attach to an existing one with
    ``Sandbox.connect(sandbox_id)`` (which resumes it if it was paused).

    Connection settings (``api_key``, ``api_url``, ``request_timeout``) default to
    WRENN_API_KEY and WRENN_API_URL.
    """

    envd_port = ENVD_PORT

    def __init__(
        self,
        sandbox_id: str,
        envd_access_token: str,
        connection_config: Optional[ConnectionConfig] = None,
        traffic_access_token: Optional[str] = None,
    ) -> None:
        self.sandbox_id = sandbox_id
        # Set when the sandbox was created with ``network={"allow_public_traffic": False}``:
        # its ports, reached through their URL, then need the header
        # ``e2b-traffic-access-token`` with this value. None when they are public.
        self.traffic_access_token = traffic_access_token
        self.connection_config = connection_config or ConnectionConfig()
        self._api = ApiClient(self.connection_config)
        self._envd = EnvdConnection(self._api, sandbox_id, envd_access_token)
        self.commands = Commands(self._envd, self.connection_config)
        self.files = Filesystem(self._envd, self.connection_config)
        self.pty = Pty(self._envd, self.connection_config)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()

    # ---- on the class

    @classmethod
    def create(
        cls,
        template: Optional[str] = None,
        timeout: Optional[float] = None,
        metadata: Optional[Dict[str, str]] = None,
        envs: Optional[Dict[str, str]] = None,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        allow_internet_access: Optional[bool] = None,
        auto_pause: Optional[bool] = None,
        auto_resume: Optional[bool] = None,
        vcpus: Optional[int] = None,
        memory_mb: Optional[int] = None,
        disk_mb: Optional[int] = None,
        network: Optional[SandboxNetworkOpts] = None,
        domain: Optional[str] = None,
    ) -> "Sandbox":
        """Creates a sandbox (template ``base`` by default) and returns once envd inside it
        answers. ``timeout``: its lifetime in seconds (the server's default is 300); then it is
        destroyed, or paused with ``auto_pause``; with ``auto_resume`` too, a request to one of
        its ports while it is paused resumes it first. ``network``: ``allow_out`` / ``deny_out``
        (egress; allow wins) and ``allow_public_traffic`` (False: ports need
        ``traffic_access_token``)."""
        resources = {
            k: v
            for k, v in {
                "vcpus": _bounded("vcpus", vcpus, LIMITS["vcpus"]),
                "memoryMb": _bounded("memory_mb", memory_mb, LIMITS["memoryMb"]),
                "diskMb": _bounded("disk_mb", disk_mb, LIMITS["diskMb"]),
            }.items()
            if v is not None
        }
        body: Dict[str, Any] = {}
        if template is not None:
            body["template"] = template
        if resources:
            body["resources"] = resources
        seconds = _seconds("timeout", timeout)
        if seconds is not None:
            body["timeoutSeconds"] = seconds
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if envs is not None:
            body["envVars"] = dict(envs)
        if allow_internet_access is not None:
            body["allowInternet"] = bool(allow_internet_access)
        if auto_pause is not None:
            body["autoPause"] = bool(auto_pause)
        if auto_resume is not None:
            body["autoResume"] = bool(auto_resume)
        if network is not None:
            body["network"] = _network_body(network, at_create=True)
        config = _config(api_key, api_url, request_timeout, domain)
        answer = ApiClient(config).json("POST", "/v1/sandboxes", body)
        return cls._from_owned(answer, config)

    @classmethod
    def connect(
        cls,
        sandbox_id: str,
        timeout: Optional[float] = None,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        domain: Optional[str] = None,
    ) -> "Sandbox":
        """Attaches to an existing sandbox, resuming it first if it is paused. Raises
        SandboxNotFoundException when it does not exist or is not yours."""
        config = _config(api_key, api_url, request_timeout, domain)
        return cls._from_owned(_resume(ApiClient(config), sandbox_id, timeout), config)

    @classmethod
    def list(
        cls,
        query: Optional[SandboxQuery] = None,
        limit: Optional[int] = None,
        next_token: Optional[str] = None,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> SandboxPaginator:
        """Your sandboxes, a page at a time (``next_items()``) or all by iterating."""
        api = ApiClient(_config(api_key, api_url, request_timeout))
        return SandboxPaginator(api, query, limit, next_token)

    @classmethod
    def _from_owned(cls, answer: Any, config: ConnectionConfig) -> "Sandbox":
        info = parse_sandbox(answer)
        owned = answer if isinstance(answer, dict) else {}
        token = owned.get("envdAccessToken")
        traffic = owned.get("trafficAccessToken")
        return cls(
            info.sandbox_id,
            token or "",
            config,
            traffic if isinstance(traffic, str) and traffic else None,
        )

    @classmethod
    def _cls_kill(cls, sandbox_id: str, **conn: Any) -> bool:
        return _kill(ApiClient(_config(**conn)), sandbox_id)

    @classmethod
    def _cls_pause(cls, sandbox_id: str, **conn: Any) -> bool:
        return _pause(ApiClient(_config(**conn)), sandbox_id)

    @classmethod
    def _cls_resume(
        cls, sandbox_id: str, timeout: Optional[float] = None, **conn: Any
    ) -> "Sandbox":
        return cls.connect(sandbox_id, timeout, **conn)

    @classmethod
    def _cls_set_timeout(cls, sandbox_id: str, timeout: float, **conn: Any) -> None:
        _set_timeout(ApiClient(_config(**conn)), sandbox_id, timeout)

    @classmethod
    def _cls_get_info(cls, sandbox_id: str, **conn: Any) -> SandboxInfo:
        return parse_sandbox(ApiClient(_config(**conn)).json("GET", sandbox_path(sandbox_id)))

    @classmethod
    def _cls_get_metrics(cls, sandbox_id: str, **conn: Any) -> List[SandboxMetrics]:
        return _metrics(ApiClient(_config(**conn)), sandbox_id)

    @classmethod
    def _cls_update_network(
        cls, sandbox_id: str, network: SandboxNetworkUpdate, **conn: Any
    ) -> SandboxInfo:
        return _update_network(ApiClient(_config(**conn)), sandbox_id, network)

    # ---- on an instance (each also works on the class with a sandbox id first)

    @_class_method_variant("_cls_kill")
    def kill(self) -> bool:
        """Destroys the sandbox. True when it existed; False when unknown."""
        return _kill(self._api, self.sandbox_id)

    @_class_method_variant("_cls_pause")
    def pause(self) -> bool:
        """Pauses the sandbox (memory and disk kept). False when it was not running."""
        return _pause(self._api, self.sandbox_id)

    @_class_method_variant("_cls_resume")
    def resume(self, timeout: Optional[float] = None) -> "Sandbox":
        """Resumes the sandbox if it is paused (else only extends its end time)."""
        token = _resume(self._api, self.sandbox_id, timeout).get("envdAccessToken")
        if isinstance(token, str) and token:
            self._envd.access_token = token
        return self

    @_class_method_variant("_cls_set_timeout")
    def set_timeout(self, timeout: float) -> None:
        """Sets the end time to now + ``timeout`` seconds (may shorten it)."""
        _set_timeout(self._api, self.sandbox_id, timeout)

    @_class_method_variant("_cls_get_info")
    def get_info(self) -> SandboxInfo:
        return parse_sandbox(self._api.json("GET", sandbox_path(self.sandbox_id)))

    @_class_method_variant("_cls_update_network")
    def update_network(self, network: SandboxNetworkUpdate) -> SandboxInfo:
        """Replaces the running sandbox's egress policy at once (what ``network`` leaves out
        is cleared); connections the new policy forbids are cut. Returns the new info."""
        return _update_network(self._api, self.sandbox_id, network)

    @_class_method_variant("_cls_get_metrics")
    def get_metrics(self) -> List[SandboxMetrics]:
        """Current CPU, memory and disk use, as a one-sample list; empty when not running."""
        return _metrics(self._api, self.sandbox_id)

    def is_running(self) -> bool:
        """Whether the sandbox is running (per the API)."""
        try:
            info: SandboxInfo = self.get_info()
            return info.state == "running"
        except NotFoundException:
            return False

    def get_host(self, port: int) -> str:
        """Where a port of the sandbox is reached from outside, without a scheme (E2B's
        ``get_host``): ``<port>-<id>.<domain>`` when the control plane has a wildcard domain
        (``domain=`` or WRENN_DOMAIN), else ``<api host>/v1/sandboxes/<id>/ports/<port>``,
        which needs the API key in X-API-Key. ``get_url`` gives the full URL."""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidArgumentException("invalid_port", f"port must be 1-65535, got {port!r}")
        domain = self.connection_config.domain
        if domain:
            return f"{port}-{self.sandbox_id}.{domain}"
        api = urlsplit(self.connection_config.api_url)
        # The host as a URL parser normalises it (TypeScript's URL.host): no credentials, no
        # default port.
        host = api.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if api.port is not None and api.port != {"http": 80, "https": 443}.get(api.scheme):
            host = f"{host}:{api.port}"
        prefix = api.path.rstrip("/")
        return f"{host}{prefix}{sandbox_path(self.sandbox_id)}/ports/{port}"

    def get_url(self, port: int) -> str:
        """The http(s) URL of a sandbox port (see ``get_host``)."""
        scheme = urlsplit(self.connection_config.api_url).scheme
        return f"{scheme}://{self.get_host(port)}"


def _kill(api: ApiClient, sandbox_id: str) -> bool:
    try:
        api.json("DELETE", sandbox_path(sandbox_id))
        return True
    except NotFoundException:
        return False


def _pause(api: ApiClient, sandbox_id: str) -> bool:
    try:
        timeout = max(api.config.request_timeout, _SUSPEND_TIMEOUT)
        api.json("POST", f"{sandbox_path(sandbox_id)}/pause", {}, timeout=timeout)
        return True
    except ConflictException:
        return False


def _resume(api: ApiClient, sandbox_id: str, timeout: Optional[float]) -> Dict[str, Any]:
    seconds = _seconds("timeout", timeout)
    answer = api.json(
        "POST",
        f"{sandbox_path(sandbox_id)}/resume",
        {} if seconds is None else {"timeoutSeconds": seconds},
        timeout=max(api.config.request_timeout, _SUSPEND_TIMEOUT),
    )
    # A dict of the server's JSON (or {} for an empty answer).
    resumed: Dict[str, Any] = answer if isinstance(answer, dict) else {}
    return resumed


def _set_timeout(api: ApiClient, sandbox_id: str, timeout: float) -> None:
    api.json(
        "POST", f"{sandbox_path(sandbox_id)}/timeout", {"timeoutSeconds": _seconds("timeout", timeout)}
    )


def _strings(name: str, value: Any) -> List[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentException("invalid_request", f"{name} must be a list of strings")
    return list(value)


def _network_body(network: Any, at_create: bool) -> Dict[str, Any]:
    """E2B's Python names (``allow_out``, ``deny_out``, ``allow_public_traffic``) to the wire's;
    the server validates the entries (one rule, in the contract)."""
    if not isinstance(network, dict):
        raise InvalidArgumentException("invalid_request", "network must be a dict")
    known = {"allow_out", "deny_out", "rules", "egress_proxy"} | (
        {"allow_public_traffic"} if at_create else set()
    )
    unknown = sorted(set(network) - known)
    if unknown:
        raise InvalidArgumentException(
            "invalid_request", f"network has unknown keys {unknown}; known: {sorted(known)}"
        )
    body: Dict[str, Any] = {}
    if network.get("allow_out") is not None:
        body["allowOut"] = _strings("network.allow_out", network["allow_out"])
    if network.get("deny_out") is not None:
        body["denyOut"] = _strings("network.deny_out", network["deny_out"])
    if network.get("rules") is not None:
        if not isinstance(network["rules"], dict):
            raise InvalidArgumentException("invalid_request", "network.rules must be a dict")
        body["rules"] = network["rules"]
    if network.get("egress_proxy") is not None:
        proxy = network["egress_proxy"]
        if not isinstance(proxy, dict):
            raise InvalidArgumentException(
                "invalid_request", "network.egress_proxy must be a dict {address, username?, password?}"
            )
        body["egressProxy"] = proxy
    if network.get("allow_public_traffic") is not None:
        body["allowPublicTraffic"] = bool(network["allow_public_traffic"])
    return body


def _update_network(api: ApiClient, sandbox_id: str, network: Any) -> SandboxInfo:
    update = dict(network) if isinstance(network, dict) else network
    internet = update.pop("allow_internet_access", None) if isinstance(update, dict) else None
    body: Dict[str, Any] = {"network": _network_body(update, at_create=False)}
    if internet is not None:
        body["allowInternet"] = bool(internet)
    return parse_sandbox(api.json("PUT", f"{sandbox_path(sandbox_id)}/network", body))


def _metrics(api: ApiClient, sandbox_id: str) -> List[SandboxMetrics]:
    try:
        return [parse_stats(api.json("GET", f"{sandbox_path(sandbox_id)}/stats"))]
    except ConflictException:
        return []
