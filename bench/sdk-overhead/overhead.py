#!/usr/bin/env python3
"""bench/sdk-overhead's Python side: the `wrenn` package beside the same calls made raw with
http.client, alternating one and the other on one sandbox. Prints one JSON object of ms lists:
{"exec": {"sdk", "raw"}, "upload": {...}, "download": {...}}. See bench/sdk-overhead.ts."""

import http.client
import json
import os
import struct
import time
from typing import Callable, Dict, List
from urllib.parse import quote, urlencode, urlsplit

from wrenn import ConnectionConfig, Sandbox
from wrenn._contract import API_KEY_HEADER, ENVD_ACCESS_TOKEN_HEADER, ENVD_PORT

URL = os.environ["WRENN_API_URL"]
KEY = os.environ["WRENN_API_KEY"]
ID = os.environ["BENCH_SANDBOX_ID"]
TOKEN = os.environ["BENCH_ENVD_TOKEN"]
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
TRANSFERS = int(os.environ.get("BENCH_TRANSFERS", "3"))
SIZE = int(os.environ.get("BENCH_MIB", "100")) * 1024 * 1024
PATH = "/tmp/bench-overhead-py.bin"

sbx = Sandbox(ID, TOKEN, ConnectionConfig(api_key=KEY, api_url=URL, request_timeout=600))
base = urlsplit(URL)
prefix = f"/v1/sandboxes/{quote(ID, safe='')}/ports/{ENVD_PORT}"
headers = {API_KEY_HEADER: KEY, ENVD_ACCESS_TOKEN_HEADER: TOKEN}
data = bytes(range(256)) * (SIZE // 256)


def raw(method: str, path: str, body: object, extra: Dict[str, str]) -> bytes:
    conn = http.client.HTTPConnection(base.netloc, timeout=600)
    try:
        conn.request(method, prefix + path, body=body, headers={**headers, **extra})  # type: ignore[arg-type]
        res = conn.getresponse()
        out = res.read()
        if res.status != 200:
            raise RuntimeError(f"{method} {path}: {res.status} {out[:200]!r}")
        return out
    finally:
        conn.close()


def raw_exec() -> None:
    message = json.dumps({"process": {"cmd": "/bin/bash", "args": ["-l", "-c", "true"]}}).encode()
    out = raw(
        "POST",
        "/process.Process/Start",
        struct.pack(">BI", 0, len(message)) + message,
        {"content-type": "application/connect+json", "connect-protocol-version": "1"},
    )
    if b'"end"' not in out:
        raise RuntimeError(f"no end event: {out[:200]!r}")


def raw_upload() -> None:
    raw("POST", "/files?" + urlencode({"path": PATH}), data, {"content-type": "application/octet-stream"})


def raw_download() -> None:
    if len(raw("GET", "/files?" + urlencode({"path": PATH}), None, {})) != SIZE:
        raise RuntimeError("short download")


def sdk_download() -> None:
    if len(sbx.files.read(PATH, format="bytes")) != SIZE:
        raise RuntimeError("short download")


def pair(runs: int, sdk: Callable[[], object], raw_call: Callable[[], object]) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {"sdk": [], "raw": []}
    sdk()
    raw_call()  # one of each to warm up
    for _ in range(runs):
        for name, call in (("sdk", sdk), ("raw", raw_call)):
            t = time.perf_counter()
            call()
            out[name].append((time.perf_counter() - t) * 1000)
    return out


print(
    json.dumps(
        {
            "exec": pair(RUNS, lambda: sbx.commands.run("true"), raw_exec),
            "upload": pair(TRANSFERS, lambda: sbx.files.write(PATH, data), raw_upload),
            "download": pair(TRANSFERS, sdk_download, raw_download),
        }
    )
)
