"""HTTP/1.1 over the standard library (http.client): one connection per request, bodies of
bytes or streamed (iterables and file objects go out chunked), answers read as they come."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import IO, Any, Dict, Iterable, Optional, Union
from urllib.parse import urlsplit

from .exceptions import ConnectionException, SandboxException, TimeoutException

Body = Union[bytes, Iterable[bytes], IO[bytes], None]


class Response:
    """A 2xx-or-not answer whose body has not been read yet. Close it (or use ``with``)."""

    def __init__(self, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse) -> None:
        self._conn = conn
        self.raw = raw
        self.status = raw.status
        self.headers = raw.headers

    def header(self, name: str) -> Optional[str]:
        return self.raw.getheader(name)

    def read(self, amount: Optional[int] = None) -> bytes:
        try:
            return self.raw.read(amount) if amount is not None else self.raw.read()
        except socket.timeout as error:
            raise TimeoutException("request_timeout", f"the server stopped answering ({error})")
        except (OSError, http.client.HTTPException) as error:
            raise ConnectionException("connection_lost", f"the connection broke ({error})")

    def text(self) -> str:
        return self.read().decode("utf-8", errors="replace")

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Changes the socket's timeout for the rest of the body (streams outlive requests)."""
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            self._conn.close()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def request(
    method: str,
    url: str,
    headers: Dict[str, str],
    body: Body = None,
    timeout: Optional[float] = None,
) -> Response:
    """Sends a request and returns the answer once its headers arrived (any status)."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.netloc, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        # Iterables and file objects without a length go out chunked (http.client does it).
        conn.request(method, target, body=body, headers=headers, encode_chunked=False)
        return Response(conn, conn.getresponse())
    except SandboxException:
        conn.close()
        raise
    except socket.timeout as error:
        conn.close()
        raise TimeoutException(
            "request_timeout", f"{method} {parts.path}: no answer in time ({error})"
        )
    except (OSError, http.client.HTTPException) as error:
        conn.close()
        raise ConnectionException(
            "unreachable",
            f"cannot reach the Wrenn control plane at {parts.scheme}://{parts.netloc} ({error}); "
            "is it running (wrenn up / npm start) and is WRENN_API_URL right?",
        )
