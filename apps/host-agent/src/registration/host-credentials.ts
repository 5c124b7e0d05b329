import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { RegisteredHostCredentials } from "@wrenn/contract";

/**
 * What a registered agent keeps in its data dir across restarts: its host id, the control
 * plane it belongs to, the token that control plane calls it with, its JWT and refresh token.
 * Root-only (0600), replaced atomically so a crash never leaves half a file.
 */
export interface StoredCredentials extends RegisteredHostCredentials {
  controlPlaneUrl: string;
}

const FILE = "registration.json";

export async function loadCredentials(dataDir: string): Promise<StoredCredentials | null> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<StoredCredentials>;
  for (const field of ["controlPlaneUrl", "hostId", "agentToken", "jwt", "refreshToken"] as const) {
    if (typeof parsed[field] !== "string" || parsed[field] === "") {
      throw new Error(`${path.join(dataDir, FILE)} has no ${field}; remove it to register again`);
    }
  }
  return parsed as StoredCredentials;
}

export async function saveCredentials(dataDir: string, c: StoredCredentials): Promise<void> {
  const target = path.join(dataDir, FILE);
  const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, target);
}
