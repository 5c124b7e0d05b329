import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { REPO_ROOT } from "../config/config-paths.js";
import { CliError, EXIT } from "../exit-codes.js";

/** The host agent's own CLI in this repository: templates live on the host, not behind the API. */
const AGENT_MAIN = join(REPO_ROOT, "apps", "host-agent", "dist", "main.js");

async function agentTemplate(args: string[]): Promise<number> {
  if (!existsSync(AGENT_MAIN)) {
    throw new CliError(
      `the host agent is not built (${AGENT_MAIN} is missing): run \`npm run build\` in ${REPO_ROOT}`,
    );
  }
  const child = spawn(process.execPath, [AGENT_MAIN, "template", ...args], { stdio: "inherit" });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  return code ?? (signal === "SIGINT" ? EXIT.interrupted : EXIT.error);
}

export function registerTemplate(program: Command): void {
  const template = program
    .command("template")
    .description("Templates on THIS machine (runs the host agent's CLI; building needs root)")
    .addHelpText(
      "after",
      `
These commands act on the local host, not through the API: they run
\`node apps/host-agent/dist/main.js template ...\` from the repository wrenn is installed in,
with WRENN_DATA_DIR / WRENN_TEMPLATES_DIR as the agent reads them (default <repo>/.wrenn/templates).

Examples:
  wrenn template ls
  sudo wrenn template build base
  sudo wrenn template build base --force`,
    );
  template
    .command("ls")
    .alias("list")
    .description("List the templates built on this machine")
    .action(async () => {
      process.exitCode = await agentTemplate(["ls"]);
    });
  template
    .command("build")
    .description("Build a template from images/NAME (instant when it is up to date; root)")
    .argument("[name]", "template recipe under images/", "base")
    .option("--force", "rebuild even when up to date")
    .action(async (name: string, o) => {
      process.exitCode = await agentTemplate(["build", name, ...(o.force ? ["--force"] : [])]);
    });
}
