import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { rootCertificates } from "node:tls";
import { egressAllows, egressAllowsHost, egressRuleHeadersFor } from "@wrenn/contract";
import { defaultLogger, type NetworkLogger } from "../logger.js";
import { hasDomainRules, isSteered, type NetworkPolicy } from "../policy.js";
import { TLS_ACCESS_DENIED } from "./client-hello.js";
import { type DeniedRanges, deniedDestination } from "./destination-guard.js";
import { DnsForwarder } from "./dns-forwarder.js";
import { FirstBytes } from "./first-bytes.js";
import { type OpenFlow, splice, startFlow } from "./flow-splice.js";
import { HeaderInjector } from "./header-injector.js";
import { forbiddenResponse } from "./http-host.js";
import { PerPeer } from "./per-peer.js";
import { SandboxCa } from "./sandbox-ca.js";
import { SocksTunnel } from "./socks-tunnel.js";

/**
 * Proxied connections (waiting for their first bytes, or open) one sandbox may have at once:
 * each holds up to two file descriptors in the root agent. Past it a new one is reset.
 */
export const MAX_PROXIED_PER_SANDBOX = 256;

export interface EgressProxyOptions {
  /** Name servers (IPv4) the proxy resolves allowOut's names with. */
  readonly upstreamDns: readonly string[];
  /**
   * Where the sandboxes' DNS is forwarded (default upstreamDns). Never the host's loopback
   * resolver unless the operator says so: it would answer from the host's own names.
   */
  readonly forwardDns?: readonly string[];
  /** Where the listeners bind; the firewall only lets steered sandbox traffic reach them. */
  readonly host?: string;
  /** How long a client has to send its ClientHello or request head. */
  readonly readTimeoutMs?: number;
  /** Default MAX_PROXIED_PER_SANDBOX. */
  readonly maxPerSandbox?: number;
  /** The agent's own ports: a sandbox's egressProxy on a host address must not be one. */
  readonly reservedPorts?: readonly number[];
  /**
   * Extra certificates (PEM) the real servers of names with header rules are verified
   * against, beside the system's roots (WRENN_EGRESS_UPSTREAM_CA).
   */
  readonly upstreamCa?: readonly string[];
  readonly logger?: NetworkLogger;
}

/** What the proxy needs to know about the sandbox behind a source address. */
export interface ProxyClient {
  readonly sandboxId: string;
  readonly policy: NetworkPolicy;
}

export interface ProxyPorts {
  readonly http: number;
  readonly tls: number;
  /** UDP and TCP. */
  readonly dns: number;
  /** Any other allowed TCP of a sandbox with an egressProxy, tunneled to where it was going. */
  readonly tunnel: number;
}

/** The network manager's side: who a source address is, and what no sandbox may reach. */
export interface ProxyBinding {
  readonly client: (address: string) => ProxyClient | undefined;
  readonly denied: DeniedRanges;
}

type Kind = "http" | "tls";

/**
 * The per-agent egress proxy for domain rules (see network/README.md, "Domain rules"). The firewall
 * redirects a sandbox's TCP to ports 80 and 443 that no address rule lets out to `ports.http`
 * and `ports.tls`, and its DNS to `ports.dns`. For each connection it reads the HTTP Host or
 * the TLS SNI, checks the name against the sandbox's allowOut, resolves the name itself, refuses
 * the always-denied addresses, then connects to the name's address on the original port and
 * splices bytes both ways. TLS is not terminated, except for names with header rules
 * (network.rules): those go to the HeaderInjector, which terminates TLS with the sandbox's CA.
 */
export class EgressProxy {
  private binding: ProxyBinding | undefined;
  /** Every accepted connection of each sandbox, until it closes: what the cap counts. */
  private readonly clients: PerPeer<Socket>;
  /** The connections among them that were let through, with where they went. */
  private readonly flows = new PerPeer<OpenFlow>(Number.POSITIVE_INFINITY);
  private readonly resolver: Resolver;
  private readonly log: NetworkLogger;
  private readonly injector: HeaderInjector;
  private readonly socks: SocksTunnel;
  /** Each sandbox's CA for header rules, by guest address (dropped with the address). */
  private readonly cas = new Map<string, Promise<SandboxCa>>();

