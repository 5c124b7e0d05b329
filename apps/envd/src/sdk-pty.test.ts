import type { Sandbox } from "e2b";
import { CommandExitError } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, sdkSandbox } from "./testing/envd-harness.js";

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

/** Collects a terminal's output and lets a test wait for some text to appear in it. */
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
    waitFor: (needle: string) =>
      text.includes(needle)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ needle, resolve })),
  };
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

  test("stdin input to a pty process is refused with a clear error", async () => {
    const out = screen();
    const terminal = await sbx.pty.create({ cols: 80, rows: 24, onData: out.onData });
    await sbx.pty.sendInput(terminal.pid, encoder.encode("echo UP\n"));
    await out.waitFor("UP");
    await expect(sbx.commands.sendStdin(terminal.pid, "x")).rejects.toThrow(/pty/);
    await sbx.pty.kill(terminal.pid);
  });
});
