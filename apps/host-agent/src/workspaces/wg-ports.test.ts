import { createPrivateKey, createPublicKey, diffieHellman } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentError } from "../sandboxes/errors.js";
import { isWireguardKey, wireguardKeyPair } from "./wg-keys.js";
import { parsePortRange, WireguardPorts } from "./wg-ports.js";

describe("WireGuard port allocator", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "wrenn-wg-ports-"));
    file = path.join(dir, "wireguard", "ports.json");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("gives each sandbox one port, the lowest free, and keeps it across a restart", async () => {
    const ports = new WireguardPorts(file, { first: 51820, last: 51822 });
    expect(await ports.claim("sb-00000001")).toBe(51820);
    expect(await ports.claim("sb-00000002")).toBe(51821);
    // Claimed again: the same port, never a second one.
    expect(await ports.claim("sb-00000001")).toBe(51820);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    // A new allocator on the same file (an agent restart) knows every assignment.
    const again = new WireguardPorts(file, { first: 51820, last: 51822 });
    expect(await again.portOf("sb-00000002")).toBe(51821);
    expect(await again.claim("sb-00000003")).toBe(51822);
    await again.release("sb-00000001");
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      "sb-00000002": 51821,
      "sb-00000003": 51822,
    });
    // The freed port is the next one given.
    expect(await again.claim("sb-00000004")).toBe(51820);
    await again.release("sb-ffffffff"); // not held: nothing to do
  });

  it("concurrent claims never share a port", async () => {
    const ports = new WireguardPorts(file, { first: 40000, last: 40009 });
    const ids = Array.from({ length: 10 }, (_, i) => `sb-${String(i).padStart(8, "0")}`);
    const got = await Promise.all(ids.map((id) => ports.claim(id)));
    expect(new Set(got).size).toBe(10);
  });

  it("a full range is a clear resource_exhausted error and changes nothing", async () => {
    const ports = new WireguardPorts(file, { first: 51900, last: 51900 });
    expect(await ports.claim("sb-00000001")).toBe(51900);
    const refused = await ports.claim("sb-00000002").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AgentError);
    expect(refused).toMatchObject({
      code: "resource_exhausted",
      contractCode: "workspace_ports_exhausted",
    });
    expect((refused as Error).message).toMatch(/51900-51900.*WRENN_WG_PORTS/);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ "sb-00000001": 51900 });
  });

  it("parses WRENN_WG_PORTS and says what is wrong", () => {
    expect(parsePortRange("X", "51820-51899")).toEqual({ first: 51820, last: 51899 });
    expect(parsePortRange("X", "4000")).toEqual({ first: 4000, last: 4000 });
    for (const bad of ["", "0-10", "10-5", "1-70000", "a-b", "1-2-3"]) {
      expect(() => parsePortRange("WRENN_WG_PORTS", bad)).toThrow(/WRENN_WG_PORTS must be/);
    }
  });
});

describe("WireGuard keys", () => {
  it("are base64 of 32 bytes, and the two halves agree (X25519)", () => {
    const a = wireguardKeyPair();
    const b = wireguardKeyPair();
    for (const k of [a.privateKey, a.publicKey, b.privateKey, b.publicKey]) {
      expect(isWireguardKey(k)).toBe(true);
    }
    expect(a.privateKey).not.toBe(b.privateKey);
    // Both ends derive one shared secret from their private and the other's public key.
    const priv = (k: string, pub: string) =>
      createPrivateKey({
        key: {
          kty: "OKP",
          crv: "X25519",
          d: Buffer.from(k, "base64").toString("base64url"),
          x: Buffer.from(pub, "base64").toString("base64url"),
        },
        format: "jwk",
      });
    const pub = (k: string) =>
      createPublicKey({
        key: { kty: "OKP", crv: "X25519", x: Buffer.from(k, "base64").toString("base64url") },
        format: "jwk",
      });
    const ab = diffieHellman({
      privateKey: priv(a.privateKey, a.publicKey),
      publicKey: pub(b.publicKey),
    });
    const ba = diffieHellman({
      privateKey: priv(b.privateKey, b.publicKey),
      publicKey: pub(a.publicKey),
    });
    expect(ab.equals(ba)).toBe(true);
    expect(isWireguardKey("not a key")).toBe(false);
    expect(isWireguardKey(Buffer.alloc(31).toString("base64"))).toBe(false);
  });
});
