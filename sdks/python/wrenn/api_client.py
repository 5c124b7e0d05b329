"""Wrenn's /v1 REST API: JSON in, JSON out, every failure a typed error."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode

from . import _http
from ._contract import API_KEY_HEADER
from .connection_config import ConnectionConfig
from .exceptions import InvalidArgumentException, UnexpectedResponseException, error_from_body

SDK_VERSION = "0.1.0"

QueryValue = Union[str, int, bool, None, Sequence[str]]


class ApiClient:
    """A thin client of the control plane's HTTP API."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config

    def url(self, path: str, query: Optional[Mapping[str, QueryValue]] = None) -> str:
        pairs: List[Tuple[str, str]] = []
        for name, value in (query or {}).items():
            if value is None:
                continue
            if isinstance(value, bool):
                pairs.append((name, "true" if value else "false"))
            elif isinstance(value, (list, tuple)):
                pairs.extend((name, str(v)) for v in value)
            else:
                pairs.append((name, str(value)))
        qs = urlencode(pairs)
        return f"{self.config.api_url}{path}{'?' + qs if qs else ''}"

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """Headers of every API call: the key, a user agent, and the caller's extras."""
        return {
            "user-agent": f"wrenn-sdk-python/{SDK_VERSION}",
            **self.config.headers,
            API_KEY_HEADER: self.config.api_key,
            **(extra or {}),
        }

    def open(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        query: Optional[Mapping[str, QueryValue]] = None,
        timeout: Optional[float] = None,
        content_type: Optional[str] = None,
    ) -> _http.Response:
        """Sends a request and returns a 2xx answer with its body unread (close it); any other
        answer raises its typed error."""
        headers = self.headers({"content-type": content_type} if content_type else {})
        response = _http.request(
            method, self.url(path, query), headers, body, self.config.socket_timeout(timeout)
        )
        if not 200 <= response.status < 300:
            with response:
                text = response.text()
            raise error_from_body(response.status, text, response.header("retry-after"))
        return response

    def raw(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        query: Optional[Mapping[str, QueryValue]] = None,
        timeout: Optional[float] = None,
        content_type: Optional[str] = None,
    ) -> bytes:
        """Sends a request and returns the answer's body (a non-2xx answer raises)."""
        with self.open(method, path, body, query, timeout, content_type) as response:
            return response.read()

    def json(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Optional[Mapping[str, QueryValue]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Sends a request and returns the parsed JSON (None for an empty answer)."""
        data = None if body is None else json.dumps(body).encode()
        content_type = "application/json" if data is not None else None
        text = self.raw(method, path, data, query, timeout, content_type).decode(
            "utf-8", errors="replace"
        )
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise UnexpectedResponseException(
                "invalid_json",
                f"{method} {path} answered with a body that is not JSON: {text[:120]}",
            )

def sandbox_path(sandbox_id: str) -> str:
    if not isinstance(sandbox_id, str) or not sandbox_id:
        raise InvalidArgumentException(
            "invalid_argument", "a sandbox id must be a non-empty string"
        )
    return f"/v1/sandboxes/{quote(sandbox_id, safe='')}"
