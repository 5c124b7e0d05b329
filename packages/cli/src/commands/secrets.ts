// `wrenn secret set NAME [--value-file F] | ls | rm NAME`: write-only values for network
// rules' `${e2b.secrets.NAME}`. The value is read from a file or stdin, never from argv (a
// command line is visible to every user of the machine in ps and lands in shell history).
import { readFile } from "node:fs/promises";
import { secretPlaceholder } from "@wrenn/contract";
import { type SecretInfo, Secrets, WrennError } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { usageError } from "../exit-codes.js";
import { formatTable, printJson } from "../output/table.js";
import { collectPairs } from "./option-parsers.js";

/** Without its one trailing newline (what `echo` and editors add); nothing else is touched. */
const withoutNewline = (text: string) => text.replace(/\r?\n$/, "");

async function readValue(file: string | undefined): Promise<string> {
  if (file !== undefined) return withoutNewline(await readFile(file, "utf8"));
  if (process.stdin.isTTY) {
    throw usageError(
      "give the value on stdin (e.g. `wrenn secret set NAME < file`) or with --value-file FILE; never on the command line",
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return withoutNewline(Buffer.concat(chunks).toString("utf8"));
}

const row = (s: SecretInfo) => [s.name, s.id, String(s.currentVersion), s.updatedAt.toISOString()];

export function registerSecrets(program: Command): void {
  const secret = program
    .command("secret")
    .description(
      `Secrets for network rules' ${secretPlaceholder("NAME")}: write-only, never shown`,
    );

  secret
    .command("set <name>")
    .description("Store a secret, or write a new version of it (value from stdin or --value-file)")
    .option("--value-file <file>", "read the value from this file (one trailing newline dropped)")
    .option(
      "--metadata <key=value>",
      "metadata (repeatable; replaces the stored metadata)",
      collectPairs,
    )
    .option("--json", "print the secret's record as JSON")
    .action(
      async (
        name: string,
        o: { valueFile?: string; metadata?: Record<string, string> },
        command: Command,
      ) => {
        const ctx = await contextOf(command);
        const value = await readValue(o.valueFile);
        const opts = { ...ctx.sdk(), metadata: o.metadata };
        const stored = await Secrets.add(name, value, opts).catch((error: unknown) => {
          if (error instanceof WrennError && error.code === "secret_name_taken") {
            return Secrets.update(name, value, opts);
          }
          throw error;
        });
        if (wantsJson(command)) return printJson(stored);
        process.stdout.write(`${stored.name} version ${stored.currentVersion}\n`);
      },
    );

  secret
    .command("ls")
    .alias("list")
    .description("List your secrets (names and versions; values are never shown)")
    .option("--json", "print a JSON array")
    .action(async (_o, command: Command) => {
      const ctx = await contextOf(command);
      const list = await Secrets.list(ctx.sdk());
      if (wantsJson(command)) return printJson(list);
      process.stdout.write(`${formatTable(["NAME", "ID", "VERSION", "UPDATED"], list.map(row))}\n`);
    });

  secret
    .command("rm <name>")
    .alias("remove")
    .description("Delete a secret (rules that name it stop resolving)")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      await Secrets.remove(name, ctx.sdk());
    });
}
