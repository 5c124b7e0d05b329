import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { EgressHeaderRules } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordStore } from "../sandboxes/record-store.js";
import type { EgressProxy } from "./egress/egress-proxy.js";
import {
  closeStandIn,
  curlIn,
  headerEchoServerIn,
  leaseStandIn,
  type ProxiedNetwork,
  proxiedNetwork,
  standInAddresses,
} from "./egress-test-kit.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  createFakeInternet,
  dnsServerIn,
  type FakeInternet,
  type Listener,
  sandboxId,
  type TestNetwork,
} from "./network-test-kit.js";

// Header rules (network.rules) in the egress proxy, against a fake internet this file creates
// (198.18.<subnet>.0/30 and two /32s behind it; the subnet and every name leased for this run): its own name server, and an HTTP/HTTPS server whose
// certificate is signed by a CA made here (the proxy trusts it as the operator's upstream CA).
// The server answers with what it saw: the Host and the X-Api-Key header. Nothing leaves the host.

const run = promisify(execFile);
const STAND = leaseStandIn("h");
const SUBNET = STAND.subnet;
const { dns: DNS, first: SERVER, second: DENIED, nowhere: NOWHERE } = standInAddresses(SUBNET);
/** What the control plane would have filled in for ${e2b.secrets.API_KEY}. */
const SECRET = "sk-wrenn-test-4f9c2a7be1d3";
const SECRET_2 = "sk-wrenn-rotated-88d0c1aa";

let net: ProxiedNetwork;
let t: TestNetwork;
let proxy: EgressProxy;
let inet: FakeInternet;
let dir: string;
const servers: Listener[] = [];

const rules = (value: string): EgressHeaderRules => ({
  "api.test": [{ transform: { headers: { "X-Api-Key": value } } }],
  "*.svc.test": [{ transform: { headers: { "X-Api-Key": `wild ${value}` } } }],
  // A rule for a name allowOut does not list: it must not open it.
  "denied.test": [{ transform: { headers: { "X-Api-Key": value } } }],
  // Served by a certificate that does not name it: the proxy must not send it the header.
  "impostor.test": [{ transform: { headers: { "X-Api-Key": value } } }],
});
const ALLOW_OUT = ["api.test", "*.svc.test", "plain.test", "impostor.test"];

/** curl from inside the sandbox, trusting only `ca`. */
const curl = (sb: SandboxNetwork, ca: string, ...args: string[]) =>
  curlIn(sb, "--cacert", ca, ...args);

const sandbox = (n: number, policy: Parameters<TestNetwork["manager"]["setup"]>[1]) =>
  net.sandbox(n, policy);

/** The sandbox's CA, as the agent would install it in the sandbox's trust store. */
async function sandboxCaFile(sb: SandboxNetwork, n: number): Promise<string> {
  const file = join(dir, `sandbox-ca-${n}.pem`);
  await writeFile(file, await proxy.sandboxCa(sb.guestIp, sandboxId(n)));
  return file;
}

/** Every file under a directory, read whole (the agent's state is small). */
async function allFileText(root: string): Promise<string> {
  let text = "";
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) text += await readFile(join(e.parentPath, e.name), "latin1");
  }
  return text;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "wrenn-egress-rules-"));
  const f = (n: string) => join(dir, n);
  // A test-local CA and a server certificate it signs for every name the server answers.
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-days", "1", "-subj", "/CN=Wrenn test upstream CA"],
    ...["-keyout", f("upstream-ca.key"), "-out", f("upstream-ca.pem")],
  ]);
  await run("openssl", [
    ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-subj", "/CN=api.test", "-keyout", f("server.key"), "-out", f("server.csr")],
  ]);
  await writeFile(
    f("ext.cnf"),
    "subjectAltName=DNS:api.test,DNS:*.svc.test,DNS:plain.test,DNS:denied.test\n",
  );
  await run("openssl", [
    ...["x509", "-req", "-in", f("server.csr"), "-CA", f("upstream-ca.pem")],
    ...["-CAkey", f("upstream-ca.key"), "-CAcreateserial", "-days", "1"],
    ...["-extfile", f("ext.cnf"), "-out", f("server.pem")],
  ]);
  inet = await createFakeInternet(STAND.inetName, SUBNET);
  const server = { cert: f("server.pem"), key: f("server.key") };
  servers.push(
    await dnsServerIn(inet.netns, DNS, {
      "api.test": SERVER,
      "*.svc.test": SERVER,
      "plain.test": SERVER,
      "denied.test": DENIED,
      "impostor.test": SERVER,
    }),
    await headerEchoServerIn(inet.netns, SERVER, server),
    await headerEchoServerIn(inet.netns, DENIED, server),
  );
  net = await proxiedNetwork({
    tag: STAND.tag,
    pool: STAND.pool,
    nameserver: NOWHERE,
    proxy: { upstreamDns: [DNS], upstreamCa: [await readFile(f("upstream-ca.pem"), "utf8")] },
  });
  ({ t, proxy } = net);
});

afterAll(() => closeStandIn({ net, servers, inet, dir, release: STAND.release }));

