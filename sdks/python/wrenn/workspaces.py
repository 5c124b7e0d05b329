"""Workspaces (/v1/workspaces), as the TypeScript SDK's ``Workspaces``: named, persistent
sandboxes with no end time. ``suspend`` pauses one, ``resume`` brings it back; nothing ends one
but ``destroy``. Every method takes the connection settings as ``Sandbox``'s class methods do
(``api_key``, ``api_url``, ``request_timeout``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from .api_client import ApiClient
from .connection_config import ConnectionConfig
from .exceptions import UnexpectedResponseException
from .sandbox_info import _date


@dataclass
class WorkspaceInfo:
    name: str
    # A str: "created", "running", "stopped" or "suspended" (a newer server may add states).
    state: str
    image: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    # The host's UDP port of its WireGuard endpoint; 0 until it has one.
    host_port: int
    # Its address on its host ("" while it has none, e.g. suspended).
    vm_ip: str
    sandbox_id: str
    # Its SSH host public key ("ssh-ed25519 ..."), "" while unknown: pin it in known_hosts.
    ssh_host_key: str
    created_at: Optional[datetime]


def parse_workspace(value: Any) -> WorkspaceInfo:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise UnexpectedResponseException(
            "unexpected_response", f"not a workspace: {str(value)[:120]}"
        )
    return WorkspaceInfo(
        name=value["name"],
        state=str(value.get("state", "")),
        image=str(value.get("image", "")),
        vcpus=int(value.get("vcpus", 0)),
        memory_mb=int(value.get("memoryMb", 0)),
        disk_gb=int(value.get("diskGb", 0)),
        host_port=int(value.get("hostPort", 0)),
        vm_ip=str(value.get("vmIp", "")),
        sandbox_id=str(value.get("sandboxId", "")),
        ssh_host_key=str(value.get("sshHostKey", "")),
        created_at=_date(value.get("createdAt")),
    )


def _client(
    api_key: Optional[str], api_url: Optional[str], request_timeout: Optional[float]
) -> "WorkspacesClient":
    return WorkspacesClient(
        ApiClient(
            ConnectionConfig(api_key=api_key, api_url=api_url, request_timeout=request_timeout)
        )
    )


def _path(name: str) -> str:
    return f"/v1/workspaces/{quote(name, safe='')}"


class WorkspacesClient:
    """The workspace operations, by name, on one connection (``WrennClient().workspaces``)."""

    def __init__(self, api: ApiClient) -> None:
        self._api = api

    def create(
        self,
        name: str,
        image: Optional[str] = None,
        vcpus: Optional[int] = None,
        memory_mb: Optional[int] = None,
        disk_gb: Optional[int] = None,
    ) -> WorkspaceInfo:
        """Creates a workspace; what is left out takes the server's defaults."""
        body: Dict[str, Any] = {"name": name}
        for key, value in (("image", image), ("vcpus", vcpus), ("memoryMb", memory_mb),
                           ("diskGb", disk_gb)):
            if value is not None:
                body[key] = value
        # A cold boot with a bigger disk: no client-side deadline shorter than the server's.
        return parse_workspace(self._api.json("POST", "/v1/workspaces", body, timeout=0))

    def list(self) -> List[WorkspaceInfo]:
        answer = self._api.json("GET", "/v1/workspaces")
        if not isinstance(answer, dict) or not isinstance(answer.get("workspaces"), list):
            raise UnexpectedResponseException(
                "unexpected_response", f"not a workspace list: {str(answer)[:120]}"
            )
        return [parse_workspace(w) for w in answer["workspaces"]]

    def get(self, name: str) -> WorkspaceInfo:
        return parse_workspace(self._api.json("GET", _path(name)))

    def suspend(self, name: str) -> WorkspaceInfo:
        return parse_workspace(self._api.json("POST", f"{_path(name)}/suspend", timeout=0))

    def resume(self, name: str) -> WorkspaceInfo:
        return parse_workspace(self._api.json("POST", f"{_path(name)}/resume", timeout=0))

    def destroy(self, name: str) -> None:
        """Destroys the workspace and its disk; the name is free afterwards."""
        self._api.json("DELETE", _path(name), timeout=0)


class Workspaces:
    """The workspace operations, by name, each with its own connection settings."""

    @staticmethod
    def create(
        name: str,
        image: Optional[str] = None,
        vcpus: Optional[int] = None,
        memory_mb: Optional[int] = None,
        disk_gb: Optional[int] = None,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> WorkspaceInfo:
        """Creates a workspace; what is left out takes the server's defaults."""
        return _client(api_key, api_url, request_timeout).create(
            name, image, vcpus, memory_mb, disk_gb
        )

    @staticmethod
    def list(
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> List[WorkspaceInfo]:
        return _client(api_key, api_url, request_timeout).list()

    @staticmethod
    def get(
        name: str,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> WorkspaceInfo:
        return _client(api_key, api_url, request_timeout).get(name)

    @staticmethod
    def suspend(
        name: str,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> WorkspaceInfo:
        return _client(api_key, api_url, request_timeout).suspend(name)

    @staticmethod
    def resume(
        name: str,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> WorkspaceInfo:
        return _client(api_key, api_url, request_timeout).resume(name)

    @staticmethod
    def destroy(
        name: str,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
    ) -> None:
        """Destroys the workspace and its disk; the name is free afterwards."""
        _client(api_key, api_url, request_timeout).destroy(name)
