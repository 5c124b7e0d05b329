import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sandboxProcesses } from "@wrenn/local-stack";
import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { deleteAgentTables, freePort } from "../harness/agent-process.js";
import { hostFootprint } from "../harness/host-leaks.js";
import { templatesDir } from "../harness/paths.js";
import { poolEnv } from "../harness/pool-env.js";
import { leaseSlot, slotPool } from "../harness/slot-lease.js";
import { StartProcess } from "../harness/start-process.js";
import { killSandboxProcesses, removeDataDir } from "./stack.js";

/** Host agents started for this data directory that are still alive. */
async function agentsOf(dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.includes("host-agent/dist/main.js")) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    if (environ.split("\0").includes(`WRENN_DATA_DIR=${dataDir}`)) pids.push(Number(entry));
  }
  return pids;
}

const run = promisify(execFile);

describe("npm start (bin/start.mjs)", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let running: StartProcess | undefined;
  const slot = leaseSlot();
  const tag = slot.slot.toString(16).padStart(2, "0");
  const table = `wrenn_start_${tag}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wrenn-npm-start-"));
    env = {
      WRENN_DATA_DIR: dataDir,
      WRENN_TEMPLATES_DIR: templatesDir,
      WRENN_LISTEN: `127.0.0.1:${await freePort()}`,
      WRENN_AGENT_LISTEN: `127.0.0.1:${await freePort()}`,
      ...poolEnv(1),
      WRENN_NETWORK_POOL: slotPool(slot.slot),
      WRENN_NETWORK_PREFIX: `ws${tag}-`,
      WRENN_NETWORK_TABLE: table,
      WRENN_API_KEY: "",
    };
  });
  afterAll(async () => {
    if (running && running.child.exitCode === null) await running.interrupt();
    // A failed run leaves its paused sandboxes (the passing one destroys them): their
    // processes, namespaces and links go here, so no later file inherits them.
    await killSandboxProcesses(dataDir);
    const left = hostFootprint(dataDir, `ws${tag}-`);
    for (const name of left.netns) await run("ip", ["netns", "del", name]).catch(() => {});
    for (const name of left.links) await run("ip", ["link", "del", name]).catch(() => {});
    await deleteAgentTables(table);
    // Their disks are still mounted in it.
    await removeDataDir(dataDir);
    slot.release();
  });

  test("starts everything, shows a sandbox, stops cleanly on Ctrl-C and resumes paused sandboxes next time", async () => {
    running = await StartProcess.run(env);
    const first = running;
    const url = first.field(/API\s+(http:\/\/\S+)/);
    const key = first.field(/API key\s+(\S+)/);
    // The E2B line's key has E2B's form (SDK 2.30-2.45 check it) and is the admin's owner's.
    const e2bKey = first.field(/export E2B_API_KEY=(\S+)/);
    expect(e2bKey).toMatch(/^e2b_[0-9a-f]{40}$/);
    expect(first.output).toContain(
      `export E2B_API_KEY=${e2bKey} E2B_API_URL=${url} E2B_SANDBOX_URL=${url}`,
    );
    expect(first.output).toMatch(/Sandbox sb-[0-9a-f]{8} \(created\) ran/);
    expect(first.output).toContain("started 1 time(s)");
    expect(first.output).toContain("exit code 0");
    expect(await readFile(join(dataDir, "admin-api-key"), "utf8")).toBe(`${key}\n`);

    // The banner's scrape token reads both programs' Prometheus metrics (and is kept).
    const metricsLine =
      /Metrics\s+(http:\/\/\S+) and (http:\/\/\S+)\s+\(Prometheus; header Authorization: Bearer (\S+)\)/;
    const [, cpMetrics, agentMetrics, scrape] = metricsLine.exec(first.output)!;
    for (const target of [cpMetrics!, agentMetrics!]) {
      const r = await fetch(target, { headers: { authorization: `Bearer ${scrape}` } });
      expect(r.status, target).toBe(200);
      expect(await r.text(), target).toContain("wrenn_");
    }
    expect((await fetch(cpMetrics!)).status).toBe(401);
    expect(await readFile(join(dataDir, "metrics-token"), "utf8")).toBe(`${scrape}\n`);

    // The printed values are all a user needs for the official SDK.
    const opts = { apiKey: e2bKey, apiUrl: url, sandboxUrl: url };
    const sbx = await Sandbox.create("base", opts);
    await sbx.files.write("/home/user/persist.txt", "still here");
    expect((await sbx.commands.run("cat ~/persist.txt")).stdout).toBe("still here");

    expect(await first.interrupt()).toBe(0);
    running = undefined;
    expect(first.output).toMatch(/Paused 2 sandbox\(es\)/);
    expect(first.output).toContain("Stopped.");
    expect(await sandboxProcesses(dataDir)).toEqual([]);
    expect(await agentsOf(dataDir)).toEqual([]);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    running = await StartProcess.run(env);
    const second = running;
    expect(second.field(/API key\s+(\S+)/)).toBe(key);
    expect(second.field(/export E2B_API_KEY=(\S+)/)).toBe(e2bKey);
    expect(second.output).toMatch(/Sandbox sb-[0-9a-f]{8} \(resumed\) ran/);
    expect(second.output).toContain("started 2 time(s)");
    const url2 = second.field(/API\s+(http:\/\/\S+)/);
    const again = await Sandbox.connect(sbx.sandboxId, { ...opts, apiUrl: url2, sandboxUrl: url2 });
    expect(await again.files.read("/home/user/persist.txt")).toBe("still here");

    // Leave nothing behind: destroy both sandboxes, then stop.
    const listed = await fetch(`${url2}/v1/sandboxes`, { headers: { "x-api-key": key } });
    for (const s of ((await listed.json()) as { sandboxes: { id: string }[] }).sandboxes) {
      await fetch(`${url2}/v1/sandboxes/${s.id}`, {
        method: "DELETE",
        headers: { "x-api-key": key },
      });
    }
    expect(await second.interrupt()).toBe(0);
    running = undefined;
    expect(await sandboxProcesses(dataDir)).toEqual([]);
    expect(await agentsOf(dataDir)).toEqual([]);
  });
});