describe("header rules (network.rules) in the egress proxy", () => {
  let sb: SandboxNetwork;
  let ca: string;
  const upstreamCa = () => join(dir, "upstream-ca.pem");
  beforeAll(async () => {
    sb = await sandbox(0x80, { allowInternet: false, allowOut: ALLOW_OUT, rules: rules(SECRET) });
    ca = await sandboxCaFile(sb, 0x80);
  });

  it("HTTPS to a name with a rule: TLS ends at the sandbox's CA, the server gets the header", async () => {
    expect(await curl(sb, ca, "https://api.test/")).toEqual({
      code: 0,
      out: `seen api.test key=${SECRET}`,
    });
    // A header of the same name sent by the sandbox is replaced, not doubled.
    expect(await curl(sb, ca, "-H", "X-Api-Key: from-sandbox", "https://api.test/")).toEqual({
      code: 0,
      out: `seen api.test key=${SECRET}`,
    });
    // The wildcard rule, for a name below it.
    expect(await curl(sb, ca, "https://a.svc.test/")).toEqual({
      code: 0,
      out: `seen a.svc.test key=wild ${SECRET}`,
    });
    // The certificate the sandbox sees is not the real server's: only the sandbox CA verifies.
    expect((await curl(sb, upstreamCa(), "https://api.test/")).code).not.toBe(0);
  });

  it("every request of a kept-alive connection gets the header; h2 is answered with HTTP/1.1", async () => {
    const r = await curl(
      sb,
      ca,
      ...["--http2", "-w", "|%{http_version} %{num_connects}\\n"],
      ...["https://api.test/one", "https://api.test/two"],
    );
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    // One connection for both requests (the second reports 0 new connections).
    expect(lines).toEqual([
      `seen api.test key=${SECRET}`,
      "|1.1 1",
      `seen api.test key=${SECRET}`,
      "|1.1 0",
    ]);
  });

  it("plain HTTP to a name with a rule gets the header too", async () => {
    expect(await curl(sb, ca, "http://api.test/")).toEqual({
      code: 0,
      out: `seen api.test key=${SECRET}`,
    });
  });

  it("a request for another host on the connection of a name with rules is refused", async () => {
    const r = await curl(sb, ca, "-i", "-H", "Host: plain.test", "https://api.test/");
    expect(r.out).toMatch(/^HTTP\/1\.1 421/);
    expect(r.out).not.toContain(SECRET);
  });

  it("a server whose certificate does not verify for the name gets nothing: 502", async () => {
    const r = await curl(sb, ca, "-i", "https://impostor.test/");
    expect(r.out).toMatch(/^HTTP\/1\.1 502/);
    expect(r.out).toMatch(/impostor\.test failed/);
    expect(r.out).not.toContain("seen");
  });

  it("a name without rules is passed through: real certificate, no header", async () => {
    expect(await curl(sb, upstreamCa(), "https://plain.test/")).toEqual({
      code: 0,
      out: "seen plain.test key=-",
    });
    // The sandbox CA never signs for it.
    expect((await curl(sb, ca, "https://plain.test/")).code).not.toBe(0);
    expect(await curl(sb, ca, "http://plain.test/")).toEqual({
      code: 0,
      out: "seen plain.test key=-",
    });
  });

  it("a rule alone does not allow a name allowOut leaves out", async () => {
    const http = await curl(sb, ca, "-i", "http://denied.test/");
    expect(http.out).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    const https = await curl(sb, ca, "https://denied.test/");
    expect(https.code).not.toBe(0);
    expect(https.out).not.toContain("seen");
  });

  it("the resolved value is never written to the agent's disk", async () => {
    expect(await allFileText(t.options.stateDir)).not.toContain("sk-wrenn");
    // The sandbox record (what adoption reads after a restart) leaves the rules out.
    const store = new RecordStore(join(dir, "records"));
    const network = {
      allowInternet: false,
      allowOut: ALLOW_OUT,
      denyOut: [],
      rules: rules(SECRET),
    };
    await store.save({
      runtimeId: "wr-0000abcd",
      phase: "running",
      template: { name: "base", version: "1", rootfs: "/nonexistent" },
      resources: { vcpus: 1, memoryMb: 256, diskMb: 512 },
      network,
      metadata: {},
      envdVersion: "0.0.0",
      bootPath: "cold_boot",
      createdAt: new Date().toISOString(),
      stateChangedAt: new Date().toISOString(),
    });
    const saved = await allFileText(join(dir, "records"));
    expect(saved).toContain("api.test");
    expect(saved).not.toContain(SECRET);
    expect(saved).not.toContain("X-Api-Key");
  });

  it("a policy update with a new value applies to the next connection", async () => {
    await t.manager.setPolicy(sandboxId(0x80), {
      allowInternet: false,
      allowOut: ALLOW_OUT,
      rules: rules(SECRET_2),
    });
    expect(await curl(sb, ca, "https://api.test/")).toEqual({
      code: 0,
      out: `seen api.test key=${SECRET_2}`,
    });
    // Rules removed: the name is passed through again (the real certificate).
    await t.manager.setPolicy(sandboxId(0x80), { allowInternet: false, allowOut: ALLOW_OUT });
    expect(await curl(sb, upstreamCa(), "https://api.test/")).toEqual({
      code: 0,
      out: "seen api.test key=-",
    });
  });

  it("each sandbox has its own CA: another sandbox's does not verify", async () => {
    const other = await sandbox(0x81, {
      allowInternet: false,
      allowOut: ALLOW_OUT,
      rules: rules(SECRET),
    });
    const otherCa = await sandboxCaFile(other, 0x81);
    expect(await readFile(otherCa, "utf8")).not.toEqual(await readFile(ca, "utf8"));
    expect(await curl(other, otherCa, "https://api.test/")).toMatchObject({ code: 0 });
    expect((await curl(other, ca, "https://api.test/")).code).not.toBe(0);
  });
});
