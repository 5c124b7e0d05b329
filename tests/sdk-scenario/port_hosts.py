#!/usr/bin/env python3
"""Reads [{"apiUrl", "domain", "id", "port"}] on stdin; prints, for each, what the Python SDK's
``get_host`` / ``get_url`` give ({"host", "url"}) or the error's code ({"error"}).
port-hosts.test.ts holds it to what the TypeScript SDK gives for the same cases."""

import json
import sys
from typing import Any, Dict, List

from wrenn import ConnectionConfig, Sandbox, SandboxException

out: List[Dict[str, Any]] = []
for case in json.load(sys.stdin):
    config = ConnectionConfig(api_key="k", api_url=case["apiUrl"], domain=case.get("domain"))
    sbx = Sandbox(case["id"], "token", config)
    try:
        out.append({"host": sbx.get_host(case["port"]), "url": sbx.get_url(case["port"])})
    except SandboxException as e:
        out.append({"error": e.code})
print(json.dumps(out))
