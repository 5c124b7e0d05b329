#!/usr/bin/env python3
"""AsyncSandbox (the asyncio wrapper over threads) against the stack at WRENN_API_URL: one
JSON line of what it saw, checked by install.test.ts."""

import asyncio
import json
from typing import Any, Dict

from wrenn import AsyncSandbox, CommandExitException


async def main() -> Dict[str, Any]:
    async with await AsyncSandbox.create(timeout=300) as sbx:
        runs = await asyncio.gather(*(sbx.commands.run(f"echo $(({i}*2))") for i in range(5)))
        handle = await sbx.commands.run("sleep 1; echo later", background=True)
        await sbx.files.write("/tmp/async.txt", "async ✓")
        try:
            await sbx.commands.run("exit 4")
            exit_code = 0
        except CommandExitException as e:
            exit_code = e.exit_code
        return {
            "outputs": [r.stdout.strip() for r in runs],
            "background": (await handle.wait()).stdout,
            "read": await sbx.files.read("/tmp/async.txt"),
            "exitCode": exit_code,
            "state": (await AsyncSandbox.get_info(sbx.sandbox_id)).state,
        }


print(json.dumps(asyncio.run(main()), ensure_ascii=False))
