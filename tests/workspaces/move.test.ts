import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { isSshHostKey, WORKSPACE_TUNNEL } from "@wrenn/contract";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";
import { Workspaces } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import type { AgentProcess } from "../harness/agent-process.js";
import { FleetStack } from "../harness/fleet-stack.js";
import { waitFor } from "../harness/wait.js";
import { Laptop, SMALL, tcpFrom } from "./wg-laptop.js";

// `wrenn ws to NAME HOST` on two real registered agents sharing one S3 store (the fleet
// harness): refusals change nothing; a move pauses the workspace, hibernates it, resumes it on
// the other host with its files and a running process, and its WireGuard port is the new
// host's (its assignment there, none left on the old one), with new keys in the answer: a
// laptop (wg-laptop.ts) reaches a server in the workspace with the new config, not the old.
// A wake (a resume) fired while the move has the workspace paused waits for the move and is
// served on the new host; the move does not fail because of it. The SSH host key, on the
// workspace's disk, goes along: the one Wrenn pins is still the one it has.

describe("moving a workspace to another host", () => {
  let fleet: FleetStack;
  const call = (method: string, path: string, body?: unknown) => fleet.call(method, path, body);

  beforeAll(async () => {
    fleet = await FleetStack.start();
    await fleet.startAgent(await fleet.newToken());
    await fleet.startAgent(await fleet.newToken());
    await fleet.waitOnline(2);
  }, 300_000);

  const laptop = new Laptop();
  afterAll(async () => {
    await laptop.remove();
    await fleet?.dispose();
  }, 300_000);

  const agentOf = (hostId: string): AgentProcess =>
    [...fleet.hostOf].find(([, id]) => id === hostId)![0];
  /** The agent's persisted WireGuard port assignments (sandbox id → UDP port). */
  const portsOn = async (hostId: string): Promise<Record<string, number>> =>
    JSON.parse(
      await readFile(join(agentOf(hostId).dataDir, "wireguard", "ports.json"), "utf8").catch(
        () => "{}",
      ),
    );

  test("refusals leave it where it was; the move keeps files and a running process, and the client config follows", async () => {
    const created = await call("POST", "/v1/workspaces", { name: "movebox", ...SMALL });
    expect(created.status, created.text).toBe(201);
    const sandboxId = created.body.sandboxId as string;
    const oldConfig = created.body.clientConfig;
    const sandbox = async () =>
      (await call("GET", `/v1/sandboxes/${sandboxId}`)).body as { hostId: string; state: string };
    const from = (await sandbox()).hostId;
    const to = [...fleet.hostOf.values()].find((h) => h !== from)!;
    expect(await portsOn(from)).toMatchObject({ [sandboxId]: created.body.hostPort });

    const run = (command: string) => fleet.run(sandboxId, command);
    /** The key its sshd would present, from its own disk (root's file). */
    const hostKeyOnDisk = async () => {
      const r = await call("POST", `/v1/sandboxes/${sandboxId}/exec`, {
        command: "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key | cut -d' ' -f1,2",
        user: "root",
      });
      expect(r.status, r.text).toBe(200);
      return (r.body.stdout as string).trim();
    };
    const hostKey = created.body.sshHostKey as string;
    expect(isSshHostKey(hostKey), hostKey).toBe(true);
    expect(await hostKeyOnDisk()).toBe(hostKey);
    await run("echo moved with me > /home/user/note.txt");
    await fleet.startCounter(sandboxId);

    // Every refusal is a 4xx that moves nothing.
    const move = (body: unknown) => call("POST", "/v1/workspaces/movebox/move", body);
    const refusals: [unknown, number, string][] = [
      [{ hostId: "host-nosuch00" }, 404, "host_not_found"],
      [{ hostId: from }, 409, "workspace_on_host"],
      // Both agents report this machine's name: which one is meant is the caller's to say.
      [{ hostId: hostname() }, 400, "invalid_request"],
      [{}, 400, "invalid_request"],
      [{ hostId: "" }, 400, "invalid_request"],
    ];
    for (const [body, status, code] of refusals) {
      const r = await move(body);
      expect(r.status, r.text).toBe(status);
      expect(r.body.error.code, r.text).toBe(code);
    }
    const nobody = await call("POST", "/v1/workspaces/nosuchbox/move", { hostId: to });
    expect(nobody.status, nobody.text).toBe(404);
    expect(nobody.body.error.code).toBe("workspace_not_found");
    expect((await call("POST", `/v1/hosts/${to}/drain`, {})).status).toBe(200);
    try {
      const drained = await move({ hostId: to });
      expect(drained.status, drained.text).toBe(409);
      expect(drained.body.error.code).toBe("host_not_ready");
    } finally {
      await call("POST", `/v1/hosts/${to}/undrain`, {});
    }
    // A host whose store is its own disk could never read what the move hibernates.
    const local = await fleet.startAgent(await fleet.newToken(), { sharedStore: false });
    await fleet.waitOnline(3);
    const unshared = await move({ hostId: fleet.hostOf.get(local) });
    expect(unshared.status, unshared.text).toBe(409);
    expect(unshared.body.error.code).toBe("store_not_configured");
    expect(unshared.body.error.message).toContain("WRENN_STORE=s3");
    // Gone again: the rest of this test has two hosts, and it takes none of their placements.
    expect((await call("POST", `/v1/hosts/${fleet.hostOf.get(local)}/drain`, {})).status).toBe(200);
    expect(await sandbox()).toEqual(expect.objectContaining({ hostId: from, state: "running" }));

    // The CLI moves it and saves the new config, as create and restore do.
    const cliEnv = await isolatedEnv({ WRENN_API_URL: fleet.url, WRENN_API_KEY: TEST_ADMIN_KEY });
    const moving = wrenn(["ws", "to", "movebox", to, "--json"], { env: cliEnv });
    // A wake while the move has it paused (an SSH connection would resume it the same way).
    await waitFor(async () => (await sandbox()).state !== "running", 300_000, "the move to begin");
    const woken = call("POST", "/v1/workspaces/movebox/resume", {});
    const moved = await moving;
    expect(moved.code, moved.stderr).toBe(0);
    const answer = JSON.parse(moved.stdout);
    expect(answer).toMatchObject({ name: "movebox", state: "running", sandboxId });
    const wake = await woken;
    expect(wake.status, wake.text).toBe(200);
    expect(wake.body).toMatchObject({ state: "running", hostPort: answer.hostPort });
    expect(await sandbox()).toEqual(expect.objectContaining({ hostId: to, state: "running" }));
    expect(answer.sshHostKey).toBe(hostKey);
    expect(await hostKeyOnDisk()).toBe(hostKey);

    // Its port is the new host's assignment; the old host holds none for it any more.
    const newPort = answer.hostPort as number;
    expect(await portsOn(to)).toMatchObject({ [sandboxId]: newPort });
    expect(Object.keys(await portsOn(from))).not.toContain(sandboxId);
    expect(answer.clientConfig.endpoint).toMatch(new RegExp(`:${newPort}$`));
    expect(answer.clientConfig.privateKey).not.toBe(oldConfig.privateKey);
    expect(answer.clientConfig.peerPublicKey).not.toBe(oldConfig.peerPublicKey);
    const saved = await wrenn(["ws", "get", "movebox", "--json"], { env: cliEnv });
    expect(saved.code, saved.stderr).toBe(0);
    expect(JSON.parse(saved.stdout)).toMatchObject({ hostPort: newPort, state: "running" });

    // Files intact, exec works, and the same process still counts (a new one starts at 1).
    expect(await run("cat /home/user/note.txt")).toBe("moved with me");
    expect(await fleet.counterGoesOn(sandboxId)).toBeGreaterThan(5);

    // Suspended, it moves too (the SDK's move), and comes back running.
    const suspended = await call("POST", "/v1/workspaces/movebox/suspend", {});
    expect(suspended.status, suspended.text).toBe(200);
    const back = await Workspaces.move("movebox", from, {
      apiKey: TEST_ADMIN_KEY,
      apiUrl: fleet.url,
    });
    expect(back).toMatchObject({ name: "movebox", state: "running", sandboxId });
    expect(back.clientConfig.privateKey).not.toBe(answer.clientConfig.privateKey);
    expect(await sandbox()).toEqual(expect.objectContaining({ hostId: from, state: "running" }));
    expect(await portsOn(from)).toMatchObject({ [sandboxId]: back.hostPort });
    expect(Object.keys(await portsOn(to))).not.toContain(sandboxId);
    expect(await run("cat /home/user/note.txt")).toBe("moved with me");

    // The new client config reaches a server in the workspace through WireGuard; the old one,
    // its port on the old host open to the laptop too, reaches nothing any more. (Last: a
    // listening socket, or a connection through the tunnel, keeps a pause from going to disk,
    // and a move needs it there.)
    await run(
      "setsid node -e \"require('net').createServer((c) => c.end('hello after the move\\n')).listen(8000)\" " +
        "</dev/null >/dev/null 2>&1 &",
    );
    const reach = (ms = 3000) => tcpFrom(laptop.netns, WORKSPACE_TUNNEL.agentIp, 8000, ms);
    await laptop.start(back.hostPort);
    await laptop.fence(back.hostPort, newPort);
    await laptop.configure(back.clientConfig);
    await waitFor(
      async () => (await reach()) === "got:hello after the move\n",
      60_000,
      "the new config's tunnel",
    );
    await laptop.configure(answer.clientConfig);
    expect(await reach()).toBe("timeout");
    await laptop.remove();

    expect((await call("DELETE", "/v1/workspaces/movebox")).status).toBe(204);
  }, 900_000);
});
