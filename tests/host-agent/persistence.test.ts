import { PauseMode, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

// Losing files on resume is the top complaint about E2B: every cycle checks every file.
describe("host agent: pause and resume keep files and processes", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });
  afterEach(({ task }) => {
    // Why a pause fell back or a restore failed is in the agent's log.
    if (task.result?.state === "fail") console.error(agent?.output.slice(-4000));
  });

  it("keeps every file and a running process across 3 checkpoint cycles", async () => {
    const id = "sb-00000b01";
    const token = "tok-persist";
    await agent.client.createSandbox({ sandboxId: id, template: "base", envdAccessToken: token });
    const sh = (cmd: string) => execInSandbox(agent.url, id, cmd, { token });
    // Written aside and renamed: a read between `>`'s truncation and the write would see "".
    await sh(
      "nohup bash -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.1; done' >/dev/null 2>&1 &",
    );
    let lastCounter = 0;
    for (let cycle = 1; cycle <= 3; cycle++) {
      const w = await sh(`echo "cycle ${cycle}" > ~/file-${cycle}.txt && sync`);
      expect(w.exitCode).toBe(0);
      const paused = await agent.client.pauseSandbox({ sandboxId: id });
      expect(paused.sandbox?.state).toBe(SandboxState.PAUSED);
      expect(paused.sandbox?.pauseMode).toBe(PauseMode.CHECKPOINT);
      expect(Number(paused.sandbox?.checkpointBytes)).toBeGreaterThan(0);
      const resumed = await agent.client.resumeSandbox({ sandboxId: id });
      expect(resumed.sandbox?.state).toBe(SandboxState.RUNNING);
      const files = await sh(`cat ~/file-*.txt | sort -V`);
      expect(files.stdout).toBe(
        `${Array.from({ length: cycle }, (_, i) => `cycle ${i + 1}`).join("\n")}\n`,
      );
      await new Promise((r) => setTimeout(r, 300));
      const counter = Number((await sh("cat /tmp/counter")).stdout.trim());
      expect(counter).toBeGreaterThan(lastCounter);
      lastCounter = counter;
    }
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("pauses in memory, and says so, while a server is listening; everything resumes", async () => {
    const id = "sb-00000b02";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await execInSandbox(
      agent.url,
      id,
      "cd /tmp; nohup python3 -m http.server 8000 >/dev/null 2>&1 &",
    );
    const get = () =>
      fetch(`${agent.url}/`, {
        headers: { "wrenn-forward-sandbox": id, "wrenn-forward-port": "8000" },
      });
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await get().catch(() => undefined))?.status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
    await execInSandbox(agent.url, id, "echo kept > ~/note");
    const paused = await agent.client.pauseSandbox({ sandboxId: id });
    expect(paused.sandbox?.state).toBe(SandboxState.PAUSED);
    expect(paused.sandbox?.pauseMode).toBe(PauseMode.FREEZE);
    // Paused sandboxes are not reachable.
    expect((await get()).status).toBe(409);
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await get()).status).toBe(200);
    expect((await execInSandbox(agent.url, id, "cat ~/note")).stdout).toBe("kept\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("pauses safely right after a server answered and exited (TIME_WAIT in the sandbox)", async () => {
    // The sandbox's end of a connection it closed first lingers with no descriptor, invisible
    // to its /proc/net/tcp; saving it crashed this runsc and lost the sandbox.
    const id = "sb-00000b05";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    // Answers without a length and hangs up at once, so the sandbox always closes first (an
    // ordinary server races the host's client for that, and the host closing first is safe).
    const server = [
      "import socket",
      "s = socket.socket()",
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
      "s.bind(('0.0.0.0', 8080))",
      "s.listen()",
      "while True:",
      "    c, _ = s.accept()",
      "    c.recv(65536)",
      "    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhi\\n')",
      "    c.close()",
    ].join("\n");
    await execInSandbox(
      agent.url,
      id,
      `printf '%s\\n' "${server}" > /tmp/hangup.py; nohup python3 /tmp/hangup.py >/dev/null 2>&1 &`,
    );
    const get = () =>
      fetch(`${agent.url}/`, {
        headers: { "wrenn-forward-sandbox": id, "wrenn-forward-port": "8080" },
      });
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await get().catch(() => undefined))?.status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
    await execInSandbox(agent.url, id, "pkill -f 'hangup[.]py'; echo kept > ~/note");
    const paused = await agent.client.pauseSandbox({ sandboxId: id });
    expect(paused.sandbox?.state).toBe(SandboxState.PAUSED);
    expect(paused.sandbox?.pauseMode).toBe(PauseMode.FREEZE);
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await execInSandbox(agent.url, id, "cat ~/note")).stdout).toBe("kept\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("refuses to pause twice and to resume what is not paused", async () => {
    const id = "sb-00000b03";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await agent.client.pauseSandbox({ sandboxId: id, mode: PauseMode.FREEZE });
    await expect(agent.client.pauseSandbox({ sandboxId: id })).rejects.toThrow(/already paused/);
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await execInSandbox(agent.url, id, "echo back")).stdout).toBe("back\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("resumes a checkpointed sandbox after the agent restarts", async () => {
    const id = "sb-00000b04";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await execInSandbox(agent.url, id, "echo survived > ~/restart.txt");
    await agent.client.pauseSandbox({ sandboxId: id });
    await agent.stop();
    await agent.launch();
    const got = await agent.client.getSandbox({ sandboxId: id });
    expect(got.sandbox?.state).toBe(SandboxState.PAUSED);
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await execInSandbox(agent.url, id, "cat ~/restart.txt")).stdout).toBe("survived\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });
});
