import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { loadSecretKey } from "./secret-key.js";
import { generateEnvdToken, TokenCipher } from "./token-cipher.js";

const temps: string[] = [];
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-secret-"));
  temps.push(dir);
  return dir;
}

test("sealed tokens open with the same key and hide the plaintext", () => {
  const cipher = new TokenCipher(randomBytes(32));
  const token = generateEnvdToken();
  const sealed = cipher.seal(token);
  expect(sealed).not.toContain(token);
  expect(cipher.seal(token)).not.toBe(sealed);
  expect(cipher.open(sealed)).toBe(token);
});

test("another key or a tampered seal is refused", () => {
  const cipher = new TokenCipher(randomBytes(32));
  const sealed = cipher.seal("secret");
  expect(() => new TokenCipher(randomBytes(32)).open(sealed)).toThrow(/WRENN_SECRET_KEY/);
  const parts = sealed.split(".");
  parts[3] = Buffer.from("tampered!").toString("base64url");
  expect(() => cipher.open(parts.join("."))).toThrow();
});

test("without WRENN_SECRET_KEY a key is generated once into the data directory", async () => {
  const dir = await tempDir();
  const first = await loadSecretKey(undefined, dir);
  expect(first).toHaveLength(32);
  expect(await loadSecretKey(undefined, dir)).toEqual(first);
  expect((await stat(join(dir, "secret.key"))).mode & 0o077).toBe(0);
  expect((await readFile(join(dir, "secret.key"), "utf8")).trim()).toBe(first.toString("hex"));
});

test("WRENN_SECRET_KEY must be 32 bytes", async () => {
  const dir = await tempDir();
  expect(await loadSecretKey("ab".repeat(32), dir)).toEqual(Buffer.alloc(32, 0xab));
  expect(await loadSecretKey(Buffer.alloc(32, 7).toString("base64"), dir)).toEqual(
    Buffer.alloc(32, 7),
  );
  await expect(loadSecretKey("too short", dir)).rejects.toThrow(/32 bytes/);
});
