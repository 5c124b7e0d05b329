import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { REPO_ROOT } from "../config/config-paths.js";
import { CliError, EXIT } from "../exit-codes.js";
import {
  buildTemplate,
  cancelTemplateBuild,
  listTemplates,
  removeTemplate,
  templateInfo,
} from "./template-api.js";

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
    .description("Your templates from OCI images (through the API), and this machine's own")
    .addHelpText(
      "after",
      `
With --from-image, build goes through the API: the host pulls the image (skopeo, no Docker
engine), and sandboxes are then created with \`wrenn sandbox create -t NAME[:TAG]\`.
Without it, build and \`ls --local\` act on THIS machine's recipes (images/NAME) through the
host agent's own CLI (\`node apps/host-agent/dist/main.js template ...\`; building needs root).

Examples:
  wrenn template build py:3.12 --from-image docker.io/library/python:3.12-slim
  wrenn template build app --from-image registry.example.com/team/app:1 --cpu 2 --memory 2048
  wrenn template build web:1 -f Dockerfile .
  wrenn template build tools --from-template base --start-cmd 'python3 -m http.server 8000'   \
      --ready-cmd 'curl -sf localhost:8000' 
  wrenn template ls
  wrenn template info py:3.12
  wrenn template cancel web:1
  wrenn template rm py:3.12
  wrenn template ls --local
  sudo wrenn template build base --force`,
    );
  template
    .command("ls")
    .alias("list")
    .description("List your templates (--local: the ones built on this machine)")
    .option("--local", "list this machine's templates (host agent CLI)")
    .option("--json", "print a JSON array")
    .action(async (o: { local?: boolean }, command: Command) => {
      if (o.local) {
        process.exitCode = await agentTemplate(["ls"]);
        return;
      }
      await listTemplates(command);
    });
  template
    .command("build")
    .description(
      "Build NAME[:TAG] from an OCI image (--from-image), streaming its log; without it, build images/NAME on this machine (root)",
    )
    .argument("[name]", "NAME[:TAG] (with --from-image/-f) or a recipe under images/", "base")
    .argument("[context]", "with -f: the build context COPY reads from (default: .)")
    .option("--from-image <ref>", "OCI image reference, e.g. docker.io/library/alpine:3.20")
    .option("--from-template <name>", "build on one of your templates (or base)")
    .option(
      "-f, --file <Dockerfile>",
      "build from a Dockerfile: FROM, RUN, COPY, ENV, WORKDIR, USER, CMD/ENTRYPOINT",
    )
    .option("--start-cmd <cmd>", "run in every sandbox at start (default: CMD/ENTRYPOINT)")
    .option("--ready-cmd <cmd>", "sandbox create waits until this exits 0")
    .option("--cpu <n>", "vCPUs of the template's sandboxes", (v) => Number.parseInt(v, 10))
    .option("--memory <mb>", "memory (MiB) of the template's sandboxes", (v) =>
      Number.parseInt(v, 10),
    )
    .option("--registry-user <name>", "registry user (password from $WRENN_REGISTRY_PASSWORD)")
    .option("--detach", "start the build and return")
    .option("--json", "print the template as JSON when done")
    .option(
      "--no-cache",
      "image builds: reuse no cached layer, pull the image and run every step again",
    )
    .option("--force", "recipes: rebuild even when up to date")
    .action(async (name: string, context: string | undefined, o, command: Command) => {
      if (o.fromImage || o.fromTemplate || o.file) {
        await buildTemplate(command, name, { ...o, context });
        return;
      }
      process.exitCode = await agentTemplate(["build", name, ...(o.force ? ["--force"] : [])]);
    });
  template
    .command("info")
    .description("A template's status, step, error and last build log lines")
    .argument("<name>", "NAME[:TAG]")
    .option("--json", "print JSON")
    .action(async (name: string, _o, command: Command) => {
      await templateInfo(command, name);
    });
  template
    .command("cancel")
    .description("Cancel a template's running build (its step is killed; nothing of it stays)")
    .argument("<name>", "NAME[:TAG]")
    .option("--json", "print the template as JSON")
    .action(async (name: string, _o, command: Command) => {
      await cancelTemplateBuild(command, name);
    });
  template
    .command("rm")
    .alias("delete")
    .description("Delete a template (refused while sandboxes use it)")
    .argument("<name>", "NAME[:TAG]")
    .action(async (name: string, _o, command: Command) => {
      await removeTemplate(command, name);
    });
}
