#!/usr/bin/env python3
"""The shared SDK scenario (scenario.json) in Python, with the `wrenn` package as installed.

Runs every step against the stack at WRENN_API_URL with WRENN_API_KEY and prints one JSON
object, {step id: what was observed}, as its last line; scenario.test.ts compares it with
the scenario's expectations. A step that raised reports {"failed": "..."} and the run goes on.
"""

import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List

from wrenn import (
    CommandExitException,
    CommandTimeoutException,
    PtySize,
    Sandbox,
    SandboxException,
    SandboxQuery,
    Workspaces,
    WrennClient,
)
from wrenn._contract import SANDBOX_ID_PATTERN, SNAPSHOT_ID_PATTERN

SCENARIO = json.load(open(os.path.join(os.path.dirname(__file__), "scenario.json")))
PARAMS = {step["id"]: step["params"] for step in SCENARIO["steps"]}


def kind(error: BaseException) -> str:
    """The error's class without its suffix: what every runner reports."""
    return re.sub(r"(Exception|Error)$", "", type(error).__name__)


def eventually(check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def pattern(n: int) -> Iterator[bytes]:
    """n bytes where byte i is i*31 mod 251, in 1 MiB pieces."""
    block = bytes((i * 31) % 251 for i in range(251 * 4096))  # a whole number of periods
    sent = 0
    while sent < n:
        piece = block[: min(len(block), n - sent)]
        sent += len(piece)
        yield piece


def outcome(call: Callable[[], Any]) -> Dict[str, Any]:
    """{error, code} of the SandboxException the call raised; {error: None} when none."""
    try:
        call()
        return {"error": None}
    except SandboxException as e:
        return {"error": kind(e), "code": e.code}


class Chunks:
    """A file object over an iterator of byte chunks (what `files.write` streams)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, _size: int = -1) -> bytes:
        return next(self._chunks, b"")


def run() -> Dict[str, Any]:
    report: Dict[str, Any] = {}
    state: Dict[str, Any] = {}

    def step(name: str, body: Callable[[Dict[str, Any]], Dict[str, Any]]) -> None:
        try:
            report[name] = body(PARAMS[name])
        except Exception as error:  # noqa: BLE001 - a step's failure is part of the report
            report[name] = {"failed": f"{kind(error)}: {error}"}

    def lifecycle(p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = Sandbox.create(metadata=p["metadata"], timeout=p["timeoutSeconds"])
        state["sbx"] = sbx
        info = sbx.get_info()
        page = Sandbox.list(query=SandboxQuery(metadata=p["metadata"]), limit=1)
        listed = [s.sandbox_id for s in page.next_items()]
        sbx.set_timeout(p["extendToSeconds"])
        end = sbx.get_info().end_at
        now = datetime.now(timezone.utc)
        metrics = sbx.get_metrics()
        return {
            "idMatchesContract": re.match(SANDBOX_ID_PATTERN, sbx.sandbox_id) is not None,
            "state": info.state,
            "metadata": info.metadata,
            "timeoutSeconds": info.timeout_seconds,
            "listedWithFilter": listed == [sbx.sandbox_id],
            "endAtExtended": end is not None
            and (end - now).total_seconds() > p["timeoutSeconds"],
            "metricsSamples": len(metrics),
            "metricsCpuCountPositive": bool(metrics) and metrics[0].cpu_count > 0,
        }

    def large_output(p: Dict[str, Any]) -> Dict[str, Any]:
        r = state["sbx"].commands.run(f"head -c {p['bytes']} /dev/zero | tr '\\0' a")
        return {
            "stdoutLength": len(r.stdout),
            "onlyA": r.stdout == "a" * p["bytes"],
            "exitCode": r.exit_code,
        }

    def streaming(p: Dict[str, Any]) -> Dict[str, Any]:
        chunks: List[str] = []
        r = state["sbx"].commands.run(p["cmd"], on_stdout=chunks.append)
        return {"streamed": "".join(chunks), "stderr": r.stderr, "exitCode": r.exit_code}

    def exit_code(p: Dict[str, Any]) -> Dict[str, Any]:
        try:
            state["sbx"].commands.run(p["cmd"])
            return {"error": None}
        except CommandExitException as e:
            return {"error": kind(e), "exitCode": e.exit_code, "stdout": e.stdout, "stderr": e.stderr}

    def stdin(p: Dict[str, Any]) -> Dict[str, Any]:
        handle = state["sbx"].commands.run(p["cmd"], background=True, stdin=True)
        state["sbx"].commands.send_stdin(handle.pid, p["send"])
        r = handle.wait()
        return {"stdout": r.stdout, "exitCode": r.exit_code}

    def timeout(p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = state["sbx"]
        try:
            sbx.commands.run(p["cmd"], timeout=p["timeoutSeconds"])
            return {"error": None}
        except CommandTimeoutException as e:
            gone = eventually(lambda: e.pid not in [x.pid for x in sbx.commands.list()], 30)
            return {
                "error": kind(e),
                "code": e.code,
                "messageSaysKilled": "killed" in str(e),
                "stdout": e.stdout,
                "stillRunning": not gone,
            }

    def concurrent(p: Dict[str, Any]) -> Dict[str, Any]:
        def one(i: int) -> str:
            sbx: Sandbox = state["sbx"]
            return sbx.commands.run(f"echo $(({i}*{i}))").stdout.strip()

        with ThreadPoolExecutor(max_workers=p["count"]) as pool:
            return {"outputs": list(pool.map(one, range(p["count"])))}

    def listing(p: Dict[str, Any]) -> Dict[str, Any]:
        cmds = state["sbx"].commands
        handle = cmds.run(p["cmd"], background=True, tag=p["tag"], timeout=0)

        def listed() -> bool:
            return any(x.pid == handle.pid and x.tag == p["tag"] for x in cmds.list())

        was_listed = listed()
        killed = cmds.kill(handle.pid)
        gone = eventually(lambda: not listed(), 30)
        return {
            "listed": was_listed,
            "killed": killed,
            "listedAfterKill": not gone,
            "killAgain": cmds.kill(handle.pid),
        }

    def binary(_p: Dict[str, Any]) -> Dict[str, Any]:
        data = bytes(range(256))
        state["sbx"].files.write("/tmp/scenario-binary.bin", data)
        back = state["sbx"].files.read("/tmp/scenario-binary.bin", format="bytes")
        return {"size": len(back), "equal": bytes(back) == data}

    def large(p: Dict[str, Any]) -> Dict[str, Any]:
        files = state["sbx"].files
        want = hashlib.sha256()
        for piece in pattern(p["bytes"]):
            want.update(piece)
        files.write(p["path"], Chunks(pattern(p["bytes"])))
        got = hashlib.sha256()
        size = 0
        for chunk in files.read(p["path"], format="stream"):
            got.update(chunk)
            size += len(chunk)
        remote = state["sbx"].commands.run(f"sha256sum {p['path']}").stdout.split()[0]
        return {
            "size": size,
            "sha256Match": got.hexdigest() == want.hexdigest(),
            "sandboxSha256Match": remote == want.hexdigest(),
        }

    def unicode(p: Dict[str, Any]) -> Dict[str, Any]:
        files = state["sbx"].files
        path = f"{p['dir']}/{p['name']}"
        files.write(path, p["content"])
        entries = files.list(p["dir"])
        return {
            "names": [e.name for e in entries],
            "content": files.read(path),
            "type": files.get_info(path).type.value,
        }

    def ops(p: Dict[str, Any]) -> Dict[str, Any]:
        files = state["sbx"].files
        d = p["dir"]
        made = files.make_dir(d)
        again = files.make_dir(d)
        files.write(f"{d}/a.txt", "hello")
        exists = files.exists(f"{d}/a.txt")
        renamed = files.rename(f"{d}/a.txt", f"{d}/b.txt")
        info = files.get_info(f"{d}/b.txt")
        files.remove(d)
        try:
            files.read(f"{d}/b.txt")
            missing = None
        except SandboxException as e:
            missing = kind(e)
        return {
            "madeDir": made,
            "madeAgain": again,
            "existsBefore": exists,
            "renamedName": renamed.name,
            "renamedType": info.type.value,
            "size": info.size,
            "existsAfterRemove": files.exists(d),
            "missingError": missing,
        }

    def watch(p: Dict[str, Any]) -> Dict[str, Any]:
        files = state["sbx"].files
        files.make_dir(p["dir"])
        handle = files.watch_dir(p["dir"])
        files.write(f"{p['dir']}/{p['name']}", "x")
        seen = []

        def saw() -> bool:
            seen.extend(handle.get_new_events())
            return any(e.name == p["name"] and e.type.value in ("create", "write") for e in seen)

        ok = eventually(saw, 30)
        handle.stop()
        return {"sawCreateOrWrite": bool(ok)}

    def pty(p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = state["sbx"]
        output = bytearray()
        lock = threading.Lock()

        def on_data(data: bytes) -> None:
            with lock:
                output.extend(data)

        def text() -> str:
            with lock:
                return output.decode("utf-8", errors="replace")

        term = sbx.pty.create(PtySize(rows=p["rows"], cols=p["cols"]), on_data=on_data, timeout=0)
        sbx.pty.send_stdin(term.pid, b"stty size\n")
        first = f"{p['rows']} {p['cols']}"
        eventually(lambda: first in text(), 30)
        sbx.pty.resize(term.pid, PtySize(rows=p["resizeRows"], cols=p["resizeCols"]))
        sbx.pty.send_stdin(term.pid, b"stty size\n")
        second = f"{p['resizeRows']} {p['resizeCols']}"
        eventually(lambda: second in text(), 30)
        sbx.pty.send_stdin(term.pid, b"exit\n")
        result = term.wait()
        return {
            "sawInitialSize": first if first in text() else None,
            "sawResizedSize": second if second in text() else None,
            "exitCode": result.exit_code,
        }

    def pause_resume(p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = state["sbx"]
        sbx.files.write(p["path"], p["content"])
        sleeper = sbx.commands.run("sleep 3600", background=True, timeout=0)
        paused = sbx.pause()
        while_paused = Sandbox.get_info(sbx.sandbox_id).state
        again = Sandbox.connect(sbx.sandbox_id)
        state["sbx"] = again
        return {
            "paused": paused,
            "stateWhilePaused": while_paused,
            "stateAfter": again.get_info().state,
            "content": again.files.read(p["path"]),
            "processKept": sleeper.pid in [x.pid for x in again.commands.list()],
        }

    def snapshots(p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = state["sbx"]
        client = WrennClient()
        sbx.files.write(p["path"], p["content"])
        snap = client.snapshots.create(sbx.sandbox_id, name=p["name"])
        got = client.snapshots.get(snap.id)
        page = client.snapshots.list(sandbox_id=sbx.sandbox_id)
        restored = Sandbox.create(snap.id)
        restored_content = None
        restored_killed = False
        try:
            restored_content = restored.files.read(p["path"])
            restored_killed = restored.kill()
        finally:
            if not restored_killed:
                restored.kill()
        forks = client.snapshots.fork(sbx.sandbox_id, count=1)
        fork_ids = [f.sandbox.sandbox_id for f in forks if f.sandbox is not None]
        fork_content = None
        fork_killed = False
        try:
            if fork_ids:
                fork = Sandbox.connect(fork_ids[0])
                fork_content = fork.files.read(p["path"])
                fork_killed = fork.kill()
        finally:
            for fork_id in fork_ids:
                Sandbox.kill(fork_id)
        client.snapshots.delete(snap.id)
        return {
            "idMatchesContract": re.match(SNAPSHOT_ID_PATTERN, snap.id) is not None,
            "name": snap.name,
            "sourceSandboxMatches": snap.source_sandbox_id == sbx.sandbox_id,
            "sizePositive": snap.size_bytes > 0,
            "gotSameId": got.id == snap.id,
            "listedBySource": any(x.id == snap.id for x in page.snapshots),
            "restoredContent": restored_content,
            "restoredKilled": restored_killed,
            "forks": len(forks),
            "forkContent": fork_content,
            "forkKilled": fork_killed,
            "deletedGet": outcome(lambda: client.snapshots.get(snap.id)),
            "templatesListed": isinstance(client.templates.list(), list),
            "unknownTemplate": outcome(lambda: client.templates.get(p["unknownTemplate"])),
        }

    def templates(p: Dict[str, Any]) -> Dict[str, Any]:
        client = WrennClient()
        listed = client.templates.list()
        got = client.templates.get(p["name"])
        return {
            "listedByName": any(t.name == p["name"] for t in listed),
            "name": got.name,
            "status": got.status,
            "usable": got.usable,
        }

    def workspaces(p: Dict[str, Any]) -> Dict[str, Any]:
        listed = isinstance(Workspaces.list(), list)
        unknown = outcome(lambda: Workspaces.get(p["unknownName"]))
        # A suffix of this runner's: the runners share one stack and key. The instance
        # flavour (WrennClient().workspaces) here, the static one above.
        name = f"{p['name']}-{secrets.token_hex(3)}"
        ws = WrennClient().workspaces
        created = ws.create(name, vcpus=p["vcpus"], memory_mb=p["memoryMb"], disk_gb=p["diskGb"])
        destroyed = False
        try:
            got = ws.get(name)
            everyone = ws.list()
            suspended = ws.suspend(name)
            resumed = ws.resume(name)
            ws.destroy(name)
            destroyed = True
            return {
                "listed": listed,
                "unknown": unknown,
                "created": {
                    "state": created.state,
                    "vcpus": created.vcpus,
                    "memoryMb": created.memory_mb,
                    "diskGb": created.disk_gb,
                    "image": created.image,
                },
                "gotState": got.state,
                "listedCreated": any(w.name == name for w in everyone),
                "suspended": suspended.state,
                "resumed": resumed.state,
                "destroyedGet": outcome(lambda: ws.get(name)),
            }
        finally:
            if not destroyed:
                ws.destroy(name)

    def network(p: Dict[str, Any]) -> Dict[str, Any]:
        other = Sandbox.create(
            network={
                "allow_out": p["allowOut"],
                "deny_out": p["denyOut"],
                "allow_public_traffic": False,
            }
        )
        try:
            info = other.get_info()
            updated = other.update_network({"allow_out": p["updateAllowOut"]})
            return {
                "tokenPresent": bool(other.traffic_access_token),
                "allowPublicTraffic": info.allow_public_traffic,
                "network": {"allowOut": info.network.allow_out, "denyOut": info.network.deny_out},
                "updated": {
                    "allowOut": updated.network.allow_out,
                    "denyOut": updated.network.deny_out,
                },
                "killed": other.kill(),
            }
        finally:
            try:
                other.kill()
            except SandboxException:
                pass

    def errors(p: Dict[str, Any]) -> Dict[str, Any]:
        foreign = os.environ.get("WRENN_SCENARIO_FOREIGN_ID", "")
        return {
            "badKey": outcome(lambda: Sandbox.list(api_key=p["badKey"]).next_items()),
            "unknownSandbox": outcome(lambda: Sandbox.connect(p["unknownId"])),
            "foreignSandbox": outcome(lambda: Sandbox.connect(foreign)),
            "badSize": outcome(lambda: Sandbox.create(vcpus=p["vcpus"])),
        }

    def kill(_p: Dict[str, Any]) -> Dict[str, Any]:
        sbx = state["sbx"]
        killed = sbx.kill()
        return {
            "killed": killed,
            "killUnknown": Sandbox.kill(PARAMS["errors"]["unknownId"]),
            "stateAfter": Sandbox.get_info(sbx.sandbox_id).state,
        }

    steps = {
        "lifecycle": lifecycle,
        "commands.largeOutput": large_output,
        "commands.streaming": streaming,
        "commands.exitCode": exit_code,
        "commands.stdin": stdin,
        "commands.timeout": timeout,
        "commands.concurrent": concurrent,
        "commands.list": listing,
        "files.binary": binary,
        "files.large": large,
        "files.unicode": unicode,
        "files.ops": ops,
        "files.watch": watch,
        "pty": pty,
        "pauseResume": pause_resume,
        "snapshots": snapshots,
        "templates": templates,
        "workspaces": workspaces,
        "network": network,
        "errors": errors,
        "kill": kill,
    }
    try:
        for s in SCENARIO["steps"]:
            body = steps.get(s["id"])
            if body is None:
                report[s["id"]] = {"failed": "this runner does not implement the step"}
            elif s["id"] != "lifecycle" and "sbx" not in state:
                report[s["id"]] = {"failed": "no sandbox (lifecycle failed)"}
            else:
                step(s["id"], body)
    finally:
        if "sbx" in state and report.get("kill", {}).get("killed") is not True:
            try:
                state["sbx"].kill()
            except SandboxException:
                pass
    return report


if __name__ == "__main__":
    print(json.dumps(run(), ensure_ascii=False))
    sys.stdout.flush()
