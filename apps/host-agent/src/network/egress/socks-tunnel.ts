import type { Socket } from "node:net";
import { egressAllows, egressProxyEndpoint } from "@wrenn/contract";
import type { NetworkLogger } from "../logger.js";
import type { NetworkPolicy } from "../policy.js";
import { type DeniedRanges, deniedDestination, deniedProxyAddress } from "./destination-guard.js";
import { type OpenFlow, splice, startFlow } from "./flow-splice.js";
import { originalDestination } from "./original-destination.js";
import type { PerPeer } from "./per-peer.js";
import { socks5Connect } from "./socks5-client.js";

/** What the tunnel needs of the egress proxy it belongs to. */
export interface SocksTunnelDeps {
  readonly log: NetworkLogger;
  /** Every accepted connection per sandbox (the cap). */
  readonly clients: PerPeer<Socket>;
  /** The connections let through, for cutting on a policy change. */
  readonly flows: PerPeer<OpenFlow>;
  /** The steered sandbox behind a source address, with its policy now. */
  readonly steered: (peer: string) => { sandboxId: string; policy: NetworkPolicy } | undefined;
  readonly denied: () => DeniedRanges;
  /** The proxy's own listening ports (the tunnel's first): never a tunnel's target. */
  readonly ownPorts: () => { tunnel: number; all: readonly number[] };
}

/**
 * egressProxy (E2B's bring-your-own SOCKS5 proxy): a sandbox's allowed TCP goes through it,
 * never direct. Either redirected to the tunnel port (address rules; the destination comes
 * from conntrack) or handed over by the egress proxy for a name it let through.
 */
export class SocksTunnel {
  constructor(private readonly deps: SocksTunnelDeps) {}

  /**
   * A sandbox with an egressProxy: its TCP that an address rule (or internet access) lets out
   * is redirected here; where it was going comes from conntrack. The same checks as the
   * firewall (the policy now, the always-denied ranges), then through the SOCKS5 proxy.
   */
  async accept(client: Socket): Promise<void> {
    const { log, clients } = this.deps;
    client.on("error", () => {});
    client.pause();
    const peer = client.remoteAddress ?? "";
    const who = this.deps.steered(peer);
    if (!who?.policy.egressProxy) {
      client.destroy();
      return;
    }
    if (!clients.add(peer, client)) {
      log.info({ sandboxId: who.sandboxId, why: "too many connections" }, "egress refused");
      client.resetAndDestroy();
      return;
    }
    client.on("close", () => clients.delete(peer, client));
    const dest = await originalDestination(
      peer,
      client.remotePort ?? 0,
      this.deps.ownPorts().tunnel,
    );
    const now = this.deps.steered(peer);
    const ctx = { sandboxId: who.sandboxId, port: dest?.port, address: dest?.address };
    const why = !dest
      ? "no original destination"
      : !now?.policy.egressProxy || !egressAllows(now.policy, dest.address)
        ? "address not allowed"
        : deniedDestination(this.deps.denied(), dest.address);
    if (why !== undefined || !dest || !now) {
      log.info({ ...ctx, why }, "egress refused");
      client.resetAndDestroy();
      return;
    }
    await this.through(client, peer, now.policy, { name: "", ...dest }, Buffer.alloc(0), ctx);
  }

  /** Opens the SOCKS5 tunnel and splices; any failure resets the sandbox's connection. */
  async through(
    client: Socket,
    peer: string,
    policy: NetworkPolicy,
    to: { name: string; address: string; port: number },
    head: Buffer,
    ctx: Record<string, unknown>,
  ): Promise<void> {
    const proxy = policy.egressProxy!;
    let upstream: Socket;
    try {
      upstream = await this.open(proxy, to);
    } catch (err) {
      // Fails closed: the sandbox's connection is reset, it never goes direct.
      this.deps.log.info(
        { ...ctx, proxy: proxy.address, err: (err as Error).message },
        "egress tunnel failed",
      );
      client.resetAndDestroy();
      return;
    }
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.on("error", () => client.resetAndDestroy());
    const flow: OpenFlow = { ...to, via: proxy.address, sockets: [client, upstream] };
    this.deps.log.debug({ ...ctx, proxy: proxy.address }, "egress tunneled");
    splice(this.deps.flows, peer, flow);
    startFlow(flow, head);
  }

  /**
   * A connection through the SOCKS5 proxy to `to` (its name when there is one: remote DNS).
   * Throws when the proxy's address is one a sandbox may not reach or the proxy refuses.
   */
  async open(
    proxy: NonNullable<NetworkPolicy["egressProxy"]>,
    to: { name: string; address: string; port: number },
  ): Promise<Socket> {
    const { host, port } = egressProxyEndpoint(proxy.address);
    // The proxy's own ports too: a tunnel into itself would loop.
    const why = await deniedProxyAddress(this.deps.denied(), host, port, this.deps.ownPorts().all);
    if (why) throw new Error(why);
    return socks5Connect(
      { host, port, username: proxy.username, password: proxy.password },
      { host: to.name || to.address, port: to.port },
    );
  }
}
