import type { Command } from "commander";
import { wantsJson } from "../command-context.js";
import { listProfiles, loadProfile, PROFILE_FILE_HELP } from "../config/profile-file.js";
import type { RunProfile } from "../config/run-profile.js";
import { formatTable, printJson } from "../output/table.js";
import { style } from "../output/terminal-style.js";

const minutes = (s: number) => (s % 60 === 0 ? `${s / 60} min` : `${s} s`);

export function describeProfile(p: RunProfile): [string, string][] {
  return [
    ["name", p.name],
    ["description", p.description],
    ["network", p.network === "none" ? "none (no route out)" : "egress allowed"],
    ["mount", `DIR at /workspace, ${p.mount}`],
    ["vcpus", String(p.vcpus)],
    ["memory", `${p.memoryMb} MiB`],
    ["timeout", minutes(p.timeoutSeconds)],
    ["template", p.template],
    ["source", p.source],
  ];
}

export function registerProfile(program: Command): void {
  const profile = program
    .command("profile")
    .description("Policy profiles for `wrenn run`: built-in and your own TOML files")
    .addHelpText(
      "after",
      `\n${PROFILE_FILE_HELP}\n\nExamples:\n  wrenn profile ls\n  wrenn profile show strict`,
    );

  profile
    .command("ls")
    .alias("list")
    .description("List profiles (a broken file is listed as an error, and exits 2)")
    .option("--json", "print JSON")
    .action(async (_o, command: Command) => {
      const { profiles, errors } = await listProfiles();
      if (wantsJson(command)) printJson({ profiles, errors });
      else {
        process.stdout.write(
          `${formatTable(
            ["NAME", "NETWORK", "MOUNT", "VCPU", "MEMORY", "TIMEOUT", "SOURCE"],
            profiles.map((p) => [
              p.name,
              p.network,
              p.mount,
              String(p.vcpus),
              `${p.memoryMb} MiB`,
              minutes(p.timeoutSeconds),
              p.source,
            ]),
          )}\n`,
        );
        for (const e of errors)
          process.stderr.write(`${style.red("error", process.stderr)}: ${e.error}\n`);
      }
      if (errors.length) process.exitCode = 2;
    });

  profile
    .command("show")
    .description("Show what a profile allows")
    .argument("<name>", "profile name")
    .option("--json", "print JSON")
    .action(async (name: string, _o, command: Command) => {
      const p = await loadProfile(name);
      if (wantsJson(command)) return printJson(p);
      for (const [k, v] of describeProfile(p))
        process.stdout.write(`${style.dim(k.padEnd(11))}  ${v}\n`);
    });
}
