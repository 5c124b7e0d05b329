import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Filesystem } from "@wrenn/proto/filesystem";
import { BootPath, HostAgentService, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { hasBaseCheckpoint } from "../harness/checkpoint-seed.js";
import { CPU_WEIGHT, cpuWeightOfSandbox } from "../harness/cpu-weight.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

function inCidr(ip: string, cidr: string): boolean {
  const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const [base, bits] = cidr.split("/");
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  return (
    /^\d+\.\d+\.\d+\.\d+$/.test(ip) &&
    Math.floor(toInt(ip) / 2 ** (32 - Number(bits))) * 2 ** (32 - Number(bits)) ===
      (toInt(base ?? "") & mask) >>> 0
  );
}

/** The kernel's CPU weight of each of an agent's sandboxes, by the phase its record gives. */
async function cpuWeightsByPhase(dataDir: string): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  const root = path.join(dataDir, "sandboxes");
  for (const runtimeId of await readdir(root)) {
    const record = await readFile(path.join(root, runtimeId, "record.json"), "utf8").catch(
      () => undefined,
    );
    if (!record) continue;
    const { phase } = JSON.parse(record) as { phase: string };
    const weight = await cpuWeightOfSandbox(runtimeId);
    if (weight !== undefined) out[phase] = [...(out[phase] ?? []), weight];
  }
  return out;
}

