#!/usr/bin/env python3
"""Reads a failed sandbox's files with ``WrennClient().sandboxes`` (and the asyncio flavour)
against the stack at WRENN_API_URL: the sandbox WRENN_FAILED_ID is in state error, the sandbox
WRENN_RUNNING_ID runs. Prints one JSON object; failed-files.test.ts holds it to what the Go
SDK's go/failedfiles prints for the same stack."""

import asyncio
import hashlib
import io
import json
import os
import re
import tarfile
import time
from typing import Any, Callable, Dict, TypeVar

from wrenn import AsyncWrennClient, SandboxException, WrennClient

T = TypeVar("T")
FAILED = os.environ["WRENN_FAILED_ID"]
RUNNING = os.environ["WRENN_RUNNING_ID"]
client = WrennClient()
files = client.sandboxes


def kind(error: BaseException) -> str:
    return re.sub(r"(Exception|Error)$", "", type(error).__name__)


def outcome(call: Callable[[], Any]) -> Dict[str, Any]:
    try:
        call()
        return {"error": None}
    except SandboxException as e:
        return {"error": kind(e), "code": e.code, "retryable": e.retryable}


def when_free(call: Callable[[], T]) -> T:
    """files_read_busy is retryable: a read that just ended frees the sandbox once its reader
    container is removed (seconds on a busy host)."""
    deadline = time.monotonic() + 180
    while True:
        try:
            return call()
        except SandboxException as e:
            if e.code != "files_read_busy" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    out["file"] = when_free(lambda: files.read_file(FAILED, "/home/user/out/a.txt")).decode()
    out["homeRelative"] = when_free(lambda: files.read_file(FAILED, "out/a.txt")).decode()
    digest = hashlib.sha256()
    size = 0
    big = when_free(lambda: files.read_file(FAILED, "/home/user/out/big.bin", None, "stream"))
    for chunk in big:
        digest.update(chunk)
        size += len(chunk)
    out["streamed"] = {"size": size, "sha256": digest.hexdigest()}
    archived = when_free(lambda: files.archive(FAILED, "/home/user/out"))
    tar = tarfile.open(fileobj=io.BytesIO(archived))
    out["archiveNames"] = sorted(m.name for m in tar.getmembers() if m.isfile())
    member = tar.extractfile("out/a.txt")
    out["archiveFile"] = member.read().decode() if member else None
    out["missing"] = outcome(lambda: when_free(lambda: files.read_file(FAILED, "/home/user/nope")))
    # One read at a time per sandbox: a second one while a first is held open is refused.
    held = when_free(lambda: files.archive(FAILED, "/usr", format="stream"))
    next(held)
    out["busy"] = outcome(lambda: files.read_file(FAILED, "/home/user/out/a.txt"))
    held.close()  # type: ignore[attr-defined]
    out["afterBusy"] = when_free(lambda: files.read_file(FAILED, "/home/user/out/a.txt")).decode()
    out["runningArchive"] = outcome(lambda: files.archive(RUNNING, "/home/user"))
    out["unknownSandbox"] = outcome(lambda: files.read_file("sb-00000000", "/etc/hostname"))
    out["async"] = asyncio.run(async_reads())
    return out


async def async_reads() -> Dict[str, Any]:
    """The asyncio flavour of the same client: bytes, and an async stream."""
    aclient = AsyncWrennClient()
    read = None
    deadline = time.monotonic() + 180
    while read is None:
        try:
            read = await aclient.sandboxes.read_file(FAILED, "/home/user/out/a.txt")
        except SandboxException as e:
            if e.code != "files_read_busy" or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    size = 0
    while True:
        try:
            stream = await aclient.sandboxes.archive(FAILED, "/home/user/out", format="stream")
            break
        except SandboxException as e:
            if e.code != "files_read_busy" or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    tar = bytearray()
    async for chunk in stream:
        tar.extend(chunk)
    size = len(tar)
    names = sorted(
        m.name for m in tarfile.open(fileobj=io.BytesIO(bytes(tar))).getmembers() if m.isfile()
    )
    return {"file": read.decode(), "archiveNames": names, "archiveNonEmpty": size > 0}


print(json.dumps(main()))
