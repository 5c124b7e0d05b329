#!/usr/bin/env python3
"""The Python SDK through a proxy that cuts the first process stream (see scenario.test.ts):
a command's output must arrive whole, once, through a reconnect. Prints one JSON object."""

import json
import sys
from typing import List

from wrenn import Sandbox

LINES = 30
sbx = Sandbox.create()
try:
    seen: List[str] = []
    handle = sbx.commands.run(
        f"for i in $(seq 1 {LINES}); do echo line$i; sleep 0.05; done",
        background=True,
        on_stdout=seen.append,
    )
    result = handle.wait()
    print(
        json.dumps(
            {
                "stdout": result.stdout,
                "seen": "".join(seen),
                "reconnects": handle.reconnects,
                "lostBytes": handle.lost_bytes,
            }
        )
    )
finally:
    sbx.kill()
sys.stdout.flush()
