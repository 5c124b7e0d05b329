import { readFile } from "node:fs/promises";
import { parse, TomlError } from "smol-toml";
import { CliError, EXIT } from "../exit-codes.js";

/**
 * Reads a TOML file; undefined when it does not exist. Bad TOML is a usage error that names
 * the file and the line, never a silent fallback to defaults.
 */
export async function readTomlFile(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${path}: ${(error as Error).message}`, EXIT.usage);
  }
  try {
    return parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "");
      throw new CliError(
        `${path}:${error.line}:${error.column}: invalid TOML: ${reason}`,
        EXIT.usage,
      );
    }
    throw error;
  }
}

/** Unknown keys are mistakes (a typo would otherwise be ignored): refuse them. */
export function rejectUnknownKeys(path: string, table: Record<string, unknown>, known: string[]) {
  for (const key of Object.keys(table)) {
    if (!known.includes(key)) {
      throw new CliError(
        `${path}: unknown key ${JSON.stringify(key)} (known: ${known.join(", ")})`,
        EXIT.usage,
      );
    }
  }
}
