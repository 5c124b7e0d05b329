import { mkdtempSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCertificate } from "../network/egress-test-kit.js";
import { agentConfigFromEnv } from "./agent-config.js";

/** A host whose /etc/resolv.conf names systemd-resolved, with its upstream list beside it. */
const RESOLVED_HOST: Record<string, string> = {
  "/etc/resolv.conf": "nameserver 127.0.0.53\noptions edns0\n",
  "/run/systemd/resolve/resolv.conf": "nameserver 192.0.2.10\nnameserver 192.0.2.11\n",
};

function read(file: string): string {
  const text = RESOLVED_HOST[file];
  if (text === undefined) throw new Error(`ENOENT: ${file}`);
  return text;
}

describe("the egress proxy's name servers", () => {
  it("the sandboxes' forwarded DNS never goes to the host's loopback resolver; the proxy's own may", () => {
    const c = agentConfigFromEnv({}, read);
    expect(c.egressForwardDns).toEqual(["192.0.2.10", "192.0.2.11"]);
    expect(c.sandboxDns).toEqual(["192.0.2.10", "192.0.2.11"]);
    expect(c.egressDns).toEqual(["127.0.0.53"]);
  });

  it("WRENN_EGRESS_DNS wins for both, loopback or not", () => {
    const c = agentConfigFromEnv({ WRENN_EGRESS_DNS: "127.0.0.1, 192.0.2.20" }, read);
    expect(c.egressForwardDns).toEqual(["127.0.0.1", "192.0.2.20"]);
    expect(c.egressDns).toEqual(["127.0.0.1", "192.0.2.20"]);
  });
});

describe("the layer cache's retention", () => {
  it("keeps unused layers a day within 10 GiB by default; the operator sets both; 0 s keeps none", () => {
    expect(agentConfigFromEnv({}, read).layerRetention).toEqual({
      graceMs: 86_400_000,
      maxBytes: 10 * 1024 ** 3,
    });
    const c = agentConfigFromEnv(
      { WRENN_LAYER_CACHE_GRACE_S: "0", WRENN_LAYER_CACHE_MAX_MB: "512" },
      read,
    );
    expect(c.layerRetention).toEqual({ graceMs: 0, maxBytes: 512 * 1024 ** 2 });
  });

  it("refuses a value that is not a whole number of seconds or MiB", () => {
    for (const env of [{ WRENN_LAYER_CACHE_GRACE_S: "1h" }, { WRENN_LAYER_CACHE_MAX_MB: "-1" }]) {
      expect(() => agentConfigFromEnv(env, read)).toThrow(/WRENN_LAYER_CACHE_/);
    }
  });
});

describe("TLS for the agent's port", () => {
  const env = { WRENN_DATA_DIR: "/nonexistent/wrenn" };
  const dir = mkdtempSync(join(tmpdir(), "wrenn-agent-tls-config-"));
  const a = { cert: "", key: "" };
  const b = { cert: "", key: "" };
  beforeAll(async () => {
    for (const [name, pair] of [
      ["a", a],
      ["b", b],
    ] as const) {
      await mkdir(join(dir, name));
      Object.assign(pair, await testCertificate(join(dir, name), [`${name}.test`]));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the pair, and a registered agent advertises https", () => {
    const config = agentConfigFromEnv({
      ...env,
      WRENN_AGENT_TLS_CERT: a.cert,
      WRENN_AGENT_TLS_KEY: a.key,
      WRENN_CONTROL_PLANE_URL: "http://127.0.0.1:3000",
      WRENN_REGISTRATION_TOKEN: "wrht_x",
      WRENN_AGENT_LISTEN: "10.0.0.5:7070",
    });
    expect(config.tls?.cert).toContain("BEGIN CERTIFICATE");
    expect(config.registration?.advertiseUrl).toBe("https://10.0.0.5:7070");
  });

  it("refuses one without the other, an unreadable file, and a key of another certificate", () => {
    expect(() => agentConfigFromEnv({ ...env, WRENN_AGENT_TLS_CERT: a.cert })).toThrow(
      /both WRENN_AGENT_TLS_CERT and WRENN_AGENT_TLS_KEY, or neither/,
    );
    expect(() =>
      agentConfigFromEnv({
        ...env,
        WRENN_AGENT_TLS_CERT: join(dir, "nope"),
        WRENN_AGENT_TLS_KEY: a.key,
      }),
    ).toThrow(/WRENN_AGENT_TLS_CERT: cannot read/);
    expect(() =>
      agentConfigFromEnv({ ...env, WRENN_AGENT_TLS_CERT: a.cert, WRENN_AGENT_TLS_KEY: b.key }),
    ).toThrow(/do not make a certificate and its key/);
  });
});

describe("the control plane's URL", () => {
  const env = { WRENN_DATA_DIR: "/nonexistent/wrenn", WRENN_REGISTRATION_TOKEN: "wrht_x" };
  const dir = mkdtempSync(join(tmpdir(), "wrenn-agent-cp-ca-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const join_ = (url: string, extra: Record<string, string> = {}) =>
    agentConfigFromEnv({ ...env, WRENN_CONTROL_PLANE_URL: url, ...extra }, read).registration;

  it("plain http only on loopback; beyond it, https or a refusal that says how", () => {
    for (const url of ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"]) {
      expect(join_(url)?.controlPlaneUrl, url).toBe(url);
    }
    expect(join_("https://10.0.0.1:3000")?.controlPlaneUrl).toBe("https://10.0.0.1:3000");
    for (const url of ["http://10.0.0.1:3000", "http://cp.example", "http://127.0.0.1.example"]) {
      expect(() => join_(url), url).toThrow(
        /plain http to another machine.*WRENN_TLS_CERT.*https:\/\/.*WRENN_CONTROL_PLANE_CA/,
      );
    }
  });

  it("WRENN_CONTROL_PLANE_CA is read at start: a missing file or one without a certificate stops it", async () => {
    const { cert, key } = await testCertificate(dir, ["cp.test"]);
    const registration = join_("https://cp.test", { WRENN_CONTROL_PLANE_CA: cert });
    expect(registration?.controlPlaneCa).toContain("BEGIN CERTIFICATE");
    expect(join_("https://cp.test")?.controlPlaneCa).toBeUndefined();
    expect(() =>
      join_("https://cp.test", { WRENN_CONTROL_PLANE_CA: join(dir, "nope.pem") }),
    ).toThrow(/WRENN_CONTROL_PLANE_CA: cannot read/);
    expect(() => join_("https://cp.test", { WRENN_CONTROL_PLANE_CA: key })).toThrow(
      /WRENN_CONTROL_PLANE_CA: .* holds no PEM certificate/,
    );
  });
});
