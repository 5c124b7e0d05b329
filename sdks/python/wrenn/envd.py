"""envd inside one sandbox, reached through the control plane's proxy at
/v1/sandboxes/{id}/ports/49983/...: the control plane checks the API key and the owner, envd its
own access token. envd speaks Connect; this SDK uses its JSON codec (application/json for unary
calls, application/connect+json envelopes for server streams), which needs nothing but
http.client. Files go over envd's /files route."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Dict, Iterator, Optional
from urllib.parse import quote, urlencode

from . import _http
from ._contract import ENVD_ACCESS_TOKEN_HEADER, ENVD_KEEPALIVE_SECONDS, ENVD_PORT
from .api_client import ApiClient
from .exceptions import (
    SandboxException,
    UnexpectedResponseException,
    error_from_body,
    error_from_connect,
)

# envd sends a keepalive message on an idle stream every this many seconds when asked.
KEEPALIVE_SECONDS = ENVD_KEEPALIVE_SECONDS
# A stream with no message for this long is broken (three keepalives missed).
STREAM_SILENCE_SECONDS = 3 * KEEPALIVE_SECONDS

_END_STREAM = 0x02


def encode_bytes(data: bytes) -> str:
    """Protobuf JSON's spelling of a bytes field."""
    return base64.b64encode(data).decode("ascii")


def decode_bytes(value: Any) -> bytes:
    return base64.b64decode(value) if isinstance(value, str) else b""


class EnvdConnection:
    """The route to one sandbox's envd, with the API key and envd's access token attached."""

    def __init__(self, api: ApiClient, sandbox_id: str, access_token: str) -> None:
        self.api = api
        self.sandbox_id = sandbox_id
        # Replaced when a resume hands out another.
        self.access_token = access_token
        self.base_url = api.url(f"/v1/sandboxes/{quote(sandbox_id, safe='')}/ports/{ENVD_PORT}")

    def headers(
        self, user: Optional[str] = None, extra: Optional[Dict[str, str]] = None
    ) -> Dict[str, str]:
        headers = self.api.headers({ENVD_ACCESS_TOKEN_HEADER: self.access_token, **(extra or {})})
        if user is not None:
            token = base64.b64encode(f"{user}:".encode()).decode("ascii")
            headers["authorization"] = f"Basic {token}"
        return headers

    def unary(
        self,
        method: str,
        message: Dict[str, Any],
        user: Optional[str] = None,
        timeout: Optional[float] = None,
        what: str = "other",
    ) -> Dict[str, Any]:
        """Calls a unary Connect method (``"filesystem.Filesystem/Stat"``) with a JSON message."""
        headers = self.headers(
            user, {"content-type": "application/json", "connect-protocol-version": "1"}
        )
        with _http.request(
            "POST",
            f"{self.base_url}/{method}",
            headers,
            json.dumps(message).encode(),
            self.api.config.socket_timeout(timeout),
        ) as response:
            text = response.text()
            if not 200 <= response.status < 300:
                raise envd_error(response.status, text, what)
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UnexpectedResponseException(
                "unexpected_response", f"envd answered {method} with {text[:120]!r}"
            )
        return body

    def stream(
        self,
        method: str,
        message: Dict[str, Any],
        user: Optional[str] = None,
        timeout: Optional[float] = None,
        headers: Optional[Dict[str, str]] = None,
        what: str = "other",
    ) -> "ConnectStream":
        """Opens a server stream; ``timeout`` bounds the wait for its answer."""
        all_headers = self.headers(
            user,
            {
                "content-type": "application/connect+json",
                "connect-protocol-version": "1",
                "keepalive-ping-interval": str(KEEPALIVE_SECONDS),
                **(headers or {}),
            },
        )
        payload = json.dumps(message).encode()
        response = _http.request(
            "POST",
            f"{self.base_url}/{method}",
            all_headers,
            struct.pack(">BI", 0, len(payload)) + payload,
            self.api.config.socket_timeout(timeout),
        )
        if not 200 <= response.status < 300:
            try:
                raise envd_error(response.status, response.text(), what)
            finally:
                response.close()
        return ConnectStream(response, what)

    def files_url(self, path: str, user: Optional[str]) -> str:
        query = {"path": path, **({} if user is None else {"username": user})}
        return f"{self.base_url}/files?{urlencode(query)}"

    def files_request(
        self,
        method: str,
        path: str,
        user: Optional[str],
        body: _http.Body = None,
        timeout: Optional[float] = None,
    ) -> _http.Response:
        """GET or POST envd's /files; raises its errors (E2B-shaped, 404: no such file)."""
        extra = {"content-type": "application/octet-stream"} if method == "POST" else {}
        response = _http.request(
            method,
            self.files_url(path, user),
            self.headers(None, extra),
            body,
            self.api.config.socket_timeout(timeout),
        )
        if not 200 <= response.status < 300:
            try:
                raise envd_error(response.status, response.text(), "file")
            finally:
                response.close()
        return response


class ConnectStream:
    """The messages of a Connect server stream, as dicts, until its end; an error at the end
    is raised as the SDK's typed error."""

    def __init__(self, response: _http.Response, what: str) -> None:
        self.response = response
        self.what = what
        self.closed = False

    def set_timeout(self, timeout: Optional[float]) -> None:
        self.response.set_timeout(timeout)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        try:
            while True:
                head = self._exactly(5, allow_eof=True)
                if not head:
                    raise UnexpectedResponseException(
                        "protocol_error", "envd's stream ended without its end message"
                    )
                flags, length = struct.unpack(">BI", head)
                data = self._exactly(length)
                message = json.loads(data.decode("utf-8")) if data else {}
                if flags & _END_STREAM:
                    error = message.get("error") if isinstance(message, dict) else None
                    if isinstance(error, dict):
                        raise error_from_connect(error, self.what)
                    return
                if isinstance(message, dict):
                    yield message
        finally:
            self.close()

    def _exactly(self, n: int, allow_eof: bool = False) -> bytes:
        chunks = []
        left = n
        while left > 0:
            chunk = self.response.read(left)
            if not chunk:
                if allow_eof and left == n:
                    return b""
                raise UnexpectedResponseException(
                    "protocol_error", "envd's stream broke off in the middle of a message"
                )
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.response.close()


def envd_error(status: int, text: str, what: str) -> SandboxException:
    """A refusal from the proxy (Wrenn's or E2B's shape) or envd's own Connect error."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str) and "error" not in body:
        return error_from_connect(body, what, status)
    return error_from_body(status, text)
