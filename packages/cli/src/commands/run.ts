import { realpath, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { loadProfile, PROFILE_FILE_HELP } from "../config/profile-file.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { formatBytes } from "../output/table.js";
import { style } from "../output/terminal-style.js";
import { runRemoteCommand, shellLine } from "./remote-command.js";
import { copyBack, copyIn, runUserFor, type WorkspaceMode } from "./run-workspace.js";

const WORKSPACE = "/workspace";

/**
 * Operands are `[DIR] -- COMMAND...`: what came before `--` (at most one) is DIR. Commander
 * keeps the `--` among the operands when options pass through; `afterDashDash` is what followed
 * the first `--` on the raw command line, for when it does not.
 */
export function splitRunOperands(operands: string[], afterDashDash: string[] | undefined) {
  const at = operands.indexOf("--");
  let before: string[];
  let command: string[];
  if (at !== -1) {
    before = operands.slice(0, at);
    command = operands.slice(at + 1);
  } else if (afterDashDash) {
    before = operands.slice(0, operands.length - afterDashDash.length);
    command = afterDashDash;
  } else {
    throw usageError("the command goes after --: wrenn run [DIR] -- COMMAND...");
  }
  if (before.length > 1) throw usageError(`one DIR at most before --, got ${before.join(" ")}`);
  if (command.length === 0) throw usageError("no command after --");
  return { dir: before[0], command };
}

export function registerRun(program: Command, dashDashArgs: () => string[] | undefined): void {
  program
    .command("run")
    .description(
      "Run one command in a fresh sandbox with DIR at /workspace, under a policy profile",
    )
    .argument("[dir]", "directory to mount at /workspace (default: the current one)")
    .argument("[command...]", "the command, after --")
    .option("-p, --profile <name>", "policy profile (wrenn profile ls)", "default")
    .option("-u, --user <name>", "Linux user in the sandbox (default: user, uid 1000)")
    .option("--copy", "copy DIR in through the files API instead of mounting it (any API key)")
    .option("--copy-back", "with a copy: bring the files the command changed back into DIR")
    .option("--keep", "keep the sandbox afterwards (its id is printed)")
    .option("-q, --quiet", "no progress lines on stderr")
    .passThroughOptions()
    .addHelpText(
      "after",
      `
The command runs in /workspace as user (one argument: a shell line; several: quoted one by
one); its output streams here and wrenn exits with its exit code (124 when the profile's
timeout ended it, 130 on Ctrl-C). The sandbox is removed afterwards, also on Ctrl-C, unless
--keep. Mounting DIR needs an admin API key (the one \`wrenn up\` prints) and a directory
under the host agent's WRENN_MOUNT_ROOTS (wrenn up: your home and where it started); a
read-write mount of a root-owned DIR runs the command as root, so it can write there.
Other keys (or --copy) copy DIR in instead; --copy-back then brings back every file the
command created or changed (deletions are not mirrored).

Built-in profiles:
  strict   no network, DIR read-only,  1 vCPU, 512 MiB, 5 min   (untrusted code)
  default  no network, DIR read-write, 1 vCPU, 1 GiB,  30 min   (builds and tests)
  dev      network,    DIR read-write, 2 vCPU, 2 GiB,  60 min   (installs, fetches)

${PROFILE_FILE_HELP}

Examples:
  wrenn run -- make test
  wrenn run --profile strict ./untrusted -- python3 main.py
  wrenn run --profile dev . -- 'npm ci && npm test'
  wrenn run --copy-back . -- make dist`,
    )
    .action(async (operands: string | undefined, rest: string[], o, command: Command) => {
      const all = [...(operands === undefined ? [] : [operands]), ...rest];
      const { dir, command: argv } = splitRunOperands(all, dashDashArgs());
      const profile = await loadProfile(o.profile);
      const hostPath = await realpath(resolve(dir ?? ".")).catch(() => {
        throw new CliError(`${dir}: no such directory`, EXIT.notFound);
      });
      if (!(await stat(hostPath)).isDirectory()) throw usageError(`${hostPath} is not a directory`);
      const ctx = await contextOf(command);
      const say = (line: string) => {
        if (!o.quiet) process.stderr.write(`${style.dim(line, process.stderr)}\n`);
      };

      // Ctrl-C during the create must still remove the sandbox once it exists.
      let interrupted = false;
      const early = () => {
        interrupted = true;
      };
      process.on("SIGINT", early);
      process.on("SIGTERM", early);
      say(
        `wrenn run: profile ${profile.name} (${profile.network === "none" ? "no network" : "network"}, ${hostPath} ${o.copy || o.copyBack ? "copied" : profile.mount} at ${WORKSPACE}, ${profile.vcpus} vCPU, ${profile.memoryMb} MiB, ${profile.timeoutSeconds} s)`,
      );
      if (o.copyBack && profile.mount === "read-only")
        throw usageError(`profile ${profile.name} keeps DIR read-only: --copy-back does not apply`);
      let mode: WorkspaceMode = o.copy || o.copyBack ? "copy" : "mount";
      const options = {
        ...ctx.sdk(),
        template: profile.template,
        vcpus: profile.vcpus,
        memoryMb: profile.memoryMb,
        allowInternetAccess: profile.network === "egress",
        // The sandbox outlives the command by a margin, so the command's own timeout (124)
        // is what ends a run, and a lost CLI still leaves no sandbox behind for long.
        timeoutMs: (profile.timeoutSeconds + 60) * 1000,
        metadata: { "wrenn.run": "true", "wrenn.profile": profile.name },
      };
      const mounts = [{ hostPath, path: WORKSPACE, readOnly: profile.mount === "read-only" }];
      let box: Sandbox;
      try {
        try {
          box = await Sandbox.create(mode === "mount" ? { ...options, mounts } : options);
        } catch (error) {
          // Only admin keys may mount host directories: anyone else gets a copy, told so.
          // mounts_not_allowed is exactly that refusal; a directory outside the agent's mount
          // roots is mount_not_allowed, which a copy must not hide (error-exit.ts says why).
          if ((error as { code?: string }).code !== "mounts_not_allowed") throw error;
          say(
            `wrenn run: this API key cannot mount host directories (admin keys only); copying ${hostPath} in instead${o.copyBack || profile.mount === "read-only" ? "" : " (its changes stay in the sandbox; --copy-back brings them back)"}`,
          );
          mode = "copy";
          box = await Sandbox.create(options);
        }
      } finally {
        process.removeListener("SIGINT", early);
        process.removeListener("SIGTERM", early);
      }
      const remove = async () => {
        if (o.keep) return;
        await Sandbox.kill(box.sandboxId, ctx.sdk()).catch((error) => {
          process.stderr.write(
            `wrenn run: could not remove ${box.sandboxId}: ${(error as Error).message}\n`,
          );
        });
      };
      if (interrupted) {
        await remove();
        process.exitCode = EXIT.interrupted;
        return;
      }
      say(`wrenn run: sandbox ${box.sandboxId}`);
      const user = await runUserFor(hostPath, profile, mode, o.user);
      let exitCode: number;
      try {
        let since: Date | undefined;
        if (mode === "copy") {
          const copied = await copyIn(box, hostPath, WORKSPACE, user);
          since = copied.since;
          say(`wrenn run: copied ${copied.files} file(s) (${formatBytes(copied.bytes)}) in`);
        }
        const result = await runRemoteCommand(box, shellLine(argv), {
          cwd: WORKSPACE,
          user,
          timeoutMs: profile.timeoutSeconds * 1000,
          // Killing the sandbox ends the command with it, at once.
          onInterrupt: o.keep
            ? undefined
            : async () => {
                say(`\nwrenn run: interrupted; removing ${box.sandboxId}`);
                await Sandbox.kill(box.sandboxId, ctx.sdk());
              },
        });
        exitCode = result.exitCode;
        if (result.timedOut)
          say(`wrenn run: stopped after the profile's timeout (${profile.timeoutSeconds} s)`);
        if (o.copyBack && since && exitCode !== EXIT.interrupted) {
          const back = await copyBack(box, WORKSPACE, hostPath, since);
          say(
            `wrenn run: copied ${back.files.length} changed file(s) (${formatBytes(back.bytes)}) back into ${hostPath}`,
          );
        }
      } catch (error) {
        await remove();
        throw error;
      }
      if (exitCode !== EXIT.interrupted) await remove();
      if (o.keep) process.stderr.write(`${box.sandboxId}\n`);
      process.exitCode = exitCode;
    });
}
