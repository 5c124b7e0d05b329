import { Command } from "commander";
import { registerCompletion } from "./commands/completion.js";
import { registerHosts } from "./commands/hosts.js";
import { registerKeys } from "./commands/keys.js";
import { registerMcp } from "./commands/mcp.js";
import { registerProfile } from "./commands/profile.js";
import { registerRun } from "./commands/run.js";
import { registerSandboxCp } from "./commands/sandbox-cp.js";
import { registerSandboxCreate } from "./commands/sandbox-create.js";
import { registerSandboxEvents } from "./commands/sandbox-events.js";
import { registerSandboxExec } from "./commands/sandbox-exec.js";
import { registerSandboxInfo } from "./commands/sandbox-info.js";
import { registerSandboxLifecycle } from "./commands/sandbox-lifecycle.js";
import { registerSandboxList } from "./commands/sandbox-list.js";
import { registerSandboxLogs } from "./commands/sandbox-logs.js";
import { registerSandboxNetwork } from "./commands/sandbox-network.js";
import { registerSandboxPortForward } from "./commands/sandbox-port-forward.js";
import { registerSandboxShell } from "./commands/sandbox-shell.js";
import { registerSecrets } from "./commands/secrets.js";
import { registerSandboxSnapshot, registerSnapshots } from "./commands/snapshots.js";
import { registerSsh } from "./commands/ssh.js";
import { registerStatus } from "./commands/status.js";
import { registerTemplate } from "./commands/template.js";
import { registerUp } from "./commands/up.js";
import { registerWorkspace } from "./commands/workspace.js";
import { EXIT_CODES_HELP } from "./exit-codes.js";

export const VERSION = "0.1.0";

/**
 * The whole command tree. `dashDashArgs` gives what followed the first `--` on the command
 * line: commander merges it into the operands, and `wrenn run [DIR] -- CMD` must tell them apart.
 */
export function buildProgram(dashDashArgs: () => string[] | undefined = () => undefined): Command {
  const program = new Command("wrenn")
    .description("Wrenn: self-hosted sandboxes for people and AI agents")
    .version(VERSION, "-V, --version")
    .option(
      "--api-url <url>",
      "the control plane (env WRENN_API_URL; default http://127.0.0.1:3000)",
    )
    .option("--api-key <key>", "API key (env WRENN_API_KEY)")
    .enablePositionalOptions()
    .showHelpAfterError("(wrenn --help shows every command)")
    .addHelpText(
      "after",
      `
Configuration: flags > WRENN_API_URL / WRENN_API_KEY > $XDG_CONFIG_HOME/wrenn/config.toml
(default ~/.config/wrenn/config.toml: api_url = "...", api_key = "wrn_...") > the local
stack started by \`wrenn up\` (its URL and the admin key in <repo>/.wrenn/admin-api-key).
Colours only on a terminal, never with NO_COLOR. Listings take --json.

${EXIT_CODES_HELP}

Examples:
  sudo wrenn up --detach
  id=$(wrenn sandbox create) && wrenn sandbox exec "$id" -- uname -a
  wrenn sandbox shell "$id"
  wrenn run --profile strict ./project -- make test
  wrenn mcp                     # sandboxes for AI agents (MCP, stdio)`,
    );

  registerUp(program);
  registerStatus(program);

  const sandbox = program
    .command("sandbox")
    .alias("sbx")
    .description("Create, use and remove sandboxes")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox create\n  wrenn sbx ls\n  wrenn sbx exec sb-1a2b3c4d -- ls /",
    );
  registerSandboxCreate(sandbox);
  registerSandboxList(sandbox);
  registerSandboxInfo(sandbox);
  registerSandboxExec(sandbox);
  registerSandboxShell(sandbox);
  registerSandboxCp(sandbox);
  registerSandboxLifecycle(sandbox);
  registerSandboxSnapshot(sandbox);
  registerSandboxNetwork(sandbox);
  registerSandboxLogs(sandbox);
  registerSandboxEvents(sandbox);
  registerSandboxPortForward(sandbox);

  // The two a person reaches for most, also at the top level: `wrenn logs web`.
  registerSandboxLogs(program);
  registerSandboxEvents(program);

  registerRun(program, dashDashArgs);
  registerSsh(program, dashDashArgs);
  registerProfile(program);
  registerTemplate(program);
  registerSnapshots(program);
  registerWorkspace(program);
  registerKeys(program);
  registerSecrets(program);
  registerHosts(program);
  registerMcp(program);
  registerCompletion(program);
  return program;
}
