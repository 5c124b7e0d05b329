#!/usr/bin/env python3
"""Reads [{"status", "body"}] on stdin; prints, for each, the error the Python SDK makes of
that HTTP answer: {"kind": class without suffix, "code", "retryable"}. error-kinds.test.ts
holds it to what the TypeScript SDK makes of the same answers."""

import json
import re
import sys

from wrenn.exceptions import error_from_body

cases = json.load(sys.stdin)
out = []
for case in cases:
    error = error_from_body(case["status"], case["body"], case.get("retryAfter"))
    out.append(
        {
            "kind": re.sub(r"(Exception|Error)$", "", type(error).__name__),
            "code": error.code,
            "retryable": error.retryable,
        }
    )
print(json.dumps(out))
