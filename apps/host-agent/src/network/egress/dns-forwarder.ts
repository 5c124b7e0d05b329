import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, type Server, type Socket } from "node:net";

/**
 * The name server of sandboxes with domain rules: the firewall steers their DNS (UDP and TCP
 * 53, to any address) here, and this forwards it to the agent's upstream (WRENN_EGRESS_DNS,
 * default the host's). Answers are passed back as they are: names resolve in the sandbox as
 * usual, but what a name resolves to there decides nothing, since the egress proxy resolves
 * every name again itself.
 */
export interface DnsForwarderOptions {
  readonly upstream: readonly string[];
  /** Whether a client (a sandbox's address) may use the forwarder. */
  readonly allowed: (peer: string) => boolean;
  /** Queries one sandbox may have waiting at once (each holds a socket). */
  readonly maxInFlight?: number;
  readonly timeoutMs?: number;
}

export class DnsForwarder {
  private readonly inFlight = new Map<string, number>();
  private next = 0;

  constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    private readonly o: DnsForwarderOptions,
  ) {
    udp.on("message", (msg, from) => this.onDatagram(msg, from.address, from.port));
    udp.on("error", () => {});
    tcp.on("connection", (s) => this.onStream(s));
  }

  /** The next upstream, round robin, so one dead server does not stop every query. */
  private upstream(): string | undefined {
    const list = this.o.upstream;
    if (list.length === 0) return undefined;
    this.next = (this.next + 1) % list.length;
    return list[this.next];
  }

  private onDatagram(msg: Buffer, peer: string, port: number): void {
    if (msg.length < 12 || !this.o.allowed(peer)) return;
    const n = this.inFlight.get(peer) ?? 0;
    const server = this.upstream();
    if (n >= (this.o.maxInFlight ?? 64) || server === undefined) return;
    this.inFlight.set(peer, n + 1);
    // One socket per query: a random source port for each, and no id bookkeeping.
    const out = createSocket("udp4");
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      out.close();
      const left = (this.inFlight.get(peer) ?? 1) - 1;
      if (left > 0) this.inFlight.set(peer, left);
      else this.inFlight.delete(peer);
    };
    const timer = setTimeout(finish, this.o.timeoutMs ?? 5000);
    out.on("error", finish);
    out.on("message", (answer) => {
      this.udp.send(answer, port, peer, () => {});
      finish();
    });
    out.send(msg, 53, server, (err) => {
      if (err) finish();
    });
  }

  private onStream(client: Socket): void {
    client.on("error", () => {});
    const server = this.upstream();
    if (!this.o.allowed(client.remoteAddress ?? "") || server === undefined) {
      client.destroy();
      return;
    }
    client.setTimeout(this.o.timeoutMs ?? 5000, () => client.destroy());
    const up = connect({ host: server, port: 53 });
    up.on("error", () => client.destroy());
    client.on("close", () => up.destroy());
    up.on("close", () => client.destroy());
    client.pipe(up).pipe(client);
  }

  close(): void {
    this.udp.close();
    this.tcp.close();
  }
}
