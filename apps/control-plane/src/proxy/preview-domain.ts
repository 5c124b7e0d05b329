/**
 * The domain sandbox ports are reached under, as `<port>-<sandboxId>.<domain>`: E2B responses
 * name it, so the SDK's getHost(port) builds a URL for this server, and the proxy routes by it.
 * WRENN_DOMAIN when set (wildcard DNS to the control plane is then the operator's job);
 * otherwise `localhost:<port>`, which needs no DNS at all on the machine running Wrenn: curl and
 * browsers resolve every `*.localhost` name to loopback themselves (RFC 6761). Node's resolver
 * (glibc getaddrinfo) does not, so code in Node sends the request to 127.0.0.1 with that Host.
 */
export class PreviewDomain {
  private loopback: string | undefined;

  constructor(private readonly configured?: string) {}

  /** The server listens: the loopback name needs its real port (port 0 picks one). */
  listeningOn(port: number): void {
    this.loopback = `localhost:${port}`;
  }

  get name(): string | undefined {
    return this.configured ?? this.loopback;
  }
}
