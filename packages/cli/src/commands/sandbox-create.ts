import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { printJson } from "../output/table.js";
import { collectPairs, nonNegativeInt, positiveInt } from "./option-parsers.js";
import { printSandboxInfo, sandboxJson } from "./sandbox-info.js";
import { egressOf, egressOptions } from "./sandbox-network.js";

export function registerSandboxCreate(sandbox: Command): void {
  egressOptions(sandbox.command("create"))
    .description("Create a sandbox and print its id (it runs until its timeout)")
    .option("-t, --template <name>", "template to start from", "base")
    .option(
      "-n, --name <name>",
      "a name to use instead of its id (unique among your live sandboxes; lowercase letters, digits, hyphens)",
    )
    .option(
      "--timeout <seconds>",
      "lifetime in seconds (default: the server's, 300; 0: the longest the server allows, 24 h)",
      nonNegativeInt("--timeout"),
    )
    .option("--vcpus <n>", "vCPUs", positiveInt("--vcpus"))
    .option("--memory <mib>", "memory in MiB", positiveInt("--memory"))
    .option("--auto-pause", "pause instead of destroy at the end of its lifetime")
    .option(
      "--auto-resume",
      "with --auto-pause: a request to one of its ports while it is paused resumes it first",
    )
    .option("-m, --metadata <key=value>", "a label (repeatable)", collectPairs)
    .option(
      "-e, --env <KEY=VALUE>",
      "environment variable for every process (repeatable)",
      collectPairs,
    )
    .option("--json", "print the sandbox as JSON")
    .addHelpText(
      "after",
      `
Examples:
  wrenn sandbox create
  wrenn sandbox create --name web && wrenn sandbox exec web -- hostname
  wrenn sandbox create --timeout 3600 --vcpus 2 --memory 2048 -m project=demo
  id=$(wrenn sandbox create --internet) && wrenn sandbox exec "$id" -- curl -sI example.com
  wrenn sandbox create --no-internet --allow-out 1.1.1.1   # only 1.1.1.1`,
    )
    .action(async (o, command: Command) => {
      const ctx = await contextOf(command);
      // Booting takes a moment: say so where a person waits, not in a script's output.
      if (process.stderr.isTTY) process.stderr.write(`Creating a sandbox from ${o.template}...\n`);
      const sandbox = await Sandbox.create({
        ...ctx.sdk(),
        template: o.template,
        name: o.name,
        timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000,
        vcpus: o.vcpus,
        memoryMb: o.memory,
        allowInternetAccess: o.internet,
        network: egressOf(o),
        autoPause: Boolean(o.autoPause),
        ...(o.autoResume ? { autoResume: true } : {}),
        metadata: o.metadata,
        envs: o.env,
      });
      if (wantsJson(command)) {
        printJson(sandboxJson(await sandbox.getInfo()));
        return;
      }
      if (process.stdout.isTTY) printSandboxInfo(await sandbox.getInfo());
      else process.stdout.write(`${sandbox.sandboxId}\n`);
    });
}
