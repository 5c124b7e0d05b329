import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { saveTunnelConfig, tunnelConfigPath } from "./workspace-tunnel.js";

const run = promisify(execFile);
const KEY_A = Buffer.alloc(32, 1).toString("base64");
const KEY_B = Buffer.alloc(32, 2).toString("base64");

describe("the workspace's wg-quick config", () => {
  let home: string;
  let before: string | undefined;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), "wrenn-cli-wg-"));
    before = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = home;
  });
  afterEach(async () => {
    if (before === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = before;
    await rm(home, { recursive: true, force: true });
  });

  it("is written 0600 under the CLI's config dir, and wg-quick reads it", async () => {
    const file = await saveTunnelConfig({
      name: "averylongworkspacename",
      endpoint: "192.0.2.7:51820",
      privateKey: KEY_A,
      peerPublicKey: KEY_B,
      tunnelIp: "10.10.0.1/24",
      agentIp: "10.10.0.2",
    });
    // An interface name within Linux's 15 characters.
    expect(file).toBe(join(home, "wrenn", "wireguard", "wr-averylongwor.conf"));
    expect(tunnelConfigPath("averylongworkspacename")).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, "wrenn", "wireguard"))).mode & 0o777).toBe(0o700);
    expect(await readFile(file, "utf8")).toContain("Address = 10.10.0.1/24");
    // The real wg-quick parses it into what `wg setconf` takes (wg-quick's own keys stripped).
    const { stdout } = await run("wg-quick", ["strip", file]);
    expect(stdout).toContain(`PrivateKey = ${KEY_A}`);
    expect(stdout).toContain(`PublicKey = ${KEY_B}`);
    expect(stdout).toContain("Endpoint = 192.0.2.7:51820");
    expect(stdout).toContain("AllowedIPs = 10.10.0.2/32");
    expect(stdout).not.toContain("Address");
  });
});
