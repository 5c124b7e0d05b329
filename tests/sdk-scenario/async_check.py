#!/usr/bin/env python3
"""AsyncSandbox and AsyncWrennClient (the asyncio wrapper over threads) against the stack at
WRENN_API_URL: one JSON line of what it saw, checked by install.test.ts."""

import asyncio
import json
import threading
from typing import Any, Dict, List

from wrenn import AsyncSandbox, AsyncWrennClient, CommandExitException


async def main() -> Dict[str, Any]:
    loop_thread = threading.get_ident()
    async with await AsyncSandbox.create(timeout=300) as sbx:
        runs = await asyncio.gather(*(sbx.commands.run(f"echo $(({i}*2))") for i in range(5)))
        handle = await sbx.commands.run("sleep 1; echo later", background=True)
        await sbx.files.write("/tmp/async.txt", "async ✓")
        try:
            await sbx.commands.run("exit 4")
            exit_code = 0
        except CommandExitException as e:
            exit_code = e.exit_code

        # Output callbacks run on the loop's thread; a coroutine callback is awaited before
        # run() returns.
        threads: List[bool] = []
        seen: List[str] = []

        def on_stdout(text: str) -> None:
            threads.append(threading.get_ident() == loop_thread)

        async def on_stderr(text: str) -> None:
            await asyncio.sleep(0)
            threads.append(threading.get_ident() == loop_thread)
            seen.append(text)

        await sbx.commands.run("echo out; echo err >&2", on_stdout=on_stdout, on_stderr=on_stderr)

        # A cancelled foreground run kills its command.
        task = asyncio.ensure_future(sbx.commands.run("echo started; sleep 600", tag="cancelled"))
        await asyncio.sleep(3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

        async def gone() -> bool:
            for _ in range(100):
                if not any(p.tag == "cancelled" for p in await sbx.commands.list()):
                    return True
                await asyncio.sleep(0.2)
            return False

        # A cancelled wait() detaches: the command runs on and a later wait() has its result.
        sleeper = await sbx.commands.run("sleep 2; echo done", background=True)
        try:
            await asyncio.wait_for(sleeper.wait(), 0.5)
            detached = "ended too soon"
        except asyncio.TimeoutError:
            detached = (await sleeper.wait()).stdout

        templates = AsyncWrennClient().templates
        return {
            "outputs": [r.stdout.strip() for r in runs],
            "background": (await handle.wait()).stdout,
            "read": await sbx.files.read("/tmp/async.txt"),
            "exitCode": exit_code,
            "state": (await AsyncSandbox.get_info(sbx.sandbox_id)).state,
            "callbacksOnLoop": threads,
            "coroutineCallbackSaw": "".join(seen),
            "cancelledRunKilled": await gone(),
            "cancelledWaitDetached": detached,
            "templatesListed": isinstance(await templates.list(), list),
        }


print(json.dumps(asyncio.run(main()), ensure_ascii=False))
