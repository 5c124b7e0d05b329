#!/usr/bin/env python3
"""The Python SDK's Secrets and its network options (rules naming a secret, egress_proxy), run
by tests/cli/secrets.test.ts against a real control plane (WRENN_API_URL, WRENN_API_KEY). Step
"create" stores a secret and creates a sandbox whose rule names it; step "rotate" updates the
secret, lists and removes another. Prints what it saw as JSON; the test checks it, and what
the host agent was sent."""

import json
import os
import sys
from typing import Any, Dict

from wrenn import InvalidArgumentException, NotFoundException, Sandbox, Secrets

conn: Dict[str, Any] = {"api_key": os.environ["WRENN_API_KEY"], "api_url": os.environ["WRENN_API_URL"]}
out: Dict[str, Any] = {}
if sys.argv[1] == "create":
    added = Secrets.add("Py-Key", "py-value-1", metadata={"team": "py"}, **conn)
    out["added"] = [added.name, added.current_version, added.metadata]
    out["got"] = Secrets.get(added.id, **conn).name
    try:
        Secrets.fill("not a name")
        out["fill_refused"] = False
    except InvalidArgumentException:
        out["fill_refused"] = True
    sbx = Sandbox.create(
        network={
            "allow_out": ["api.test"],
            "rules": {"api.test": [{"transform": {"headers": {"X-Key": Secrets.fill("py-key")}}}]},
            "egress_proxy": {"address": "203.0.113.9:1080", "username": "ana", "password": "py-socks-pass"},
        },
        **conn,
    )
    info = sbx.get_info()
    out["sandbox_id"] = sbx.sandbox_id
    out["rules"] = info.network.rules
    out["egress_proxy"] = info.network.egress_proxy
elif sys.argv[1] == "rotate":
    updated = Secrets.update("py-key", "py-value-2", **conn)
    out["version"] = updated.current_version
    out["metadata"] = updated.metadata
    Secrets.add("py-other", "x", **conn)
    out["listed"] = sorted(s.name for s in Secrets.list(**conn) if s.name.startswith("py-"))
    Secrets.remove("py-other", **conn)
    try:
        Secrets.get("py-other", **conn)
        out["removed"] = False
    except NotFoundException:
        out["removed"] = True
print(json.dumps(out))
