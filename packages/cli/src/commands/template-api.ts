import { setTimeout as sleep } from "node:timers/promises";
import type { Template } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { CliError } from "../exit-codes.js";
import { formatTable, printJson, relativeTime } from "../output/table.js";
import { style } from "../output/terminal-style.js";
import { dockerfileBuild } from "./template-dockerfile.js";

function statusText(t: Template): string {
  if (t.status === "ready") return style.green("ready");
  if (t.status === "error") return style.red(t.usable ? "error (last good build kept)" : "error");
  return style.yellow(`building${t.step ? ` (${t.step})` : ""}`);
}

/**
 * `wrenn template build NAME[:TAG] --from-image REF | --from-template NAME | -f Dockerfile
 * [CONTEXT]`: starts the build, streams its logs.
 */
export async function buildTemplate(
  command: Command,
  nameTag: string,
  o: {
    fromImage?: string;
    fromTemplate?: string;
    file?: string;
    context?: string;
    startCmd?: string;
    readyCmd?: string;
    cpu?: number;
    memory?: number;
    registryUser?: string;
    registryPasswordEnv?: string;
    detach?: boolean;
    /** commander's --no-cache: false when given. */
    cache?: boolean;
  },
): Promise<void> {
  const ctx = await contextOf(command);
  let registry: { username: string; password: string } | undefined;
  if (o.registryUser) {
    const password = process.env[o.registryPasswordEnv ?? "WRENN_REGISTRY_PASSWORD"];
    if (!password) {
      throw new CliError(
        `--registry-user needs the password in $${o.registryPasswordEnv ?? "WRENN_REGISTRY_PASSWORD"}`,
      );
    }
    registry = { username: o.registryUser, password };
  }
  const base = o.file
    ? await dockerfileBuild(ctx, o.file, o.context ?? ".")
    : o.fromTemplate
      ? { fromTemplate: o.fromTemplate, steps: [] }
      : { fromImage: o.fromImage, steps: [] };
  const startCmd = o.startCmd ?? ("startCmd" in base ? base.startCmd : undefined);
  const started = await ctx.client().templates.create({
    name: nameTag,
    ...base,
    ...(startCmd ? { startCmd } : {}),
    ...(o.readyCmd ? { readyCmd: o.readyCmd } : {}),
    ...(registry ? { registry } : {}),
    ...(o.cpu ? { cpuCount: o.cpu } : {}),
    ...(o.memory ? { memoryMB: o.memory } : {}),
    ...(o.cache === false ? { force: true } : {}),
  });
  const ref = `${started.name}:${started.tag}`;
  if (o.detach) {
    if (wantsJson(command)) return printJson(started);
    process.stdout.write(`${ref}: building (follow: wrenn template info ${ref})\n`);
    return;
  }
  let offset = 0;
  for (;;) {
    const b = await ctx.client().templates.build(ref, { logsOffset: offset, limit: 1000 });
    for (const l of b.logs) process.stderr.write(`${style.dim(`[${l.step}]`)} ${l.message}\n`);
    offset = b.nextLogsOffset;
    if (b.template.status !== "building" && b.logs.length === 0) {
      if (wantsJson(command)) printJson(b.template);
      if (b.template.status === "error") {
        const e = b.template.error;
        throw new CliError(
          `${ref}: build failed${e?.step ? ` at step ${e.step}` : ""}: ${e?.message ?? "unknown error"}`,
        );
      }
      if (!wantsJson(command)) process.stdout.write(`${ref}: ready\n`);
      return;
    }
    if (b.logs.length === 0) await sleep(500);
  }
}

export async function listTemplates(command: Command): Promise<void> {
  const ctx = await contextOf(command);
  const templates = await ctx.client().templates.list();
  if (wantsJson(command)) return printJson(templates);
  process.stdout.write(
    `${formatTable(
      ["NAME", "STATUS", "FROM IMAGE", "CPU", "MEMORY MiB", "SIZE MiB", "UPDATED"],
      templates.map((t) => [
        `${t.name}:${t.tag}`,
        statusText(t),
        t.fromImage,
        String(t.cpuCount),
        String(t.memoryMB),
        sizeText(t),
        relativeTime(new Date(t.updatedAt)),
      ]),
    )}\n`,
  );
}

export async function templateInfo(command: Command, nameTag: string): Promise<void> {
  const ctx = await contextOf(command);
  const b = await ctx.client().templates.build(nameTag, { logsOffset: 0, limit: 1000 });
  if (wantsJson(command)) return printJson(b);
  const t = b.template;
  const rows: Array<[string, string]> = [
    ["name", `${t.name}:${t.tag}`],
    ["id", t.templateId],
    ["status", statusText(t)],
    ["step", t.step ?? "-"],
    ["from image", t.fromImage],
    ["cpu", String(t.cpuCount)],
    ["memory MiB", String(t.memoryMB)],
    // What counts against the storage pool of every key of the owner (wrenn keys ls).
    ["size MiB", sizeText(t)],
    ["created", t.createdAt],
    ["updated", t.updatedAt],
  ];
  if (t.error) rows.push(["error", `${t.error.code}: ${t.error.message}`]);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(12)}${v}\n`);
  if (b.logs.length > 0) process.stdout.write("\nbuild log (last lines):\n");
  for (const l of b.logs.slice(-20)) process.stdout.write(`  [${l.step}] ${l.message}\n`);
}

/** A build's size; "-" until one succeeded. */
const sizeText = (t: { sizeMB: number | null }) => (t.sizeMB === null ? "-" : String(t.sizeMB));

export async function removeTemplate(command: Command, nameTag: string): Promise<void> {
  const ctx = await contextOf(command);
  await ctx.client().templates.delete(nameTag);
  process.stdout.write(`${nameTag}: deleted\n`);
}

/** Stops the running build; the server answers once it has ended. */
export async function cancelTemplateBuild(command: Command, nameTag: string): Promise<void> {
  const ctx = await contextOf(command);
  const t = await ctx.client().templates.cancel(nameTag);
  if (wantsJson(command)) return printJson(t);
  process.stdout.write(`${t.name}:${t.tag}: ${statusText(t)}\n`);
}
