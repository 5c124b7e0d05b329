import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import { launch } from "./launch.js";
import { ManagedProcess } from "./managed-process.js";

// A short command can exit (and Node flush its unread pipes) before envd follows it. Its output
// and its end must still all arrive. Runs the real launcher (dist/bin/wrenn-pty, built by
// `npm run build`) on this machine.

const binDir = fileURLToPath(new URL("../../dist/bin/", import.meta.url));
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const me = { username: "me", uid, gid, home: "/", shell: "/bin/sh", groups: [gid] };
const log = pino({ level: "silent" });

async function runAndFollowLate(script: string) {
  const launched = await launch({
    binDir,
    cmd: "/bin/sh",
    args: ["-c", script],
    env: { PATH: "/usr/bin:/bin" },
    cwd: "/",
    user: me,
    stdin: false,
  });
  // Let Node see the exit and run its stdio flush before anyone follows the process.
  if (launched.child.exitCode === null && launched.child.signalCode === null) {
    await once(launched.child, "exit");
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const proc = new ManagedProcess(
    launched.pid,
    { cmd: "/bin/sh", args: [], envs: {} },
    undefined,
    false,
    launched,
    log,
  );
  const out = { stdout: "", stderr: "" };
  const status = await new Promise<{ exitCode: number }>((resolve) => {
    proc.subscribe(
      {
        data: (chunk) => {
          if (chunk.stream !== "pty") out[chunk.stream] += Buffer.from(chunk.data).toString();
        },
        end: resolve,
      },
      0,
    );
  });
  return { ...out, exitCode: status.exitCode };
}

describe("output of a process followed only after it ended", () => {
  test("keeps every byte of stdout and stderr, and the end", async () => {
    const r = await runAndFollowLate("echo out-line; echo err-line >&2; exit 3");
    expect(r).toEqual({ stdout: "out-line\n", stderr: "err-line\n", exitCode: 3 });
  });

  test("keeps a few hundred kilobytes written before the follower came", async () => {
    const r = await runAndFollowLate("head -c 300000 /dev/zero | tr '\\0' x");
    expect(r.stdout.length).toBe(300000);
    expect(r.exitCode).toBe(0);
  });
});
