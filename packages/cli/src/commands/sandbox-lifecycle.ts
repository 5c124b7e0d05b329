import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { printJson } from "../output/table.js";
import { positiveInt } from "./option-parsers.js";
import { sandboxJson } from "./sandbox-info.js";

export function registerSandboxLifecycle(sandbox: Command): void {
  sandbox
    .command("pause")
    .description("Pause a running sandbox (memory and disk kept; resume brings it back)")
    .argument("<ids...>", "sandbox ids")
    .addHelpText("after", "\nExamples:\n  wrenn sandbox pause sb-1a2b3c4d")
    .action(async (ids: string[], _o, command: Command) => {
      const ctx = await contextOf(command);
      for (const id of ids) {
        const paused = await Sandbox.pause(id, ctx.sdk());
        process.stderr.write(paused ? `Paused ${id}\n` : `${id} was not running\n`);
      }
    });

  sandbox
    .command("hibernate")
    .description(
      "Move paused sandboxes to the artifact store (resume brings one back on any host that can take it)",
    )
    .argument("<ids...>", "sandbox ids")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox pause sb-1a2b3c4d && wrenn sandbox hibernate sb-1a2b3c4d",
    )
    .action(async (ids: string[], _o, command: Command) => {
      const ctx = await contextOf(command);
      for (const id of ids) {
        await Sandbox.hibernate(id, ctx.sdk());
        process.stderr.write(`Hibernated ${id}\n`);
      }
    });

  sandbox
    .command("resume")
    .description("Resume a paused sandbox (for a running one: extend its end time)")
    .argument("<id>", "sandbox id or name")
    .option(
      "--timeout <seconds>",
      "lifetime from now (default: the one it was created with)",
      positiveInt("--timeout"),
    )
    .option("--json", "print the sandbox as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox resume sb-1a2b3c4d\n  wrenn sandbox resume sb-1a2b3c4d --timeout 3600",
    )
    .action(async (id: string, o, command: Command) => {
      const ctx = await contextOf(command);
      const box = await Sandbox.connect(id, {
        ...ctx.sdk(),
        timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000,
      });
      if (wantsJson(command)) printJson(sandboxJson(await box.getInfo()));
      else process.stderr.write(`Resumed ${id}\n`);
    });

  sandbox
    .command("kill")
    .alias("rm")
    .description("Destroy sandboxes (their files are gone; idempotent)")
    .argument("<ids...>", "sandbox ids")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox kill sb-1a2b3c4d\n  wrenn sandbox ls --json | jq -r '.[].sandboxId' | xargs wrenn sandbox kill",
    )
    .action(async (ids: string[], _o, command: Command) => {
      const ctx = await contextOf(command);
      const missing: string[] = [];
      for (const id of ids) {
        if (await Sandbox.kill(id, ctx.sdk())) process.stderr.write(`Killed ${id}\n`);
        else missing.push(id);
      }
      if (missing.length)
        throw new CliError(`no such sandbox: ${missing.join(", ")}`, EXIT.notFound);
    });
}
