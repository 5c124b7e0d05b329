import type { Sandbox } from "e2b";
import { CommandExitError } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, sdkSandbox } from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";

// The official E2B SDK as the client: terminals.

let world: EnvdWorld;
let sbx: Sandbox;
const encoder = new TextEncoder();

beforeAll(async () => {
  const opened = await openEnvd();
  world = opened.world;
  sbx = sdkSandbox(opened.envd);
});

afterAll(async () => {
  await world?.close();
});

/**
 * Collects a terminal's output and lets a test wait for some text to appear in it. A wait
 * that is not met within `limitMs` fails with the end of the screen, to show what came.
 */
function screen() {
  let text = "";
  const waiters: { needle: string; resolve: () => void }[] = [];
  return {
    onData: (data: Uint8Array) => {
      text += Buffer.from(data).toString("utf8");
      for (const w of [...waiters]) {
        if (text.includes(w.needle)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    text: () => text,
    waitFor: (needle: string, limitMs = 20_000) =>
      text.includes(needle)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const waiter = {
              needle,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            };
            const timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(waiter), 1);
              reject(
                new Error(
                  `no ${JSON.stringify(needle)} on the screen: ${JSON.stringify(text.slice(-600))}`,
                ),
              );
            }, limitMs);
            waiters.push(waiter);
          }),
  };
}

/** A terminal running the SDK's login shell, ready for input. */
async function shell() {
  const out = screen();
  const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: out.onData });
  const type = (text: string) => sbx.pty.sendInput(terminal.pid, encoder.encode(text));
  // The arithmetic makes the output differ from the echo of the typed line.
  await type("echo READY-$((40+2))\n");
  await out.waitFor("READY-42");
  return { out, terminal, type };
}

/**
 * Waits until the terminal's session (its id is the shell's pid) has a process named `name`
 * that is running, or stopped when `stopped`; returns its pid. Checked in envd's world.
 */
async function sessionProcess(sid: number, name: string, stopped = false): Promise<number> {
  return eventually(async () => {
    const found = await world.sh(`pgrep -s ${sid} -x ${name}`);
    const pid = Number(found.stdout.toString().trim().split("\n")[0]);
    if (!pid) return undefined;
    const row = (await world.processes()).find((p) => p.pid === pid);
    return row && (row.state === "T") === stopped ? pid : undefined;
  }, 20_000);
}

describe("pty via the E2B SDK", () => {
  test("create gives a real terminal; input runs commands; exit code is reported", async () => {
    const out = screen();
    const terminal = await sbx.pty.create({ cols: 100, rows: 30, onData: out.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("tty; stty size; echo T=$TERM\n"));
    await out.waitFor("T=xterm-256color");
    expect(out.text()).toMatch(/\/dev\/pts\/\d+/);
    expect(out.text()).toContain("30 100");
    await sbx.pty.sendInput(terminal.pid, encoder.encode("exit 5\n"));
    const error = await terminal.wait().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandExitError);
    expect((error as CommandExitError).exitCode).toBe(5);
  });

  test("resize changes the window size seen inside", async () => {
    const out = screen();
    const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: out.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo READY\n"));
    await out.waitFor("READY");
    await sbx.pty.resize(terminal.pid, { cols: 132, rows: 43 });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo SIZE=$(stty size)\n"));
    await out.waitFor("SIZE=43 132");
    await sbx.pty.kill(terminal.pid);
  });

  test("kill ends the terminal with signal: killed", async () => {
    const out = screen();
    const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: out.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo UP\n"));
    await out.waitFor("UP");
    expect(await sbx.pty.kill(terminal.pid)).toBe(true);
    const error = await terminal.wait().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandExitError);
    expect((error as CommandExitError).error).toBe("signal: killed");
    expect(await sbx.pty.kill(terminal.pid)).toBe(false);
  });

  test("connect attaches a second viewer to a running terminal", async () => {
    const first = screen();
    const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: first.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo ONE\n"));
    await first.waitFor("ONE");
    const second = screen();
    const attached = await sbx.pty.connect(terminal.pid, { onData: second.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo TWO-$((1+1))\n"));
    await first.waitFor("TWO-2");
    await second.waitFor("TWO-2");
    await sbx.pty.kill(terminal.pid);
    await attached.wait().catch(() => undefined);
  });

  // A Linux pty's line discipline does these itself; gVisor's does not, and wrenn-pty makes up
  // for it there (native/wrenn-pty.c). Without that, every one of these fails in gVisor.
  test("^C interrupts the foreground job: the shell comes back and $? is 130", async () => {
    const { out, terminal, type } = await shell();
    await type("sleep 30\n");
    await sessionProcess(terminal.pid, "sleep");
    await type("\x03");
    await type("echo RC=$?\n");
    await out.waitFor("RC=130");
    await sbx.pty.kill(terminal.pid);
  });

  test("^\\ quits the foreground job: $? is 131", async () => {
    const { out, terminal, type } = await shell();
    await type("sleep 30\n");
    await sessionProcess(terminal.pid, "sleep");
    await type("\x1c");
    await type("echo RC=$?\n");
    await out.waitFor("RC=131");
    await sbx.pty.kill(terminal.pid);
  });

  test("^Z stops the foreground job and fg resumes it", async () => {
    const { out, terminal, type } = await shell();
    await type("sh -c 'read line; echo GOT-$line'\n");
    const job = await sessionProcess(terminal.pid, "sh");
    await type("\x1a");
    await out.waitFor("Stopped");
    expect(await sessionProcess(terminal.pid, "sh", true)).toBe(job);
    await type("echo RC=$?\n");
    await out.waitFor("RC=148");
    await type("fg\n");
    expect(await sessionProcess(terminal.pid, "sh")).toBe(job);
    await type("resumed\n");
    await out.waitFor("GOT-resumed");
    await sbx.pty.kill(terminal.pid);
  });

  test("a resize sends SIGWINCH to the foreground job, which sees the new size", async () => {
    const { out, terminal, type } = await shell();
    // A job of its own that traps WINCH (bash runs the trap between two sleeps).
    await type(
      `bash -c 'trap "echo WINCH \\$(stty size)" WINCH; echo ARMED-$((6*7)); while :; do sleep 0.2; done'\n`,
    );
    await out.waitFor("ARMED-42");
    await sbx.pty.resize(terminal.pid, { cols: 132, rows: 43 });
    await out.waitFor("WINCH 43 132");
    await type("\x03");
    await type("echo RC=$?\n");
    await out.waitFor("RC=130");
    await sbx.pty.kill(terminal.pid);
  });

  test("^C is plain input while ISIG is off (stty -isig), and a signal again once it is on", async () => {
    const { out, terminal, type } = await shell();
    await type(
      `stty -isig; echo ISIG-OFF-$((2+3)); read -r line; echo "HEX=$(printf %s "$line" | od -An -tx1 | tr -d ' ')"; stty isig\n`,
    );
    await out.waitFor("ISIG-OFF-5");
    await type("\x03abc\n");
    // The read was not interrupted, and the ^C is in the line it read.
    await out.waitFor("HEX=03616263");
    await type("sleep 30\n");
    await sessionProcess(terminal.pid, "sleep");
    await type("\x03");
    await type("echo RC=$?\n");
    await out.waitFor("RC=130");
    await sbx.pty.kill(terminal.pid);
  });

  test("stdin input to a pty process is refused with a clear error", async () => {
    const out = screen();
    const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: out.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo UP\n"));
    await out.waitFor("UP");
    await expect(sbx.commands.sendStdin(terminal.pid, "x")).rejects.toThrow(/pty/);
    await sbx.pty.kill(terminal.pid);
  });
});
