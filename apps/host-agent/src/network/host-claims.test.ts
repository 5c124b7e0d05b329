import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { claimConflict, claimNetwork, type RegisteredClaim } from "./host-claims.js";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function registry(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-claims-"));
  dirs.push(dir);
  return dir;
}

const first: RegisteredClaim = {
  pool: "10.200.0.0/16",
  prefix: "wrenn-",
  tables: ["wrenn", "wrenn_guard"],
  dataDir: "/var/lib/wrenn/agent",
  listen: "127.0.0.1:7070",
};
const distinct: RegisteredClaim = {
  pool: "10.201.0.0/16",
  prefix: "wr2-",
  tables: ["wrenn2", "wrenn2_guard"],
  dataDir: "/var/lib/wrenn2/agent",
  listen: "127.0.0.1:7071",
};

describe("claimConflict", () => {
  it("finds overlapping pools, prefixes that are prefixes of each other, and shared tables", () => {
    expect(claimConflict(first, distinct)).toBeNull();
    expect(claimConflict(first, { ...distinct, pool: "10.200.4.0/22" })).toMatch(/pool/);
    expect(claimConflict(first, { ...distinct, pool: "10.0.0.0/8" })).toMatch(/pool/);
    expect(claimConflict(first, { ...distinct, prefix: "wrenn-" })).toMatch(/prefix/);
    expect(claimConflict(first, { ...distinct, prefix: "wr" })).toMatch(/prefix/);
    expect(claimConflict(first, { ...distinct, prefix: "wrenn-a" })).toMatch(/prefix/);
    expect(claimConflict(first, { ...distinct, tables: ["wrenn_guard", "x"] })).toMatch(/table/);
  });
});

describe("claimNetwork", () => {
  it("refuses an overlapping claim while the first is held, naming its holder", async () => {
    const dir = await registry();
    const held = await claimNetwork(first, dir);
    await expect(claimNetwork({ ...distinct, pool: first.pool }, dir)).rejects.toThrow(
      `refusing to start: network pool 10.200.0.0/16 overlaps 10.200.0.0/16 (set WRENN_NETWORK_POOL) with the host agent running as process ${process.pid}, listening on 127.0.0.1:7070, data dir /var/lib/wrenn/agent`,
    );
    await expect(claimNetwork({ ...distinct, tables: first.tables }, dir)).rejects.toThrow(
      /nftables table wrenn is used by the host agent running as process/,
    );
    const other = await claimNetwork(distinct, dir);
    other.release();
    held.release();
    expect(existsSync(join(dir, "wrenn.claim"))).toBe(false);
    // Let go: the same claim is free again.
    (await claimNetwork({ ...distinct, pool: first.pool }, dir)).release();
  });

  it("ignores the claim file of an agent that died", async () => {
    const dir = await registry();
    const child = spawn(process.execPath, ["-e", "process.exit(0)"]);
    await new Promise((r) => child.on("exit", r));
    await writeFile(join(dir, "wrenn.claim"), JSON.stringify({ ...first, pid: child.pid }));
    (await claimNetwork({ ...distinct, pool: first.pool }, dir)).release();
    (await claimNetwork(first, dir)).release();
  });
});
