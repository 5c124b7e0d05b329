// SSH public keys registered with Wrenn (issue 15): what a key line may be, the REST shapes of
// /v1/ssh-keys, and the SSH tunnel's limits. The control plane, the SDK and the CLI read them.
import { type Static, Type } from "typebox";
import { ContractError } from "./errors/error-codes.js";
import { DateTime } from "./schemas/shared.js";
import { textProblem } from "./validators/text.js";

export const SSH_LIMITS = {
  /** A whole `type base64 comment` line; an RSA-16384 key is about 2.8 KB. */
  keyLineLength: 8192,
  commentLength: 256,
  nameLength: 64,
  keysPerOwner: 100,
  rsaMinBits: 2048,
  /** SSH tunnels one owner may hold open at once. */
  tunnelsPerOwner: 16,
  /** A tunnel that carries no byte either way for this long is closed. */
  tunnelIdleSeconds: 3600,
  /** How long opening a tunnel waits for envd's (and the agent's) answer to the upgrade. */
  relayAnswerSeconds: 30,
  /** The most of a refusal's body a relay reads; a longer one is cut and answered 502. */
  relayRefusalBytes: 64 * 1024,
} as const;

/** The user an SSH session logs in as (the sandbox's default user). */
export const SSH_USER = "user";
/** Where sshd listens inside a workspace: its loopback only. */
export const SSH_PORT = 22;
/** `wrenn ssh` names a workspace's host key (and ~/.ssh/config's Host) NAME + this. */
export const SSH_HOST_SUFFIX = ".wrenn";
/**
 * A workspace's SSH host key as Wrenn pins it: the ed25519 public key its sshd presents (type and
 * base64, no comment). The control plane reads it from the workspace and the CLI writes it to a
 * known_hosts file: both check it against this, so nothing else (a newline, a second entry)
 * reaches that file.
 */
export const SSH_HOST_KEY_PATTERN = "^ssh-ed25519 [A-Za-z0-9+/]{68}$";
export const isSshHostKey = (value: unknown): value is string =>
  typeof value === "string" && new RegExp(SSH_HOST_KEY_PATTERN).test(value);
/**
 * On the 101 answer of GET /v1/workspaces/{name}/ssh: the host key the workspace's sshd presents
 * on this connection, read from its disk as the tunnel opened. The ProxyCommand pins it before it
 * relays a byte, so a key changed inside the workspace is held to from that very connection.
 */
export const SSH_HOST_KEY_HEADER = "x-wrenn-ssh-host-key";

export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** The uncompressed point length of each ECDSA curve (0x04 || X || Y). */
const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

export interface ParsedSshKey {
  type: SshKeyType;
  /** The decoded key blob (what the SHA256 fingerprint is taken of). */
  blob: Uint8Array;
  /** `type base64`, without the comment: what is compared for duplicates. */
  canonical: string;
  comment: string;
  bits: number;
}

