import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { ContractError } from "./errors/error-codes.js";
import { checkSshKeyName, parseSshPublicKey, SSH_LIMITS } from "./ssh-keys.js";
import { OPENSSH_KEYS } from "./testing/openssh-keys.js";

const fingerprint = (blob: Uint8Array) =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

const refusal = (line: unknown) => {
  try {
    parseSshPublicKey(line);
  } catch (error) {
    expect(error).toBeInstanceOf(ContractError);
    return { code: (error as ContractError).code, message: (error as Error).message };
  }
  throw new Error(`accepted: ${String(line).slice(0, 60)}`);
};

describe("SSH public keys", () => {
  const ed25519 = OPENSSH_KEYS.find((k) => k.line.startsWith("ssh-ed25519"))!.line;
  const [type, data] = ed25519.split(" ") as [string, string];

  test("every type ssh-keygen makes is read as ssh-keygen reads it (bits, fingerprint)", () => {
    for (const k of OPENSSH_KEYS) {
      if (k.bits < SSH_LIMITS.rsaMinBits && k.line.startsWith("ssh-rsa")) continue;
      const parsed = parseSshPublicKey(`  ${k.line}\n`);
      expect(parsed.bits, k.line).toBe(k.bits);
      expect(fingerprint(parsed.blob)).toBe(k.fingerprint);
      expect(parsed.canonical).toBe(k.line.split(" ").slice(0, 2).join(" "));
      expect(parsed.comment).toBe(k.line.split(" ").slice(2).join(" "));
    }
  });

  test("RSA below 2048 bits, other types, broken data and private keys are refused", () => {
    const weak = OPENSSH_KEYS.find((k) => k.bits === 1024)!.line;
    expect(refusal(weak).message).toMatch(/at least 2048 bits \(this one has 1024\)/);
    expect(refusal(`ssh-dss ${data}`).message).toMatch(/not one of/);
    expect(refusal(`ssh-rsa ${data}`).message).toMatch(/not a ssh-rsa key/);
    expect(refusal(`${type} ${data.slice(0, -4)}`).code).toBe("invalid_ssh_key");
    expect(refusal(`${type} ${data}AAAA`).message).toMatch(/trailing bytes/);
    expect(refusal(`${type} not*base64`).message).toMatch(/not base64/);
    expect(refusal(type).message).toMatch(/missing/);
    expect(refusal("").message).toMatch(/empty/);
    expect(refusal(42).message).toMatch(/string/);
    expect(refusal("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl").message).toMatch(/private key/);
    expect(refusal(`${ed25519}\n${ed25519}`).message).toMatch(/one line/);
    expect(refusal(`${type} ${data} ${"c".repeat(SSH_LIMITS.keyLineLength)}`).message).toMatch(
      /longer than/,
    );
    expect(refusal(`${type} ${data} bell\u0007`).message).toMatch(/comment/);
    expect(refusal(`from="10.0.0.1" ${ed25519}`).code).toBe("invalid_ssh_key");
  });

  test("a key's name: given, else its comment, else its type; control characters refused", () => {
    const parsed = parseSshPublicKey(ed25519);
    expect(checkSshKeyName(undefined, parsed)).toBe(parsed.comment);
    expect(checkSshKeyName("laptop", parsed)).toBe("laptop");
    expect(checkSshKeyName("", parseSshPublicKey(`${type} ${data}`))).toBe("ssh-ed25519");
    expect(() => checkSshKeyName("a\nb", parsed)).toThrow(ContractError);
    expect(() => checkSshKeyName("x".repeat(SSH_LIMITS.nameLength + 1), parsed)).toThrow(
      ContractError,
    );
  });
});
