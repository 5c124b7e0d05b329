import { randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { join } from "node:path";

function decode(text: string, origin: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : Buffer.from(trimmed, "base64");
  if (key.length !== 32) {
    throw new Error(`${origin} must be 32 bytes, as 64 hex digits or base64`);
  }
  return key;
}

/**
 * WRENN_SECRET_KEY when given (needed when several control planes share one PostgreSQL);
 * otherwise a key generated once into the data directory, readable only by its owner.
 */
export async function loadSecretKey(
  configured: string | undefined,
  dataDir: string,
): Promise<Buffer> {
  if (configured) return decode(configured, "WRENN_SECRET_KEY");
  const path = join(dataDir, "secret.key");
  try {
    return decode(await readFile(path, "utf8"), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    const handle = await open(path, "wx", 0o600);
    await handle.writeFile(`${key.toString("hex")}\n`);
    await handle.close();
    return key;
  } catch (error) {
    // Another process created it between our read and our write: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST")
      return decode(await readFile(path, "utf8"), path);
    throw error;
  }
}
