// Living in a workspace: `wrenn ws init|status|run|services|version`. Everything inside the
// workspace goes through envd (the SDK's files and commands), as the workspace's user.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { checkWorkspaceCreate, isServiceName, SSH_USER, type WorkspaceFile } from "@wrenn/contract";
import { Sandbox, Workspaces } from "@wrenn/sdk";
import type { Command } from "commander";
import { type CommandContext, contextOf, wantsJson } from "../command-context.js";
import {
  workspaceFileFor,
  workspaceFilePath,
  writeNewWorkspaceFile,
} from "../config/workspace-file.js";
import { usageError } from "../exit-codes.js";
import { formatTable, printJson } from "../output/table.js";
import { VERSION } from "../program.js";
import { positiveInt } from "./option-parsers.js";
import { runRemoteCommand, shellLine } from "./remote-command.js";
import {
  installServices,
  listServices,
  restartServices,
  SUPERVISOR_DIR,
  serviceLogs,
  shQuote,
  stopServices,
  supervisorVersion,
} from "./workspace-supervisor.js";

const FILE_OPTION = [
  "-f, --file <path>",
  "the workspace file (default: ./wrenn-workspace.toml)",
] as const;

/** The workspace's sandbox, running (a suspended workspace is resumed: it is being used). */
async function reach(ctx: CommandContext, name: string): Promise<Sandbox> {
  const w = await Workspaces.resume(name, ctx.sdk());
  return Sandbox.connect(w.sandboxId, ctx.sdk());
}

/** The services the command names: SVC, else every one the file declares (or the supervisor knows). */
function namesOf(svc: string | undefined, known: string[]): string[] {
  if (svc === undefined) return known;
  if (!isServiceName(svc)) throw usageError(`${JSON.stringify(svc)} is not a service name`);
  return [svc];
}

