import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../harness/agent-process.js";
import { templatesDir } from "../harness/paths.js";
import { leaseSlot, slotPool } from "../harness/slot-lease.js";
import { isolatedEnv, wrenn } from "./wrenn-cli.js";

// `wrenn up --detach`, `status` and `down` on a data dir and ports of the test's own.
describe("wrenn up --detach / status / down", () => {
  let env: Record<string, string>;
  let dataDir: string;
  let slot: ReturnType<typeof leaseSlot>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wrenn-cli-up-"));
    slot = leaseSlot();
    const tag = slot.slot.toString(16).padStart(2, "0");
    const listen = `127.0.0.1:${await freePort()}`;
    env = await isolatedEnv({
      WRENN_DATA_DIR: dataDir,
      // The shared, already built templates: building base is not what this test is about.
      WRENN_TEMPLATES_DIR: templatesDir,
      WRENN_LISTEN: listen,
      WRENN_AGENT_LISTEN: `127.0.0.1:${await freePort()}`,
      WRENN_POOL_SIZE: "0",
      WRENN_WELCOME: "0",
      WRENN_NETWORK_POOL: slotPool(slot.slot),
      WRENN_NETWORK_PREFIX: `we${tag}-`,
      WRENN_NETWORK_TABLE: `wrenn_e2e_${tag}`,
      WRENN_API_URL: `http://${listen}`,
    });
  });
  afterAll(async () => {
    // Whatever happened, nothing of this test keeps running.
    const pid = Number(
      (await readFile(join(dataDir, "wrenn-up.pid"), "utf8").catch(() => "")).trim(),
    );
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    slot?.release();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("status is down (exit 1), up --detach starts it, status is up, down stops it", async () => {
    const before = await wrenn(["status"], { env });
    expect(before.code).toBe(1);

    const up = await wrenn(["up", "--detach", "--no-setup", "--wait", "90"], { env });
    expect(up.stderr).toContain("Starting the control plane");
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`Wrenn is up at ${env.WRENN_API_URL}`);
    const pid = Number((await readFile(join(dataDir, "wrenn-up.pid"), "utf8")).trim());
    expect(pid).toBeGreaterThan(0);

    const again = await wrenn(["up", "--detach", "--no-setup"], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already running");

    // No key given: the CLI finds the admin key the stack keeps in its data dir.
    const status = await wrenn(["status", "--json"], { env });
    expect(status.code).toBe(0);
    const body = JSON.parse(status.stdout);
    expect(body).toMatchObject({ up: true, detachedPid: pid });
    expect(body.hosts[0]).toMatchObject({ status: "online" });

    const down = await wrenn(["down", "--timeout", "60"], { env });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain("Stopped.");
    expect(() => process.kill(pid, 0)).toThrow();
    const after = await wrenn(["status"], { env });
    expect(after.code).toBe(1);
    const idle = await wrenn(["down"], { env });
    expect(idle.code).toBe(0);
    expect(idle.stderr).toContain("not running");
  });
});