  private constructor(
    private readonly servers: { http: Server; tls: Server; tunnel: Server },
    private readonly dns: DnsForwarder,
    readonly ports: ProxyPorts,
    private readonly options: EgressProxyOptions,
  ) {
    this.log = options.logger ?? defaultLogger();
    this.clients = new PerPeer(options.maxPerSandbox ?? MAX_PROXIED_PER_SANDBOX);
    this.resolver = new Resolver({ timeout: 3000, tries: 2 });
    if (options.upstreamDns.length > 0) this.resolver.setServers([...options.upstreamDns]);
    this.injector = new HeaderInjector({
      upstreamCa: [...rootCertificates, ...(options.upstreamCa ?? [])],
      log: this.log,
    });
    servers.http.on("connection", (s) => this.accept(s, "http"));
    servers.tls.on("connection", (s) => this.accept(s, "tls"));
    this.socks = new SocksTunnel({
      log: this.log,
      clients: this.clients,
      flows: this.flows,
      steered: (peer) => this.clientSteered(peer),
      denied: () => this.binding!.denied,
      ownPorts: () => ({
        tunnel: ports.tunnel,
        all: [...(options.reservedPorts ?? []), ...Object.values(ports)],
      }),
    });
    servers.tunnel.on("connection", (s) => void this.socks.accept(s));
  }

