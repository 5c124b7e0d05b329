import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Server, type Socket } from "node:net";
import { PerPeer } from "./per-peer.js";

/** DNS over TCP streams one sandbox may have open at once (each holds two sockets). */
export const MAX_DNS_STREAMS_PER_SANDBOX = 16;

/**
 * The name server of sandboxes with domain rules: the firewall steers their DNS (UDP and TCP
 * 53, to any address) here, and this forwards it to the agent's upstream (WRENN_EGRESS_DNS,
 * default the host's upstream name servers, never a loopback resolver: that would answer from
 * the host's /etc/hosts and internal zones). Answers are passed back as they are: names resolve in the sandbox as
 * usual, but what a name resolves to there decides nothing, since the egress proxy resolves
 * every name again itself.
 */
export interface DnsForwarderOptions {
  readonly upstream: readonly string[];
  /** Whether a client (a sandbox's address) may use the forwarder. */
  readonly allowed: (peer: string) => boolean;
  /** Queries one sandbox may have waiting at once (each holds a socket). */
  readonly maxInFlight?: number;
  /** Default MAX_DNS_STREAMS_PER_SANDBOX. */
  readonly maxStreams?: number;
  readonly timeoutMs?: number;
}

export class DnsForwarder {
  /** Each waiting UDP query, as the function that ends it. */
  private readonly queries: PerPeer<() => void>;
  private readonly streams: PerPeer<Socket>;
  private next = 0;

  constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    private readonly options: DnsForwarderOptions,
  ) {
    udp.on("message", (msg, from) => this.onDatagram(msg, from.address, from.port));
    udp.on("error", () => {});
    tcp.on("connection", (s) => this.onStream(s));
    this.queries = new PerPeer(options.maxInFlight ?? 64);
    this.streams = new PerPeer(options.maxStreams ?? MAX_DNS_STREAMS_PER_SANDBOX);
  }

  /** The next upstream, round robin, so one dead server does not stop every query. */
  private upstream(): string | undefined {
    const list = this.options.upstream;
    if (list.length === 0) return undefined;
    this.next = (this.next + 1) % list.length;
    return list[this.next];
  }

  private onDatagram(msg: Buffer, peer: string, port: number): void {
    if (msg.length < 12 || !this.options.allowed(peer)) return;
    const server = this.upstream();
    if (server === undefined) return;
    // One socket per query: a random source port for each, and no id bookkeeping.
    const out = createSocket("udp4");
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      out.close();
      this.queries.delete(peer, finish);
    };
    if (!this.queries.add(peer, finish)) {
      out.close();
      return;
    }
    const timer = setTimeout(finish, this.options.timeoutMs ?? 5000);
    out.on("error", finish);
    out.on("message", (answer) => {
      if (done) return;
      this.udp.send(answer, port, peer, () => {});
      finish();
    });
    // Connected: the kernel drops datagrams from anyone but the upstream asked, so no host
    // on the path can answer in its place by guessing the port.
    out.connect(53, server, (err?: Error) => {
      if (err || done) finish();
      else out.send(msg, (e) => e && finish());
    });
  }

  private onStream(client: Socket): void {
    client.on("error", () => {});
    const peer = client.remoteAddress ?? "";
    const server = this.upstream();
    if (!this.options.allowed(peer) || server === undefined || !this.streams.add(peer, client)) {
      client.destroy();
      return;
    }
    client.on("close", () => this.streams.delete(peer, client));
    client.setTimeout(this.options.timeoutMs ?? 5000, () => client.destroy());
    const up = connect({ host: server, port: 53 });
    up.on("error", () => client.destroy());
    client.on("close", () => up.destroy());
    up.on("close", () => client.destroy());
    client.pipe(up).pipe(client);
  }

  /** Ends every query and stream of a sandbox that is going away. */
  forget(peer: string): void {
    for (const finish of this.queries.take(peer)) finish();
    for (const s of this.streams.take(peer)) s.destroy();
  }

  close(): void {
    for (const finish of this.queries.all()) finish();
    for (const s of this.streams.all()) s.destroy();
    this.udp.close();
    this.tcp.close();
  }
}
