#!/usr/bin/env bash
# mypy --strict over the Python SDK, and the scenario's and bench's Python (which use it as a user
# would), checked as Python 3.9, the oldest the package supports. `npm run check` runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v mypy >/dev/null 2>&1; then
  echo "error: mypy is not installed, so the Python SDK's types cannot be checked." >&2
  echo "       bash bin/setup --test installs Debian's mypy (or: apt-get install mypy)." >&2
  exit 1
fi
MYPYPATH=sdks/python mypy --strict --python-version 3.9 --no-error-summary \
  --cache-dir node_modules/.cache/mypy \
  sdks/python/wrenn tests/sdk-scenario/*.py bench/sdk-overhead/*.py
