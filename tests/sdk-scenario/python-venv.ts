import { execFile } from "node:child_process";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../harness/paths.js";

const run = promisify(execFile);

/**
 * Installs the Python SDK as a user would, offline: Debian's Python (python3-venv,
 * -setuptools, -wheel), a venv that sees them, pip with no index and no build isolation.
 * pip builds in the source tree, so it builds a copy and the checkout stays clean.
 * Returns the venv's python.
 */
export async function installPythonSdk(scratch: string): Promise<string> {
  const source = join(scratch, "python-sdk");
  await cp(join(repoRoot, "sdks/python"), source, { recursive: true });
  const venv = join(scratch, "venv");
  await run("/usr/bin/python3", ["-m", "venv", "--system-site-packages", venv]);
  const python = join(venv, "bin/python");
  await run(python, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--no-index",
    "--no-build-isolation",
    source,
  ]);
  return python;
}
