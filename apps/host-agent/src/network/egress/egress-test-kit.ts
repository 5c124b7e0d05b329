import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { SandboxNetwork } from "../network-manager.js";
import { sandboxId, type TestNetwork } from "../network-test-kit.js";
import type { NetworkPolicyRequest } from "../policy.js";

/**
 * Test support for the egress proxy's files, not used by the agent: a certificate for the
 * stand-in internet's web servers, curl from inside a sandbox namespace, and sandboxes whose
 * resolv.conf (as `ip netns exec` shows it) names a chosen server.
 */

const run = promisify(execFile);

/** A self-signed certificate for `names` (the first is its CN): dir/cert.pem and dir/key.pem. */
export async function testCertificate(dir: string, names: readonly string[]) {
  const tls = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  await run("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${names[0]}`],
    ...["-addext", `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`],
    ...["-keyout", tls.key, "-out", tls.cert],
  ]);
  return tls;
}

/** curl from inside the sandbox, trusting `ca`: its exit code and what it printed. */
export async function curlIn(sb: SandboxNetwork, ca: string, ...args: string[]) {
  try {
    const { stdout } = await run("ip", [
      ...["netns", "exec", sb.netns, "curl", "-sS", "--max-time", "15"],
      ...["--cacert", ca, ...args],
    ]);
    return { code: 0, out: stdout.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() };
  }
}

/** Sandboxes set up with a resolv.conf naming `nameserver`; removeAll deletes those files. */
export function sandboxesWithResolver(t: TestNetwork, nameserver: string) {
  const confs: string[] = [];
  return {
    async setup(n: number, policy: NetworkPolicyRequest): Promise<SandboxNetwork> {
      const sb = await t.manager.setup(sandboxId(n), policy);
      const conf = `/etc/netns/${sb.netns}`;
      await mkdir(conf, { recursive: true });
      await writeFile(join(conf, "resolv.conf"), `nameserver ${nameserver}\noptions timeout:2\n`);
      confs.push(conf);
      return sb;
    },
    async removeAll(): Promise<void> {
      for (const conf of confs) await rm(conf, { recursive: true, force: true });
    },
  };
}

/** Removes what an egress test file made, in the order that frees each part's users first. */
export async function removeEgressTest(p: {
  t?: TestNetwork;
  proxy?: { close(): Promise<void> };
  servers: readonly { close(): Promise<void> }[];
  inet?: { remove(): Promise<void> };
  sandboxes?: { removeAll(): Promise<void> };
  dir?: string;
}): Promise<void> {
  await p.t?.cleanup();
  await p.proxy?.close();
  for (const s of p.servers) await s.close();
  await p.inet?.remove();
  await p.sandboxes?.removeAll();
  if (p.dir) await rm(p.dir, { recursive: true, force: true });
}
