"""Where the control plane is and how to talk to it: arguments first, then the environment."""

from __future__ import annotations

import os
from typing import Dict, Optional
from urllib.parse import urlsplit

from .exceptions import AuthenticationException, InvalidArgumentException

DEFAULT_API_URL = "http://127.0.0.1:3000"
# Bounds each API call and the wait for a stream's first message (seconds).
DEFAULT_REQUEST_TIMEOUT = 60.0
# How long a broken output stream keeps trying to reconnect to its process (seconds).
DEFAULT_RECONNECT_TIMEOUT = 60.0


def _env(*names: str) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class ConnectionConfig:
    """The resolved settings every call uses.

    ``api_key``: default ``WRENN_API_KEY`` (or ``E2B_API_KEY``, which ``wrenn up`` sets to the
    same key). ``api_url``: default ``WRENN_API_URL`` (or ``E2B_API_URL``), else
    http://127.0.0.1:3000. ``request_timeout``: seconds each API call may take (0: none).
    ``reconnect_timeout``: seconds a broken command output stream keeps trying to reconnect
    (envd replays what was missed) before raising StreamLostException. ``domain``: the control
    plane's wildcard domain (its WRENN_DOMAIN), default ``WRENN_DOMAIN``, for ``get_host``'s
    ``<port>-<id>.<domain>``; without one, ports are reached through the API's own
    /v1/sandboxes/{id}/ports/{port}.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        headers: Optional[Dict[str, str]] = None,
        reconnect_timeout: Optional[float] = None,
        domain: Optional[str] = None,
    ) -> None:
        url = api_url or _env("WRENN_API_URL", "E2B_API_URL") or DEFAULT_API_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentException(
                "invalid_api_url",
                f"the API URL must be http:// or https:// (e.g. {DEFAULT_API_URL}), got {url!r}",
            )
        self.api_url = url.rstrip("/")
        self._api_key = api_key or _env("WRENN_API_KEY", "E2B_API_KEY")
        timeout = DEFAULT_REQUEST_TIMEOUT if request_timeout is None else request_timeout
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise InvalidArgumentException(
                "invalid_option", "request_timeout must be a number of seconds >= 0"
            )
        self.request_timeout = float(timeout)
        reconnect = DEFAULT_RECONNECT_TIMEOUT if reconnect_timeout is None else reconnect_timeout
        if not isinstance(reconnect, (int, float)) or reconnect < 0:
            raise InvalidArgumentException(
                "invalid_option", "reconnect_timeout must be a number of seconds >= 0"
            )
        self.reconnect_timeout = float(reconnect)
        self.headers: Dict[str, str] = dict(headers or {})
        self.domain: Optional[str] = domain or _env("WRENN_DOMAIN")

    @property
    def api_key(self) -> str:
        """The API key; raises a clear error when none was given."""
        if not self._api_key:
            raise AuthenticationException(
                "missing_api_key",
                "no API key: pass api_key= or set WRENN_API_KEY "
                "(`wrenn up` prints one; `wrenn keys create` makes more)",
            )
        return self._api_key

    def socket_timeout(self, timeout: Optional[float] = None) -> Optional[float]:
        """The socket timeout for a call: ``timeout`` or the config's; None when 0 (no bound)."""
        value = self.request_timeout if timeout is None else timeout
        return value if value > 0 else None
