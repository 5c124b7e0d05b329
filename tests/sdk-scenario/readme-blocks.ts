import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "../harness/paths.js";

/**
 * A fenced block of a README, run as written by the tests: the first one whose info string is
 * exactly `info` ("python" is the example a README starts with; "python snapshots" a later one).
 */
export async function readmeBlock(readme: string, info: string): Promise<string> {
  const text = await readFile(join(repoRoot, readme), "utf8");
  const match = new RegExp(`\`\`\`${info}\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (!match?.[1]) throw new Error(`${readme} has no \`\`\`${info} block`);
  return match[1];
}
