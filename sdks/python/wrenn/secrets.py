"""Secrets (/v1/secrets), as the TypeScript SDK's ``Secrets``: values stored once per owner and
named in a sandbox's header rules as ``${e2b.secrets.NAME}`` (``Secrets.fill``). The host fills
them into requests at egress, so the value never enters the sandbox. Values are write-only: no
answer carries one. Every method takes the connection settings as ``Sandbox``'s class methods
do (``api_key``, ``api_url``, ``request_timeout``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from .api_client import ApiClient
from .connection_config import ConnectionConfig
from .exceptions import InvalidArgumentException, UnexpectedResponseException
from .sandbox_info import _date

# The contract's secret names: 1 to 128 letters, digits, _ or -.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass
class SecretInfo:
    id: str
    # Stored lower-cased.
    name: str
    current_version: int
    metadata: Dict[str, str]
    created_at: Optional[datetime]
    updated_at: Optional[datetime]


def _parse(value: Any) -> SecretInfo:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise UnexpectedResponseException("unexpected_response", f"not a secret: {str(value)[:120]}")
    return SecretInfo(
        id=value["id"],
        name=str(value.get("name", "")),
        current_version=int(value.get("currentVersion", 0)),
        metadata=dict(value.get("metadata") or {}),
        created_at=_date(value.get("createdAt")),
        updated_at=_date(value.get("updatedAt")),
    )


def _path(ref: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise InvalidArgumentException("invalid_argument", "a secret id or name must be a non-empty string")
    return f"/v1/secrets/{quote(ref, safe='')}"


class Secrets:
    @staticmethod
    def _api(**conn: Any) -> ApiClient:
        return ApiClient(
            ConnectionConfig(
                api_key=conn.get("api_key"),
                api_url=conn.get("api_url"),
                request_timeout=conn.get("request_timeout"),
            )
        )

    @staticmethod
    def fill(name: str) -> str:
        """The placeholder for the secret's current value, for a header rule's value."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidArgumentException(
                "invalid_request",
                f"{str(name)[:40]!r} is not a secret name (1 to 128 letters, digits, '_' or '-')",
            )
        return "${e2b.secrets." + name + "}"

    @staticmethod
    def add(name: str, value: str, metadata: Optional[Dict[str, str]] = None, **conn: Any) -> SecretInfo:
        body: Dict[str, Any] = {"name": name, "value": value}
        if metadata is not None:
            body["metadata"] = metadata
        return _parse(Secrets._api(**conn).json("POST", "/v1/secrets", body))

    @staticmethod
    def update(ref: str, value: str, metadata: Optional[Dict[str, str]] = None, **conn: Any) -> SecretInfo:
        """A new version; metadata replaced when given, kept when not. Running sandboxes whose
        rules name the secret get the new value at once."""
        body: Dict[str, Any] = {"value": value}
        if metadata is not None:
            body["metadata"] = metadata
        return _parse(Secrets._api(**conn).json("POST", _path(ref), body))

    @staticmethod
    def get(ref: str, **conn: Any) -> SecretInfo:
        return _parse(Secrets._api(**conn).json("GET", _path(ref)))

    @staticmethod
    def list(**conn: Any) -> List[SecretInfo]:
        """Every secret of the owner, oldest first (all pages)."""
        api = Secrets._api(**conn)
        out: List[SecretInfo] = []
        cursor: Optional[str] = None
        while True:
            page = api.json("GET", "/v1/secrets", query={"limit": 100, "cursor": cursor})
            if not isinstance(page, dict):
                raise UnexpectedResponseException("unexpected_response", "not a page of secrets")
            out.extend(_parse(s) for s in page.get("secrets") or [])
            cursor = page.get("nextCursor")
            if not cursor:
                return out

    @staticmethod
    def remove(ref: str, **conn: Any) -> None:
        Secrets._api(**conn).json("DELETE", _path(ref))
