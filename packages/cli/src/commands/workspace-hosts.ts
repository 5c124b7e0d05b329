import type { Command } from "commander";
import { wantsJson } from "../command-context.js";
import {
  checkServerName,
  checkServerUrl,
  readKnownServers,
  writeKnownServers,
} from "../config/known-servers.js";
import { CliError, EXIT } from "../exit-codes.js";
import { formatTable, printJson } from "../output/table.js";

/** `wrenn ws host add|rm|ls|default`: the Wrenn servers this CLI knows, in its config.toml. */
export function registerWorkspaceHosts(workspace: Command): void {
  const host = workspace
    .command("host")
    .description(
      "The Wrenn servers this CLI knows (config.toml [hosts.NAME]); the default one is used when no --api-url or WRENN_API_URL names one",
    );

  host
    .command("add <name> <url>")
    .description("Add (or replace) a server; the first one added becomes the default")
    .option("--key <api-key>", "its API key (kept in config.toml, 0600)")
    .action(async (name: string, url: string, o: { key?: string }) => {
      const entry = { name: checkServerName(name), apiUrl: checkServerUrl(url), apiKey: o.key };
      const known = await readKnownServers();
      const servers = [...known.servers.filter((s) => s.name !== name), entry];
      const path = await writeKnownServers({
        servers,
        defaultName: known.defaultName ?? name,
      });
      process.stderr.write(`${name} ${entry.apiUrl} saved in ${path}\n`);
    });

  host
    .command("rm <name>")
    .alias("remove")
    .description("Forget a server (the default one too: then none is the default)")
    .action(async (name: string) => {
      const known = await readKnownServers();
      if (!known.servers.some((s) => s.name === name)) {
        throw new CliError(`no host ${name} in ${known.path} (wrenn ws host ls)`, EXIT.notFound);
      }
      await writeKnownServers({
        servers: known.servers.filter((s) => s.name !== name),
        defaultName: known.defaultName === name ? undefined : known.defaultName,
      });
    });

  host
    .command("ls")
    .alias("list")
    .description("The servers, the default one marked")
    .option("--json", "print a JSON array (without the keys)")
    .action(async (_o, command: Command) => {
      const known = await readKnownServers();
      const rows = known.servers.map((s) => ({
        name: s.name,
        apiUrl: s.apiUrl,
        hasKey: s.apiKey !== undefined,
        default: s.name === known.defaultName,
      }));
      if (wantsJson(command)) return printJson(rows);
      process.stdout.write(
        `${formatTable(
          ["NAME", "URL", "KEY", "DEFAULT"],
          rows.map((r) => [r.name, r.apiUrl, r.hasKey ? "yes" : "no", r.default ? "*" : ""]),
        )}\n`,
      );
    });

  host
    .command("default <name>")
    .description("Use this server when no --api-url or WRENN_API_URL names one")
    .action(async (name: string) => {
      const known = await readKnownServers();
      if (!known.servers.some((s) => s.name === name)) {
        throw new CliError(
          `no host ${name} in ${known.path}: add it first (wrenn ws host add ${name} URL)`,
          EXIT.notFound,
        );
      }
      await writeKnownServers({ servers: known.servers, defaultName: name });
    });
}
