import { generateKeyPairSync } from "node:crypto";

/** A WireGuard (Curve25519) key pair, each key base64 of its 32 raw bytes, as `wg` reads them. */
export interface WireguardKeyPair {
  privateKey: string;
  publicKey: string;
}

const base64 = (base64url: string | undefined): string => {
  if (!base64url) throw new Error("x25519 key export without key material");
  return Buffer.from(base64url, "base64url").toString("base64");
};

/** A new key pair from node's X25519 (the JWK export carries the raw scalar and point). */
export function wireguardKeyPair(): WireguardKeyPair {
  const { privateKey } = generateKeyPairSync("x25519");
  const jwk = privateKey.export({ format: "jwk" });
  return { privateKey: base64(jwk.d), publicKey: base64(jwk.x) };
}

/** What `wg` accepts as a key: base64 of exactly 32 bytes. */
export const isWireguardKey = (key: unknown): key is string =>
  typeof key === "string" &&
  /^[A-Za-z0-9+/]{43}=$/.test(key) &&
  Buffer.from(key, "base64").length === 32;
