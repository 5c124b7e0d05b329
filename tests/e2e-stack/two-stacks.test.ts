import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { deleteAgentTables } from "../harness/agent-process.js";
import { templatesDir } from "../harness/paths.js";
import { leaseSlot, slotPool } from "../harness/slot-lease.js";
import { StartProcess } from "../harness/start-process.js";

// The newcomer's path: two people start Wrenn on one machine without choosing any port, and
// each one's CLI (pointed at nothing but its own checkout's data dir) talks to its own stack.
// The network of each comes from a test slot so that parallel test runs never meet; how a
// stack picks a free network itself is covered by stack-settings.test.ts.

interface Started {
  start: StartProcess;
  dataDir: string;
  url: string;
  release: () => void;
  table: string;
}

const started: Started[] = [];

async function startStack(): Promise<Started> {
  const dataDir = await mkdtemp(join(tmpdir(), "wrenn-two-stacks-"));
  const slot = leaseSlot();
  const tag = slot.slot.toString(16).padStart(2, "0");
  const table = `wrenn_two_${tag}`;
  const entry: Started = {
    start: undefined as unknown as StartProcess,
    dataDir,
    url: "",
    release: slot.release,
    table,
  };
  started.push(entry);
  entry.start = await StartProcess.run({
    WRENN_DATA_DIR: dataDir,
    WRENN_TEMPLATES_DIR: templatesDir,
    WRENN_LISTEN: "",
    WRENN_AGENT_LISTEN: "",
    WRENN_API_KEY: "",
    WRENN_WELCOME: "0",
    WRENN_POOL_SIZE: "0",
    WRENN_NETWORK_POOL: slotPool(slot.slot),
    WRENN_NETWORK_PREFIX: `wt${tag}-`,
    WRENN_NETWORK_TABLE: table,
  });
  entry.url = entry.start.field(/API\s+(http:\/\/\S+)/);
  return entry;
}

afterAll(async () => {
  for (const s of started) {
    if (s.start?.running) await s.start.interrupt();
    await deleteAgentTables(s.table);
    await rm(s.dataDir, { recursive: true, force: true });
    s.release();
  }
});

describe("two stacks on one machine", () => {
  test("the second picks free ports, says so, and each CLI reaches its own stack", async () => {
    const a = await startStack();
    const b = await startStack();
    expect(b.url).not.toBe(a.url);
    // Whoever started second was told its port moved (the first may have moved too, when
    // something else holds 3000).
    expect(b.start.output).toMatch(/Note: API port \d+ is in use: using \d+ instead/);
    expect(b.start.output).toMatch(/Note: host agent port \d+ is in use: using \d+ instead/);
    for (const s of [a, b]) {
      expect(s.start.output).toContain(`Admin UI   ${s.url}/admin`);
      expect(s.start.output).toContain(`Docs       ${s.url}/docs`);
      expect(s.start.output).toMatch(/export WRENN_API_URL=\S+ WRENN_API_KEY=\S+/);
    }

    // The CLI knows nothing but the data dir (as in its own checkout): it finds its stack.
    const envA = await isolatedEnv({ WRENN_DATA_DIR: a.dataDir });
    const envB = await isolatedEnv({ WRENN_DATA_DIR: b.dataDir });
    const statusA = JSON.parse((await wrenn(["status", "--json"], { env: envA })).stdout);
    expect(statusA).toMatchObject({ up: true, apiUrl: a.url });
    expect(statusA.apiUrlSource).toContain(a.dataDir);
    const plain = await wrenn(["status"], { env: envB });
    expect(plain.stdout).toContain(`${b.url} (from the local stack running from ${b.dataDir})`);

    const created = await wrenn(["sandbox", "create"], { env: envA });
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^sb-[0-9a-f]{8}$/);
    const inA = JSON.parse((await wrenn(["sandbox", "ls", "--json"], { env: envA })).stdout);
    const inB = JSON.parse((await wrenn(["sandbox", "ls", "--json"], { env: envB })).stdout);
    const ids = (list: { id?: string; sandboxId?: string }[]) =>
      list.map((s) => s.id ?? s.sandboxId);
    expect(ids(inA)).toContain(id);
    expect(ids(inB)).not.toContain(id);
    expect((await wrenn(["sandbox", "kill", id], { env: envA })).code).toBe(0);

    // Once a stack stops, its CLI says which server it tried and why that one.
    expect(await a.start.interrupt()).toBe(0);
    const down = await wrenn(["status"], { env: envA });
    expect(down.code).toBe(1);
    expect(down.stdout).toContain(
      `(from the default local address (no stack runs from ${a.dataDir}))`,
    );
  });
});
