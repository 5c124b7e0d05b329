import type { AddressInfo } from "node:net";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { SandboxService } from "../service/sandbox-service.js";
import type { Principal } from "../service/sandbox-types.js";
import { SshTunnels } from "./ssh-tunnels.js";
import type { WorkspaceService } from "./workspace-service.js";
import type { WorkspaceSshd } from "./workspace-sshd.js";

/**
 * The control plane's side of a tunnel against a host agent on loopback that misbehaves (its
 * answer relays what a tenant's sandbox sends): the open is bounded in time and size, and the
 * owner's slot comes back on every path.
 */
const principal = { keyId: "k", ownerId: "owner", role: "user", name: "t" } as Principal;
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** SshTunnels whose workspace's agent forwarder is the raw server `agent` on loopback. */
async function tunnelsTo(agent: net.Server, answerMs: number): Promise<SshTunnels> {
  servers.push(agent);
  await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
  const { port } = agent.address() as AddressInfo;
  const endpoint = {
    id: "sb1",
    client: { forwardTarget: () => ({ url: `http://127.0.0.1:${port}`, headers: {} }) },
  };
  return new SshTunnels({
    workspaces: {
      reach: async () => ({ id: "sb1" }),
      keepAlive: async () => {},
    } as unknown as WorkspaceService,
    sandboxes: { endpoint: async () => endpoint } as unknown as SandboxService,
    sshd: { prepare: async () => {}, stopSoon: () => {} } as unknown as WorkspaceSshd,
    tunnelsPerOwner: 1,
    answerMs,
  });
}

/** Accepts, reads, never answers; counts the connections still open. */
function silentAgent(): { server: net.Server; open: () => number } {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
  });
  return { server, open: () => sockets.size };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return "opened";
}

describe("ssh tunnels against a misbehaving agent", () => {
  it("an agent that never answers: the open ends at the deadline and the slot is freed", async () => {
    const agent = silentAgent();
    const tunnels = await tunnelsTo(agent.server, 300);
    expect(await codeOf(tunnels.connect(principal, "w"))).toBe("sandbox_unreachable");
    // With one slot per owner, a held slot would say too_many_ssh_tunnels here.
    expect(await codeOf(tunnels.connect(principal, "w"))).toBe("sandbox_unreachable");
    await expect.poll(agent.open).toBe(0);
  });

  it("the client going away drops a pending open and frees the slot", async () => {
    const agent = silentAgent();
    const tunnels = await tunnelsTo(agent.server, 600_000);
    const gone = new AbortController();
    const pending = codeOf(tunnels.connect(principal, "w", gone.signal));
    await expect.poll(agent.open).toBe(1);
    gone.abort();
    expect(await pending).toBe("sandbox_unreachable");
    await expect.poll(agent.open).toBe(0);
    const again = new AbortController();
    const next = codeOf(tunnels.connect(principal, "w", again.signal));
    await expect.poll(agent.open).toBe(1);
    again.abort();
    expect(await next).toBe("sandbox_unreachable");
  });

  it("an endless refusal is cut at the cap", async () => {
    let sent = 0;
    const chunk = Buffer.alloc(16 * 1024, 120);
    const agent = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n");
        const pump = () => {
          while (!socket.destroyed && sent < 512 * 1024 * 1024) {
            sent += chunk.length;
            if (!socket.write(chunk)) return void socket.once("drain", pump);
          }
        };
        pump();
      });
    });
    const tunnels = await tunnelsTo(agent, 600_000);
    expect(await codeOf(tunnels.connect(principal, "w"))).toBe("workspace_sshd_failed");
    expect(sent).toBeLessThan(512 * 1024 * 1024);
    expect(await codeOf(tunnels.connect(principal, "w"))).toBe("workspace_sshd_failed");
  });
});