  static async start(options: EgressProxyOptions): Promise<EgressProxy> {
    const host = options.host ?? "0.0.0.0";
    const listen = async (s: Server, port = 0) => {
      s.listen(port, host);
      await once(s, "listening");
      const addr = s.address();
      return typeof addr === "object" && addr ? addr.port : 0;
    };
    const http = createServer();
    const tls = createServer();
    const tunnel = createServer();
    const [httpPort, tlsPort, tunnelPort] = [
      await listen(http),
      await listen(tls),
      await listen(tunnel),
    ];
    // DNS needs one port number for UDP and TCP (one redirect target for both).
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer();
      const dnsPort = await listen(tcp);
      const udp: UdpSocket = createSocket("udp4");
      try {
        udp.bind(dnsPort, host);
        await once(udp, "listening");
      } catch (err) {
        udp.close();
        tcp.close();
        if (attempt >= 5) throw err;
        continue;
      }
      let self: EgressProxy | undefined;
      const dns = new DnsForwarder(udp, tcp, {
        upstream: options.forwardDns ?? options.upstreamDns,
        allowed: (peer) => self?.clientWithDomains(peer) !== undefined,
      });
      self = new EgressProxy(
        { http, tls, tunnel },
        dns,
        { http: httpPort, tls: tlsPort, dns: dnsPort, tunnel: tunnelPort },
        options,
      );
      return self;
    }
  }

  /** Called once by the network manager that steers traffic here. */
  bind(binding: ProxyBinding): void {
    if (this.binding) throw new Error("the egress proxy already serves a network manager");
    this.binding = binding;
  }

  private clientWithDomains(address: string): ProxyClient | undefined {
    const c = this.binding?.client(address);
    return c && hasDomainRules(c.policy) ? c : undefined;
  }

  /** A sandbox whose traffic the firewall steers here (domain rules or an egressProxy). */
  private clientSteered(address: string): ProxyClient | undefined {
    const c = this.binding?.client(address);
    return c && isSteered(c.policy) ? c : undefined;
  }

  /**
   * After a policy change: closes the sandbox's proxied connections the new policy no longer
   * allows (by name, or by the address they went to). Returns how many were cut.
   */
  cut(guestIp: string, policy: NetworkPolicy): number {
    let n = 0;
    for (const f of this.flows.of(guestIp)) {
      const allowed = egressAllowsHost(policy, f.name) || egressAllows(policy, f.address);
      // A flow tunneled through another proxy (or none, or one going direct when a proxy is
      // now asked for) is cut too: the sandbox reconnects the way the new policy says.
      if (allowed && f.via === policy.egressProxy?.address) continue;
      for (const s of f.sockets) s.resetAndDestroy();
      n++;
    }
    return n;
  }

  /**
   * The CA (PEM) the sandbox at this address must trust for its header rules' HTTPS: made on
   * first call, kept in memory until the address is forgotten (a new sandbox id there gets a
   * new CA).
   */
  async sandboxCa(guestIp: string, sandboxId: string): Promise<string> {
    return (await this.caOf(guestIp, sandboxId)).certPem;
  }

  private caOf(guestIp: string, sandboxId: string): Promise<SandboxCa> {
    const held = this.cas.get(guestIp);
    if (held) {
      return held.then((ca) => {
        if (ca.sandboxId === sandboxId) return ca;
        this.cas.delete(guestIp);
        return this.caOf(guestIp, sandboxId);
      });
    }
    const made = SandboxCa.create(sandboxId);
    made.catch(() => this.cas.delete(guestIp));
    this.cas.set(guestIp, made);
    return made;
  }

  /** Open proxied connections, for tests and metrics. */
  openFlows(guestIp: string): number {
    return this.flows.of(guestIp).size;
  }

  /**
   * At teardown, before the address is released: closes every connection of the sandbox
   * (waiting or open, both ends) and its DNS, so nothing of it lives on to be taken for the
   * next sandbox given the address.
   */
  forget(guestIp: string): void {
    for (const c of this.clients.take(guestIp)) c.destroy();
    for (const f of this.flows.take(guestIp)) for (const s of f.sockets) s.destroy();
    this.dns.forget(guestIp);
    this.cas.delete(guestIp);
  }

  async close(): Promise<void> {
    for (const c of this.clients.all()) c.destroy();
    for (const f of this.flows.all()) for (const s of f.sockets) s.destroy();
    this.dns.close();
    await Promise.all(
      [this.servers.http, this.servers.tls, this.servers.tunnel].map(
        (s) => new Promise<void>((r) => s.close(() => r())),
      ),
    );
  }

  private accept(client: Socket, kind: Kind): void {
    client.on("error", () => {});
    const peer = client.remoteAddress ?? "";
    const who = this.clientSteered(peer);
    if (!who) {
      // Not a steered sandbox: nothing the firewall would have sent here.
      client.destroy();
      return;
    }
    const port = kind === "tls" ? 443 : 80;
    const ctx = { sandboxId: who.sandboxId, port };
    if (!this.clients.add(peer, client)) {
      this.log.info({ ...ctx, why: "too many connections" }, "egress refused");
      client.resetAndDestroy();
      return;
    }
    client.on("close", () => this.clients.delete(peer, client));
    const first = new FirstBytes(kind);
    const timer = setTimeout(
      () => this.refuse(client, kind, { ...ctx, why: "nothing readable in time" }),
      this.options.readTimeoutMs ?? 10_000,
    );
    const onData = (chunk: Buffer) => {
      const v = first.push(chunk);
      if (v.kind === "more") return;
      client.off("data", onData);
      client.pause();
      clearTimeout(timer);
      if (v.kind === "refuse") this.refuse(client, kind, { ...ctx, why: v.why });
      else void this.forward(client, kind, peer, v.name, v.head);
    };
    client.on("data", onData);
    client.on("close", () => clearTimeout(timer));
  }

  private async forward(client: Socket, kind: Kind, peer: string, name: string, head: Buffer) {
    const port = kind === "tls" ? 443 : 80;
    // The policy now, not at accept: an update in between applies.
    const who = this.clientSteered(peer);
    const ctx = { sandboxId: who?.sandboxId, port, name: name.slice(0, 255) };
    if (!who || !egressAllowsHost(who.policy, name)) {
      this.refuse(client, kind, { ...ctx, why: "name not allowed" });
      return;
    }
    if (who.policy.egressProxy) {
      // Remote DNS: the SOCKS proxy is asked for the name, as the sandbox asked for it. A name
      // with header rules is intercepted too, its requests sent on through the same proxy.
      if (egressRuleHeadersFor(who.policy.rules, name)) {
        await this.intercept(client, kind, peer, who, name, "", head);
      } else {
        await this.socks.through(client, peer, who.policy, { name, address: "", port }, head, ctx);
      }
      return;
    }
    let addresses: string[];
    try {
      addresses = await this.resolver.resolve4(name);
    } catch (err) {
      this.refuse(client, kind, {
        ...ctx,
        why: `cannot resolve (${(err as NodeJS.ErrnoException).code})`,
      });
      return;
    }
    const denied = this.binding!.denied;
    const usable = addresses.filter((a) => deniedDestination(denied, a) === undefined);
    if (usable.length === 0) {
      const reasons = addresses.map((a) => `${a}: ${deniedDestination(denied, a)}`);
      this.refuse(client, kind, { ...ctx, why: `resolves only to denied addresses`, reasons });
      return;
    }
    if (client.destroyed) return;
    const address = usable[0]!;
    if (egressRuleHeadersFor(who.policy.rules, name)) {
      await this.intercept(client, kind, peer, who, name, address, head);
      return;
    }
    const upstream = connect({ host: address, port });
    const flow: OpenFlow = { name, address, via: undefined, sockets: [client, upstream] };
    let connected = false;
    upstream.on("error", (err) => {
      if (!connected) {
        this.log.info(
          { ...ctx, address, err: (err as NodeJS.ErrnoException).code },
          "egress upstream failed",
        );
      }
      client.resetAndDestroy();
    });
    splice(this.flows, peer, flow);
    upstream.once("connect", () => {
      connected = true;
      this.log.debug({ ...ctx, address }, "egress allowed");
      startFlow(flow, head);
    });
  }

  /**
   * A name with header rules: the connection is handed to the header injector (TLS terminated
   * with the sandbox's CA) rather than spliced. The rules are read again per request.
   */
  private async intercept(
    client: Socket,
    kind: Kind,
    peer: string,
    who: ProxyClient,
    name: string,
    address: string,
    head: Buffer,
  ): Promise<void> {
    // With an egressProxy the injector's requests go out through it, never direct (address
    // is then "": the proxy resolves the name).
    const proxy = who.policy.egressProxy;
    const port = kind === "tls" ? 443 : 80;
    const flow: OpenFlow = { name, address, via: proxy?.address, sockets: [client] };
    this.flows.add(peer, flow);
    client.on("close", () => this.flows.delete(peer, flow));
    try {
      const ca = kind === "tls" ? await this.caOf(peer, who.sandboxId) : undefined;
      await this.injector.intercept(
        client,
        head,
        {
          kind,
          sandboxId: who.sandboxId,
          name,
          address,
          ...(proxy ? { dial: () => this.socks.open(proxy, { name, address: "", port }) } : {}),
          headers: () => {
            const now = this.clientSteered(peer);
            return now?.sandboxId === who.sandboxId
              ? egressRuleHeadersFor(now.policy.rules, name)
              : undefined;
          },
        },
        ca,
      );
      client.resume();
    } catch (err) {
      this.log.warn({ sandboxId: who.sandboxId, name, err }, "egress interception failed");
      client.destroy();
    }
  }

  /** Ends a refused connection in the protocol's own terms, and says why in the log. */
  private refuse(client: Socket, kind: Kind, fields: Record<string, unknown>): void {
    this.log.info(fields, "egress refused");
    if (client.destroyed) return;
    if (kind === "tls") {
      client.end(TLS_ACCESS_DENIED);
    } else {
      client.end(forbiddenResponse(`Wrenn egress: ${String(fields.why)}`));
    }
    // Whatever the client still sends is not waited for.
    setTimeout(() => client.destroy(), 2000).unref();
  }
}