describe("host agent: create, exec, destroy", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 1 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("creates from the warm pool, then from the template checkpoint while it refills", async () => {
    await waitFor(async () => {
      const s = await agent.client.hostStatus({});
      return (s.sandboxesByState.pooled ?? 0) >= 1;
    }, 120_000);
    const a = await agent.client.createSandbox({ sandboxId: "sb-00000a01", template: "base" });
    expect(a.sandbox?.bootPath).toBe(BootPath.WARM_POOL);
    const b = await agent.client.createSandbox({ sandboxId: "sb-00000a02", template: "base" });
    expect(b.sandbox?.bootPath).toBe(BootPath.TEMPLATE_RESTORE);
    // Claimed or booted for a create: the CPU weight of any sandbox in use; the pool's next
    // one boots with a small one.
    const weights = await cpuWeightsByPhase(agent.dataDir);
    expect(new Set(weights.running)).toEqual(new Set([CPU_WEIGHT.foreground]));
    await waitFor(
      async () => ((await cpuWeightsByPhase(agent.dataDir)).pooled?.length ?? 0) > 0,
      120_000,
      "the pool's next sandbox",
    );
    expect(new Set((await cpuWeightsByPhase(agent.dataDir)).pooled)).toEqual(
      new Set([CPU_WEIGHT.background]),
    );
    for (const id of ["sb-00000a01", "sb-00000a02"]) {
      const r = await execInSandbox(agent.url, id, "echo $((6*7))");
      expect(r).toMatchObject({ stdout: "42\n", exitCode: 0 });
      await agent.client.destroySandbox({ sandboxId: id });
    }
  });

  it("clones restored from one template checkpoint share no random state", async () => {
    // Everything in the checkpoint is the same in every clone, envd's memory included: what
    // is random in a sandbox must come from after the restore.
    await waitFor(() => hasBaseCheckpoint(agent.dataDir), 180_000, "the template checkpoint");
    // The warm pool refills between creates: keep creating until two came from the checkpoint.
    const created: string[] = [];
    const clones: string[] = [];
    for (let i = 0; clones.length < 2 && i < 6; i++) {
      const id = `sb-00000a2${i}`;
      const { sandbox } = await agent.client.createSandbox({ sandboxId: id, template: "base" });
      created.push(id);
      if (sandbox?.bootPath === BootPath.TEMPLATE_RESTORE) clones.push(id);
    }
    expect(clones).toHaveLength(2);
    const draws = await Promise.all(
      clones.map(async (id) => {
        const r = await execInSandbox(
          agent.url,
          id,
          "od -An -tx1 -N16 /dev/urandom | tr -d ' \\n'; echo;" +
            " python3 -c 'import random; print(random.random())';" +
            " node -e 'console.log(Math.random())'",
        );
        const fs = createClient(
          Filesystem,
          createConnectTransport({
            baseUrl: agent.url,
            httpVersion: "1.1",
            interceptors: [
              (next) => (req) => {
                req.header.set("wrenn-forward-sandbox", id);
                req.header.set("wrenn-forward-port", "49983");
                return next(req);
              },
            ],
          }),
        );
        const { watcherId } = await fs.createWatcher({ path: "/tmp", recursive: false });
        return [...r.stdout.trim().split("\n"), watcherId];
      }),
    );
    const [a, b] = draws as [string[], string[]];
    expect(a).toHaveLength(4);
    for (let k = 0; k < 4; k++) expect(a[k], `draw ${k}`).not.toBe(b[k]);
    for (const id of created) await agent.client.destroySandbox({ sandboxId: id });
  });

  it("gives a sandbox its env vars, token, user and metadata before create returns", async () => {
    const token = "tok-lifecycle-1";
    const { sandbox } = await agent.client.createSandbox({
      sandboxId: "sb-00000a03",
      template: "base",
      envVars: { GREETING: "hello from wrenn" },
      metadata: { owner: "tests" },
      envdAccessToken: token,
      resources: { vcpus: 1, memoryMb: 384, diskMb: 768 },
    });
    expect(sandbox?.state).toBe(SandboxState.RUNNING);
    expect(sandbox?.metadata).toEqual({ owner: "tests" });
    expect(sandbox?.resources).toMatchObject({ vcpus: 1, memoryMb: 384 });
    const r = await execInSandbox(agent.url, "sb-00000a03", 'echo "$GREETING"; whoami; pwd', {
      token,
    });
    expect(r).toMatchObject({ stdout: "hello from wrenn\nuser\n/home/user\n", exitCode: 0 });
    // Without the token envd refuses.
    await expect(execInSandbox(agent.url, "sb-00000a03", "true")).rejects.toThrow();
    const got = await agent.client.getSandbox({ sandboxId: "sb-00000a03" });
    expect(inCidr(got.sandbox?.address ?? "", agent.networkPool)).toBe(true);
    await agent.client.destroySandbox({ sandboxId: "sb-00000a03" });
    await expect(agent.client.getSandbox({ sandboxId: "sb-00000a03" })).rejects.toThrow(
      /not found/,
    );
  });

  it("answers list and heartbeat while a create is in flight", async () => {
    const pending = agent.client.createSandbox({
      sandboxId: "sb-00000a07",
      template: "base",
      resources: { diskMb: 512 },
    });
    await new Promise((r) => setTimeout(r, 50));
    const beat = await agent.client.heartbeat({});
    const { sandboxes } = await agent.client.listSandboxes({});
    expect(beat.hostId).toMatch(/^host-/);
    expect(sandboxes.map((s) => s.sandboxId)).not.toContain("sb-00000a07");
    await pending;
    expect((await agent.client.listSandboxes({})).sandboxes.map((s) => s.sandboxId)).toContain(
      "sb-00000a07",
    );
    await agent.client.destroySandbox({ sandboxId: "sb-00000a07" });
  });

  it("refuses bad requests with clear errors", async () => {
    await expect(
      agent.client.createSandbox({ sandboxId: "../etc", template: "base" }),
    ).rejects.toThrow(/sandbox id/);
    await expect(
      agent.client.createSandbox({ sandboxId: "sb-00000a04", template: "nope" }),
    ).rejects.toThrow(/template nope is not built/);
    await expect(
      agent.client.createSandbox({
        sandboxId: "sb-00000a04",
        template: "base",
        resources: { memoryMb: 16 },
      }),
    ).rejects.toThrow(/memoryMb|memory_mb/);
    await agent.client.createSandbox({ sandboxId: "sb-00000a05", template: "base" });
    await expect(
      agent.client.createSandbox({ sandboxId: "sb-00000a05", template: "base" }),
    ).rejects.toThrow(/already exists/);
    await agent.client.destroySandbox({ sandboxId: "sb-00000a05" });
    // Destroying twice is fine.
    await agent.client.destroySandbox({ sandboxId: "sb-00000a05" });
  });

  it("forwards only to running sandboxes and keeps envd's private paths private", async () => {
    const res = await fetch(`${agent.url}/health`, {
      headers: { "wrenn-forward-sandbox": "sb-0000dead", "wrenn-forward-port": "49983" },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "sandbox_not_found" } });
    await agent.client.createSandbox({ sandboxId: "sb-00000a06", template: "base" });
    const quiesce = await fetch(`${agent.url}/_wrenn/quiesce`, {
      method: "POST",
      headers: { "wrenn-forward-sandbox": "sb-00000a06", "wrenn-forward-port": "49983" },
    });
    expect(quiesce.status).toBe(403);
    const health = await fetch(`${agent.url}/health`, {
      headers: { "wrenn-forward-sandbox": "sb-00000a06", "wrenn-forward-port": "49983" },
    });
    expect(health.status).toBe(204);
    await agent.client.destroySandbox({ sandboxId: "sb-00000a06" });
  });

  it("speaks gRPC over cleartext HTTP/2 (what grpcurl uses) and serves metrics", async () => {
    const grpc = createClient(HostAgentService, createGrpcTransport({ baseUrl: agent.url }));
    const status = await grpc.hostStatus({});
    expect(status.hostId).toMatch(/^host-[0-9a-f]{8}$/);
    expect(status.runtimes).toContain("gvisor");
    expect(Number(status.total?.memoryMb)).toBeGreaterThan(0);
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    expect(metrics).toMatch(/wrenn_sandbox_create_seconds_bucket\{le="[^"]+",path="warm_pool"\}/);
    expect(metrics).toMatch(/wrenn_sandboxes\{state="pooled"\}/);
  });
});