/** Control characters (C0 and DEL): never in a key's comment or name, shown in terminals. */
const hasControl = (text: string) =>
  [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const bad = (why: string) => new ContractError("invalid_ssh_key", `invalid SSH public key: ${why}`);

/** Reads SSH wire strings (uint32 length + bytes) off a key blob. */
class WireReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  next(): Uint8Array {
    if (this.at + 4 > this.bytes.length) throw bad("the key data is truncated");
    const b = this.bytes;
    const n = ((b[this.at] ?? 0) << 24) | ((b[this.at + 1] ?? 0) << 16);
    const length = (n | ((b[this.at + 2] ?? 0) << 8) | (b[this.at + 3] ?? 0)) >>> 0;
    this.at += 4;
    if (this.at + length > b.length) throw bad("the key data is truncated");
    const out = b.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  text(): string {
    return String.fromCharCode(...this.next());
  }

  end(): void {
    if (this.at !== this.bytes.length) throw bad("the key data has trailing bytes");
  }
}

/** Bits of an SSH mpint (big-endian, a leading zero byte when the top bit is set). */
function mpintBits(m: Uint8Array): number {
  let i = 0;
  while (i < m.length && m[i] === 0) i++;
  if (i === m.length) return 0;
  return (m.length - i - 1) * 8 + (32 - Math.clz32(m[i] ?? 0));
}

function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw bad("the key data is not base64");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Checks an OpenSSH public key line (`ssh-ed25519 AAAA… comment`, as in id_ed25519.pub):
 * a type Wrenn accepts, a blob that really is a key of that type (RSA of at least 2048 bits),
 * a bounded length and a printable one-line comment. Options (authorized_keys' `from=…`) and
 * private keys are refused.
 */
export function parseSshPublicKey(line: unknown): ParsedSshKey {
  if (typeof line !== "string") throw bad("publicKey must be a string");
  const trimmed = line.trim();
  if (trimmed.length === 0) throw bad("publicKey is empty");
  if (trimmed.length > SSH_LIMITS.keyLineLength) {
    throw bad(`the line is longer than ${SSH_LIMITS.keyLineLength} characters`);
  }
  if (trimmed.includes("PRIVATE KEY")) {
    throw bad("this is a private key; register the .pub file next to it");
  }
  if (/[\r\n]/.test(trimmed)) throw bad("give one key, on one line");
  const [type = "", data = "", ...rest] = trimmed.split(/[ \t]+/);
  const comment = rest.join(" ");
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    throw bad(
      `key type ${JSON.stringify(type.slice(0, 40))} is not one of ${SSH_KEY_TYPES.join(", ")}`,
    );
  }
  if (!data) throw bad("the key data is missing");
  if (comment.length > SSH_LIMITS.commentLength || hasControl(comment) || textProblem(comment)) {
    throw bad(`the comment must be printable and at most ${SSH_LIMITS.commentLength} characters`);
  }
  const blob = decodeBase64(data);
  const wire = new WireReader(blob);
  if (wire.text() !== type) throw bad(`the key data is not a ${type} key`);
  let bits: number;
  if (type === "ssh-ed25519") {
    if (wire.next().length !== 32) throw bad("an ed25519 key is 32 bytes");
    bits = 256;
  } else if (type === "ssh-rsa") {
    const e = wire.next();
    bits = mpintBits(wire.next());
    if (mpintBits(e) < 2) throw bad("the RSA exponent is invalid");
    if (bits < SSH_LIMITS.rsaMinBits) {
      throw bad(
        `an RSA key must have at least ${SSH_LIMITS.rsaMinBits} bits (this one has ${bits})`,
      );
    }
  } else {
    const curve = type.slice("ecdsa-sha2-".length);
    if (wire.text() !== curve) throw bad(`the key data is not on curve ${curve}`);
    const point = wire.next();
    if (point.length !== ECDSA_POINT_BYTES[curve] || point[0] !== 4) {
      throw bad(`the ${curve} point is malformed`);
    }
    bits = Number(curve.slice("nistp".length));
  }
  wire.end();
  return { type: type as SshKeyType, blob, canonical: `${type} ${data}`, comment, bits };
}

/** A key's name: given, else its comment, else its type. */
export function checkSshKeyName(name: unknown, key: ParsedSshKey): string {
  if (name === undefined || name === null || name === "") {
    return (key.comment || key.type).slice(0, SSH_LIMITS.nameLength);
  }
  if (
    typeof name !== "string" ||
    name.length > SSH_LIMITS.nameLength ||
    hasControl(name) ||
    textProblem(name) !== undefined
  ) {
    throw new ContractError(
      "invalid_request",
      `name must be printable text of at most ${SSH_LIMITS.nameLength} characters`,
    );
  }
  return name;
}

// ---- REST (/v1/ssh-keys)

/**
 * 64 random bits (16 hex digits). Ids made before that had 32 (8 digits): still accepted, so
 * those keys can be removed.
 */
export const SSH_KEY_ID_PATTERN = "^key-[0-9a-f]{8}([0-9a-f]{8})?$";

export const CreateSshKeyBody = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: SSH_LIMITS.nameLength })),
    publicKey: Type.String({
      maxLength: SSH_LIMITS.keyLineLength + 2,
      description: "an OpenSSH public key line (the contents of ~/.ssh/id_ed25519.pub)",
    }),
  },
  {
    additionalProperties: false,
    examples: [{ name: "laptop", publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… me@laptop" }],
  },
);
export type CreateSshKeyBody = Static<typeof CreateSshKeyBody>;

export const SshKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.Enum([...SSH_KEY_TYPES]),
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  fingerprint: Type.String(),
  publicKey: Type.String(),
  createdAt: DateTime,
});
export type SshKey = Static<typeof SshKey>;

export const SshKeyList = Type.Object({ keys: Type.Array(SshKey) });
export type SshKeyList = Static<typeof SshKeyList>;

export const SshKeyIdParams = Type.Object({ id: Type.String({ pattern: SSH_KEY_ID_PATTERN }) });