export function registerWorkspaceLiving(workspace: Command): void {
  workspace
    .command("init <name>")
    .description(
      "Write a workspace file (./wrenn-workspace.toml): image, sizes, editor path, services",
    )
    .option(...FILE_OPTION)
    .option("--image <template>", "the template it runs (default: base)")
    .option("--vcpus <n>", "vCPUs", positiveInt("--vcpus"))
    .option("--memory <mib>", "memory in MiB", positiveInt("--memory"))
    .option("--disk <gib>", "disk in GiB", positiveInt("--disk"))
    .option("--editor-path <dir>", "where `wrenn code NAME` opens (absolute, in the workspace)")
    .action(async (name: string, o: Record<string, string | number | undefined>) => {
      const spec = checkedSpec(name, o);
      const path = workspaceFilePath(o.file as string | undefined);
      await writeNewWorkspaceFile(path, spec);
      process.stdout.write(`${path}\n`);
    });

  workspace
    .command("status <name>")
    .description("A workspace's state, address, WireGuard port and services (never resumes it)")
    .option("--json", "print it as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      const w = await Workspaces.get(name, ctx.sdk());
      // Asking must not wake it: its services are read only while it runs.
      const services =
        w.state === "running"
          ? await listServices(await Sandbox.connect(w.sandboxId, ctx.sdk()))
          : null;
      if (wantsJson(command)) return printJson({ ...w, services });
      const lines: [string, string][] = [
        ["name", w.name],
        ["state", w.state],
        ["image", w.image],
        ["sizes", `${w.vcpus} vCPU, ${w.memoryMb} MiB, ${w.diskGb} GiB disk`],
        ["address", w.vmIp || "-"],
        ["wireguard", w.hostPort ? `udp port ${w.hostPort}` : "-"],
        ["sandbox", w.sandboxId],
        [
          "services",
          services === null
            ? `(not read while ${w.state})`
            : services.map((s) => `${s.name} ${s.state}`).join(", ") || "none",
        ],
      ];
      for (const [k, v] of lines) process.stdout.write(`${k.padEnd(10)} ${v}\n`);
    });

  workspace
    .command("run <name> <script> [args...]")
    .description(
      "Copy a local script into the workspace and run it there (in editor.path, else home); exits with its status",
    )
    .option(...FILE_OPTION)
    .action(async (name: string, script: string, args: string[], o: { file?: string }, command) => {
      const text = await readFile(script).catch((error: NodeJS.ErrnoException) => {
        throw usageError(`cannot read the script ${script}: ${error.message}`);
      });
      const file = await workspaceFileFor(name, o.file);
      const ctx = await contextOf(command);
      const box = await reach(ctx, name);
      const remote = `${SUPERVISOR_DIR}/run/${basename(script).replace(/[^A-Za-z0-9._-]/g, "_")}`;
      await box.files.write(remote, text, { user: SSH_USER });
      // sh runs a script that has no #! line itself; one that has runs with its interpreter.
      const line = `chmod 0700 ${shQuote(remote)} && exec ${shellLine([remote, ...args])}`;
      const result = await runRemoteCommand(box, line, {
        user: SSH_USER,
        cwd: file?.editorPath,
      });
      process.exitCode = result.exitCode;
    });

  const services = workspace
    .command("services")
    .alias("svc")
    .description("The workspace file's services, kept running by a supervisor in the workspace");

  services
    .command("ls <name>")
    .alias("list")
    .description("Each service: state (running, restarting, stopped), pid, restarts")
    .option("--json", "print a JSON array")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      const list = await listServices(await reach(ctx, name));
      if (wantsJson(command)) return printJson(list);
      process.stdout.write(
        `${formatTable(
          ["SERVICE", "STATE", "PID", "RESTARTS"],
          list.map((s) => [
            s.name,
            s.state,
            s.pid === null ? "-" : String(s.pid),
            String(s.restarts),
          ]),
        )}\n`,
      );
    });

  services
    .command("restart <name> [service]")
    .alias("start")
    .description("(Re)start one service, or every one, as the workspace file now declares it")
    .option(...FILE_OPTION)
    .action(async (name: string, svc: string | undefined, o: { file?: string }, command) => {
      const file = await workspaceFileFor(name, o.file);
      if (!file) {
        throw usageError(
          `no workspace file for ${name} here: run \`wrenn ws init ${name}\`, declare [services.NAME] in it, or pass --file`,
        );
      }
      const names = namesOf(svc, Object.keys(file.services));
      const missing = names.filter((n) => !file.services[n]);
      if (missing.length) throw usageError(`the workspace file declares no service ${missing[0]}`);
      if (names.length === 0) throw usageError("the workspace file declares no services");
      const ctx = await contextOf(command);
      const box = await reach(ctx, name);
      await installServices(box, Object.fromEntries(names.map((n) => [n, file.services[n]!])));
      await restartServices(box, names);
      const list = await listServices(box);
      for (const s of list.filter((s) => names.includes(s.name))) {
        process.stdout.write(`${s.name} ${s.state}\n`);
      }
    });

  services
    .command("stop <name> [service]")
    .description("Stop one service, or every one (they stay stopped until restarted)")
    .action(async (name: string, svc: string | undefined, _o, command: Command) => {
      const ctx = await contextOf(command);
      const box = await reach(ctx, name);
      const known = (await listServices(box)).map((s) => s.name);
      const names = namesOf(svc, known);
      if (svc !== undefined && !known.includes(svc)) {
        throw usageError(`workspace ${name} has no service ${svc} (wrenn ws services ls ${name})`);
      }
      if (names.length) await stopServices(box, names);
    });

  services
    .command("logs <name> <service>")
    .description("The last lines a service wrote (stdout and stderr, with the supervisor's notes)")
    .option("-n, --lines <n>", "how many lines", positiveInt("--lines"), 100)
    .action(async (name: string, svc: string, o: { lines: number }, command: Command) => {
      const [only] = namesOf(svc, []);
      const ctx = await contextOf(command);
      process.stdout.write(await serviceLogs(await reach(ctx, name), only!, o.lines));
    });

  workspace
    .command("version [name]")
    .description("This CLI's version and the server's; with NAME, its supervisor's too")
    .option("--json", "print JSON")
    .action(async (name: string | undefined, _o, command: Command) => {
      const ctx = await contextOf(command);
      const server = await ctx
        .client()
        .health()
        .then((h) => h.version)
        .catch(() => "unreachable");
      const supervisor =
        name === undefined
          ? undefined
          : ((await supervisorVersion(await reach(ctx, name))) ?? "none");
      const out = { cli: VERSION, server, apiUrl: ctx.config.apiUrl, supervisor };
      if (wantsJson(command)) return printJson(out);
      process.stdout.write(`cli ${out.cli}\nserver ${out.server} (${out.apiUrl})\n`);
      if (supervisor !== undefined) process.stdout.write(`supervisor ${supervisor}\n`);
    });
}

/** init's flags, checked by the same rules the file is read with. */
function checkedSpec(name: string, o: Record<string, string | number | undefined>): WorkspaceFile {
  let spec: ReturnType<typeof checkWorkspaceCreate>;
  try {
    spec = checkWorkspaceCreate({
      name,
      image: o.image,
      vcpus: o.vcpus,
      memoryMb: o.memory,
      diskGb: o.disk,
    });
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const editor = o.editorPath as string | undefined;
  if (editor !== undefined && !editor.startsWith("/")) {
    throw usageError(
      "--editor-path must be an absolute path in the workspace, like /home/user/app",
    );
  }
  return { ...spec, editorPath: editor, services: {} };
}
