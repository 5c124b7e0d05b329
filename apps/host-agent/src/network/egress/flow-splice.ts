import type { Socket } from "node:net";
import type { PerPeer } from "./per-peer.js";

/** A connection the egress proxy let through, with where it went (what a policy change cuts). */
export interface OpenFlow {
  /** The host name it was let out by ("" for one let out by its address). */
  readonly name: string;
  /** Where it went ("" when the SOCKS proxy resolved the name). */
  readonly address: string;
  /** The egressProxy address it was tunneled through, if any. */
  readonly via: string | undefined;
  readonly sockets: readonly Socket[];
}

/** Tracks a flow until either side closes; each side's end closes the other. */
export function splice(flows: PerPeer<OpenFlow>, peer: string, flow: OpenFlow): void {
  const [client, upstream] = flow.sockets as [Socket, Socket];
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  flows.add(peer, flow);
  const forget = () => flows.delete(peer, flow);
  client.on("error", () => upstream.destroy());
  client.on("close", () => {
    upstream.destroy();
    forget();
  });
  upstream.on("close", () => {
    if (!client.destroyed) client.end();
    forget();
  });
}

/** Once the upstream is connected: the bytes read so far, then both ways. */
export function startFlow(flow: OpenFlow, head: Buffer): void {
  const [client, upstream] = flow.sockets as [Socket, Socket];
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  upstream.resume();
}
