import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { beforeAll, describe, expect, test } from "vitest";
import { type CommandLauncher, launch } from "./launch.js";
import { ManagedProcess } from "./managed-process.js";
import { ResidentLauncher } from "./resident-launcher.js";

// A short command can exit (and Node flush its unread pipes) before envd follows it. Its output
// and its end must still all arrive. Runs the real launcher (dist/bin/wrenn-pty, built by
// `npm run build`) on this machine.

const binDir = fileURLToPath(new URL("../../dist/bin/", import.meta.url));
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const me = { username: "me", uid, gid, home: "/", shell: "/bin/sh", groups: [gid] };
const log = pino({ level: "silent" });

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function runAndFollowLate(script: string, launcher?: CommandLauncher) {
  const launched = await launch(
    {
      binDir,
      cmd: "/bin/sh",
      args: ["-c", script],
      env: { PATH: "/usr/bin:/bin" },
      cwd: "/",
      user: me,
      stdin: false,
    },
    launcher,
  );
  // Let the process end and be reaped (and Node run its stdio flush) before anyone follows it.
  for (let i = 0; i < 600 && !gone(launched.pid); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(gone(launched.pid)).toBe(true);
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

let resident: ResidentLauncher;
beforeAll(async () => {
  resident = ResidentLauncher.start(binDir, log);
  expect(await resident.started).toBe(true);
});

describe.each([
  ["spawned by Node", () => undefined],
  ["started by the resident launcher", () => resident],
])("output of a process %s followed only after it ended", (_name, launcher) => {
  test("keeps every byte of stdout and stderr, and the end", async () => {
    const r = await runAndFollowLate("echo out-line; echo err-line >&2; exit 3", launcher());
    expect(r).toEqual({ stdout: "out-line\n", stderr: "err-line\n", exitCode: 3 });
  });

  test("keeps a few hundred kilobytes written before the follower came", async () => {
    const r = await runAndFollowLate("head -c 300000 /dev/zero | tr '\\0' x", launcher());
    expect(r.stdout.length).toBe(300000);
    expect(r.exitCode).toBe(0);
  });
});
