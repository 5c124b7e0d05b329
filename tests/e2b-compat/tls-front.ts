// What a deployment puts in front of Wrenn for E2B SDK releases that only speak
// https://api.<domain> and https://<port>-<id>.<domain> (JS 1.x, 2.0-2.6): TLS for a wildcard
// name, and a resolver for it. Here both stay on loopback: a TLS server forwarding to the
// control plane, and an HTTP client (installed as fetch's dispatcher) that resolves only names
// under the test domain, to 127.0.0.1, and trusts only the test's own certificate.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici";
import { testCertificate } from "../../apps/host-agent/src/network/egress-test-kit.js";

export interface TlsFront {
  port: number;
  /** Points the front at the control plane (known once the stack is up). */
  target(url: string): void;
  /** Makes fetch resolve names under `name` to loopback and trust the front's certificate. */
  installClient(name: string): () => void;
  close(): Promise<void>;
}

export async function startTlsFront(name: string): Promise<TlsFront> {
  const dir = mkdtempSync(join(tmpdir(), "wrenn-tls-"));
  try {
    await testCertificate(dir, [name, `*.${name}`]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const key = readFileSync(join(dir, "key.pem"));
  const cert = readFileSync(join(dir, "cert.pem"));
  rmSync(dir, { recursive: true, force: true });

  let upstream: { host: string; port: number } | undefined;
  const open = new Set<net.Socket>();
  const server = tls.createServer({ key, cert, ALPNProtocols: ["http/1.1"] }, (socket) => {
    if (!upstream) return socket.destroy();
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    const back = net.connect(upstream.port, upstream.host);
    socket.pipe(back).pipe(socket);
    const end = () => {
      socket.destroy();
      back.destroy();
    };
    socket.on("error", end).on("close", end);
    back.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    target(url) {
      const u = new URL(url);
      upstream = { host: u.hostname, port: Number(u.port) };
    },
    installClient(domain) {
      const previous: Dispatcher = getGlobalDispatcher();
      const suffix = `.${domain}`;
      const agent = new Agent({
        connect: {
          ca: cert,
          // Only the test's names, only to loopback: nothing is ever looked up elsewhere.
          lookup: ((host: string, options: { all?: boolean }, callback: LookupCallback) => {
            if (host !== domain && !host.endsWith(suffix)) {
              callback(Object.assign(new Error(`not a test name: ${host}`), { code: "ENOTFOUND" }));
            } else if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
            else callback(null, "127.0.0.1", 4);
          }) as unknown as net.LookupFunction,
        },
      });
      setGlobalDispatcher(agent);
      return () => {
        setGlobalDispatcher(previous);
        void agent.close();
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}

type LookupCallback = (
  error: Error | null,
  address?: string | { address: string; family: number }[],
  family?: number,
) => void;
