import type { Host, HostDrain } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { formatTable, printJson } from "../output/table.js";
import { style } from "../output/terminal-style.js";

export function hostRows(hosts: Host[]): string[][] {
  return hosts.map((h) => {
    const used = h.capacity?.used;
    const total = h.capacity?.total;
    const sandboxes = Object.entries(h.sandboxesByState)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ");
    return [
      h.id,
      h.status !== "online"
        ? style.red(h.status)
        : h.drained
          ? style.yellow("online, drained")
          : style.green(h.status),
      h.hostname ?? "-",
      h.version ?? "-",
      used && total ? `${used.vcpus}/${total.vcpus}` : "-",
      used && total ? `${used.memoryMb}/${total.memoryMb}` : "-",
      sandboxes || "none",
    ];
  });
}

export const HOST_HEADERS = [
  "ID",
  "STATUS",
  "HOSTNAME",
  "VERSION",
  "VCPU",
  "MEMORY MiB",
  "SANDBOXES",
];

export function registerHosts(program: Command): void {
  const hosts = program
    .command("hosts")
    .description("Hosts that run sandboxes (needs an admin key)");
  hosts
    .command("ls")
    .alias("list")
    .description("List hosts with their capacity, asked from each host agent now")
    .option("--json", "print a JSON array")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn hosts ls\n  wrenn hosts ls --json | jq '.[].capacity'",
    )
    .action(async (_o, command: Command) => {
      const ctx = await contextOf(command);
      const list = await ctx.client().hosts.list();
      if (wantsJson(command)) return printJson(list);
      process.stdout.write(`${formatTable(HOST_HEADERS, hostRows(list))}\n`);
      for (const h of list) if (h.lastError) process.stderr.write(`${h.id}: ${h.lastError}\n`);
    });
  hosts
    .command("token")
    .description("Create a one-time registration token for a new host agent (shown once)")
    .option("--expires <seconds>", "how long it may wait to be used (default 24 hours)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error("--expires takes whole seconds");
      return n;
    })
    .option("--json", "print the token as JSON")
    .addHelpText(
      "after",
      "\nOn the new host, start the agent with it:\n  WRENN_CONTROL_PLANE_URL=https://cp.example WRENN_REGISTRATION_TOKEN=<token> wrenn-agent serve",
    )
    .action(async (o: { expires?: number }, command: Command) => {
      const ctx = await contextOf(command);
      const created = await ctx
        .client()
        .hosts.createToken(o.expires ? { expiresInSeconds: o.expires } : {});
      if (wantsJson(command)) return printJson(created);
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `one use, expires ${created.expiresAt}: start an agent with WRENN_REGISTRATION_TOKEN set to it\n`,
      );
    });
  hosts
    .command("rm")
    .alias("delete")
    .argument("<id>", "the host's id (wrenn hosts ls)")
    .description("Delete a registered host; its agent must register again with a new token")
    .option("--force", "destroy the sandboxes on it first (otherwise refused while it holds any)")
    .option("--json", "print the answer as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn hosts rm host-1a2b3c4d\n  wrenn hosts rm host-1a2b3c4d --force",
    )
    .action(async (id: string, o: { force?: boolean }, command: Command) => {
      const ctx = await contextOf(command);
      const deleted = await ctx.client().hosts.delete(id, { force: o.force === true });
      if (wantsJson(command)) return printJson(deleted);
      const gone = deleted.destroyedSandboxes;
      process.stdout.write(
        `deleted ${deleted.id}${gone.length > 0 ? `; destroyed ${gone.join(", ")}` : ""}\n`,
      );
    });
  for (const [name, describe] of [
    ["drain", "Stop placing new sandboxes on a host; those it holds keep running"],
    ["undrain", "Let a drained host take new sandboxes again"],
  ] as const) {
    hosts
      .command(name)
      .argument("<id>", "the host's id (wrenn hosts ls)")
      .description(describe)
      .option("--json", "print the answer as JSON")
      .action(async (id: string, _o, command: Command) => {
        const ctx = await contextOf(command);
        const hostsApi = ctx.client().hosts;
        const r: HostDrain = await (name === "drain" ? hostsApi.drain(id) : hostsApi.undrain(id));
        if (wantsJson(command)) return printJson(r);
        process.stdout.write(`${r.host.id}: ${r.note}\n`);
        if (r.pausedSandboxes.length > 0) {
          process.stderr.write(`paused there (they stay): ${r.pausedSandboxes.join(", ")}\n`);
        }
      });
  }
}
