import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { formatTable, printJson } from "../output/table.js";
import { style } from "../output/terminal-style.js";
import { positiveInt } from "./option-parsers.js";

export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("API keys: create, list, revoke (needs an admin key)")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn keys create --name ci\n  wrenn keys ls\n  wrenn keys revoke key-1a2b3c4d",
    );

  keys
    .command("create")
    .description("Create an API key; the key itself is printed this once")
    .requiredOption("-n, --name <name>", "a name for people (who or what uses it)")
    .option("--role <role>", "user or admin", "user")
    .option("--owner <ownerId>", "add the key to this owner (default: a new owner)")
    .option("--vcpus <n>", "vCPU pool of the owner", positiveInt("--vcpus"))
    .option("--memory <mib>", "memory pool in MiB", positiveInt("--memory"))
    .option("--storage <mib>", "storage pool in MiB", positiveInt("--storage"))
    .option(
      "--format <format>",
      "wrenn (wrn_...) or e2b (e2b_ + 40 hex, for E2B SDK releases that check the key's form)",
      "wrenn",
    )
    .option("--json", "print the key's record with the key itself in `key`")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn keys create --name alice\n  export WRENN_API_KEY=$(wrenn keys create --name ci)\n  export E2B_API_KEY=$(wrenn keys create --name e2b --format e2b)",
    )
    .action(async (o, command: Command) => {
      const ctx = await contextOf(command);
      const pools = { vcpus: o.vcpus, memoryMb: o.memory, storageMb: o.storage };
      // role and format go as typed: the server's answer to a wrong one is the message.
      const created = await ctx.client().apiKeys.create({
        name: o.name,
        role: o.role,
        ...(o.format !== "wrenn" ? { format: o.format } : {}),
        ...(o.owner ? { ownerId: o.owner } : {}),
        ...(Object.values(pools).some((v) => v !== undefined) ? { pools } : {}),
      });
      // One flat object: the record as `keys ls --json` shows it, plus the secret, once.
      if (wantsJson(command)) return printJson({ ...created.apiKey, key: created.key });
      process.stdout.write(`${created.key}\n`);
      process.stderr.write(
        `${style.dim(`Created ${created.apiKey.role} key ${created.apiKey.id} (${created.apiKey.name}); the key is shown this once.`, process.stderr)}\n`,
      );
    });

  keys
    .command("ls")
    .alias("list")
    .description("List API keys")
    .option("-a, --all", "include revoked keys")
    .option("--json", "print a JSON array")
    .action(async (o, command: Command) => {
      const ctx = await contextOf(command);
      const apiKeys = await ctx.client().apiKeys.list();
      const shown = o.all ? apiKeys : apiKeys.filter((k) => !k.revokedAt);
      if (wantsJson(command)) return printJson(shown);
      process.stdout.write(
        `${formatTable(
          [
            "ID",
            "NAME",
            "ROLE",
            "OWNER",
            "POOLS (vCPU/MiB/MiB)",
            "CREATED",
            ...(o.all ? ["REVOKED"] : []),
          ],
          shown.map((k) => [
            k.id,
            k.name,
            k.role,
            k.ownerName,
            `${k.pools.vcpus}/${k.pools.memoryMb}/${k.pools.storageMb}`,
            k.createdAt.slice(0, 19).replace("T", " "),
            ...(o.all ? [k.revokedAt?.slice(0, 19).replace("T", " ") ?? "-"] : []),
          ]),
        )}\n`,
      );
    });

  keys
    .command("revoke")
    .description("Revoke API keys (idempotent); requests with them fail from now on")
    .argument("<ids...>", "key ids (wrenn keys ls)")
    .action(async (ids: string[], _o, command: Command) => {
      const ctx = await contextOf(command);
      for (const id of ids) {
        await ctx.client().apiKeys.revoke(id);
        process.stderr.write(`Revoked ${id}\n`);
      }
    });
}
