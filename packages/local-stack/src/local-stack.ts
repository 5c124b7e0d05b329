import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ControlPlane,
  type ControlPlaneConfig,
  createLogger,
  E2B_API_KEY_PATTERN,
  egressLine,
  generateApiKey,
  loadConfig,
  type Principal,
  startControlPlane,
} from "@wrenn/control-plane";
import { pino } from "pino";
import { AgentChild, buildTemplate } from "./agent-child.js";
import { chooseStackSettings, keepStackSettings, type StackSettings } from "./stack-settings.js";
import { removeStackState, writeStackState } from "./stack-state.js";

/** The repository this package belongs to (from src/ and dist/ alike). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface LocalStackOptions {
  /** Database, agent state, templates, logs and the admin key (default <repo>/.wrenn). */
  dataDir: string;
  /** Where built templates live (default <dataDir>/templates). */
  templatesDir: string;
  /** The environment's WRENN_LISTEN etc.; unset values are chosen free at start. */
  /** The admin key to use (WRENN_API_KEY); otherwise the one kept in the data dir. */
  apiKey?: string;
  /** Environment for the agent and the control plane (pool size, network pool, log level). */
  env: NodeJS.ProcessEnv;
  /** Progress lines for the person waiting. */
  say: (line: string) => void;
  /** Show that it works: a sandbox that runs a command (default true). */
  welcome?: boolean;
  /** wrenn-agent's main.js (default: the one in this repository). */
  agentMain?: string;
}

/** `npm start`'s options from the environment (documented in the README). */
export function localStackOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): LocalStackOptions {
  const dataDir = resolve(env.WRENN_DATA_DIR || join(REPO_ROOT, ".wrenn"));
  return {
    dataDir,
    templatesDir: resolve(env.WRENN_TEMPLATES_DIR || join(dataDir, "templates")),
    apiKey: env.WRENN_API_KEY || undefined,
    env,
    say,
    welcome: env.WRENN_WELCOME !== "0",
    agentMain: env.WRENN_AGENT_MAIN || undefined,
  };
}

export interface WelcomeRun {
  sandboxId: string;
  /** created, resumed (paused at the last stop) or running (it was still up). */
  how: "created" | "resumed" | "running";
  command: string;
  exitCode: number;
  output: string;
}

export interface StopReport {
  /** Saved to disk at the stop; they resume at the next start. */
  paused: string[];
  /** Holding open TCP sockets, they could only be frozen: their processes stay. */
  frozen: string[];
  failed: { id: string; error: string }[];
  /** gVisor processes of this data directory still alive after the stop. */
  strayProcesses: number;
}

export interface LocalStack {
  url: string;
  settings: StackSettings;
  /** How long the start took, and the part of it spent building the template (0: cached). */
  startMs: number;
  templateMs: number;
  apiKey: string;
  /** A key of the same owner in E2B's form (`e2b_` + 40 hex), for the banner's E2B line. */
  e2bApiKey: string;
  keyFile?: string;
  /** Bearer token for /metrics of both the control plane and the agent (kept in the data dir). */
  metricsToken: string;
  /** Where the agent listens (its /metrics is there). */
  agentUrl: string;
  dataDir: string;
  logDir: string;
  cp: ControlPlane;
  agent: AgentChild;
  welcome?: WelcomeRun;
  /** Pauses running sandboxes, then stops the control plane and the agent. */
  stop(): Promise<StopReport>;
}

const WELCOME_METADATA = { "wrenn.welcome": "true" };
const WELCOME_COMMAND = [
  "date -u +%FT%TZ >> ~/.wrenn-starts",
  'echo "Hello from $(hostname) as $(whoami): $(uname -sr), $(python3 --version), node $(node --version)"',
  'echo "This sandbox has been started $(wc -l < ~/.wrenn-starts) time(s); its files persist across restarts."',
].join("; ");

/** Processes of gVisor sandboxes under this data directory (to prove a stop left none). */
export async function sandboxProcesses(dataDir: string): Promise<number[]> {
  const marker = `${join(dataDir, "agent", "runsc")}`;
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * The key the banner's E2B line prints: the admin key itself when it already has E2B's form,
 * else a user key of the admin's owner in that form (kept in the data dir like the admin key),
 * because E2B SDK 2.30–2.45 refuse a `wrn_` key before sending anything.
 */
async function e2bKey(
  o: LocalStackOptions,
  cp: ControlPlane,
  admin: { key: string; principal: Principal },
): Promise<string> {
  if (E2B_API_KEY_PATTERN.test(admin.key)) return admin.key;
  const file = join(o.dataDir, "e2b-api-key");
  const kept = (await readFile(file, "utf8").catch(() => "")).trim();
  if (kept) {
    const principal = await cp.keys.authenticate(kept).catch(() => undefined);
    if (principal?.ownerId === admin.principal.ownerId) return kept;
  }
  const { record } = await cp.keys.current(admin.principal);
  const { key } = await cp.keys.create(admin.principal, {
    name: "e2b (npm start)",
    ownerId: admin.principal.ownerId,
    role: "user",
    pools: record.pools,
    createRatePerMinute: record.createRatePerMinute,
    format: "e2b",
  });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return key;
}

async function adminKey(o: LocalStackOptions): Promise<{ key: string; file?: string }> {
  if (o.apiKey) return { key: o.apiKey };
  const file = join(o.dataDir, "admin-api-key");
  const kept = (await readFile(file, "utf8").catch(() => "")).trim();
  if (kept) return { key: kept, file };
  const key = generateApiKey();
  // Written before the database sees it, so a crash in between cannot lose the only copy.
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, file };
}

/**
 * The scrape token for /metrics: WRENN_METRICS_TOKEN, else one kept in the data directory, so a
 * Prometheus config written once keeps working across restarts. It reads metrics, nothing else.
 */
async function metricsToken(o: LocalStackOptions): Promise<string> {
  if (o.env.WRENN_METRICS_TOKEN) return o.env.WRENN_METRICS_TOKEN;
  const file = join(o.dataDir, "metrics-token");
  const kept = (await readFile(file, "utf8").catch(() => "")).trim();
  if (kept) return kept;
  const token = `wrm_${randomBytes(24).toString("base64url")}`;
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}

/**
 * The control plane with a host agent on this machine and the embedded database: what
 * `npm start` (and later `wrenn up`) runs. Needs root, for the agent.
 */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "Wrenn's host agent must run as root (it creates network namespaces, mounts and cgroups); run `npm start` as root",
    );
  }
  const logDir = join(o.dataDir, "logs");
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const legacy = await stat(join(o.dataDir, "agent")).then(
    () => true,
    () => false,
  );
  const { settings, changes } = await chooseStackSettings(o.env, o.dataDir, legacy);
  for (const change of changes) o.say(`Note: ${change}`);
  await keepStackSettings(o.dataDir, settings);

  const startedAt = Date.now();
  o.say(`Template base (built once, then reused from ${o.templatesDir})`);
  let templateBuilt = false;
  await buildTemplate({
    name: "base",
    templatesDir: o.templatesDir,
    env: o.env,
    agentMain: o.agentMain,
    onLine: (line) => {
      if (line.startsWith("[step ")) templateBuilt = true;
      o.say(`  ${line}`);
    },
  });
  const templateMs = templateBuilt ? Date.now() - startedAt : 0;

  const agentLogPath = join(logDir, "agent.log");
  const agentLog = createWriteStream(agentLogPath, { flags: "a" });
  const token = randomBytes(24).toString("base64url");
  const scrapeToken = await metricsToken(o);
  const agent = new AgentChild({
    dataDir: o.dataDir,
    templatesDir: o.templatesDir,
    listen: settings.agentListen,
    token,
    // A local stack is one person's machine: `wrenn run DIR` may mount directories under their
    // home and where they started it, unless WRENN_MOUNT_ROOTS says otherwise.
    env: {
      ...o.env,
      WRENN_NETWORK_POOL: settings.networkPool,
      WRENN_NETWORK_PREFIX: settings.networkPrefix,
      WRENN_NETWORK_TABLE: settings.networkTable,
      WRENN_WG_PORTS: settings.wireguardPorts,
      WRENN_AGENT_METRICS_TOKEN: scrapeToken,
      WRENN_MOUNT_ROOTS:
        o.env.WRENN_MOUNT_ROOTS ?? [...new Set([os.homedir(), process.cwd()])].join(","),
    },
    log: agentLog,
    agentMain: o.agentMain,
  });
  o.say(`Starting the host agent on ${settings.agentListen} (log: ${agentLogPath})`);
  try {
    await agent.start();
  } catch (error) {
    agentLog.end();
    throw error;
  }

  let cp: ControlPlane | undefined;
  try {
    const { key, file } = await adminKey(o);
    const config: ControlPlaneConfig = {
      ...loadConfig({ ...o.env, WRENN_LISTEN: settings.listen, WRENN_DATA_DIR: o.dataDir }),
      agentUrl: agent.url,
      agentToken: token,
      apiKey: key,
      // Every control plane on this data dir is this one; the key never leaves the machine.
      secretKey: o.env.WRENN_SECRET_KEY || undefined,
      metricsToken: scrapeToken,
    };
    const cpLogPath = join(logDir, "control-plane.log");
    o.say(`Starting the control plane on ${settings.listen} (log: ${cpLogPath})`);
    const logger = createLogger(
      config.logLevel,
      pino.destination({ dest: cpLogPath, mkdir: true, sync: true }),
    );
    cp = await startControlPlane(config, { logger });
    const started = cp;
    let principal: Principal;
    try {
      principal = await cp.keys.authenticate(key);
    } catch {
      throw new Error(
        file
          ? `the admin key kept in ${file} is not a key of this database; set WRENN_API_KEY to an admin key`
          : "WRENN_API_KEY is not an active key of this database (it only becomes the admin key on an empty one)",
      );
    }
    // The embedded database is this control plane's alone (its data-dir lock says so), so an
    // operation still in flight was cut by the last stop: settle it with the agent now rather
    // than after its deadline. Then the first heartbeat reconciles everything else.
    if (!config.databaseUrl) await cp.sandboxes.settleInFlightOn(cp.localHostId);
    await cp.monitor.refresh(cp.localHostId);

    const e2bApiKey = await e2bKey(o, cp, { key, principal });
    const welcome = o.welcome === false ? undefined : await runWelcome(cp, principal, o.say);
    // The CLI finds this stack (and only this one) through the file, not a guessed port.
    await writeStackState(o.dataDir, { url: cp.url, pid: process.pid, keyFile: file });
    let stopping: Promise<StopReport> | undefined;
    return {
      url: cp.url,
      settings,
      startMs: Date.now() - startedAt,
      templateMs,
      apiKey: key,
      e2bApiKey,
      keyFile: file,
      metricsToken: scrapeToken,
      agentUrl: agent.url,
      dataDir: o.dataDir,
      logDir,
      cp,
      agent,
      welcome,
      stop() {
        stopping ??= stopStack(started, agent, o, agentLog);
        return stopping;
      },
    };
  } catch (error) {
    await cp?.close().catch(() => {});
    await agent.stop();
    agentLog.end();
    throw error;
  }
}

async function runWelcome(
  cp: ControlPlane,
  principal: Principal,
  say: (line: string) => void,
): Promise<WelcomeRun> {
  const page = await cp.sandboxes.list(principal, {
    metadata: WELCOME_METADATA,
    states: ["running", "paused", "hibernated"],
    limit: 1,
  });
  const found = page.sandboxes[0];
  let sandboxId: string;
  let how: WelcomeRun["how"];
  if (found && found.state !== "running") {
    say(`Resuming the welcome sandbox ${found.id} (paused when Wrenn last stopped)`);
    sandboxId = (await cp.sandboxes.resume(principal, found.id)).sandbox.id;
    how = "resumed";
  } else if (found) {
    sandboxId = found.id;
    how = "running";
  } else {
    say("Creating a first sandbox");
    // Paused rather than destroyed when its hour is up, so it is still there next time.
    const created = await cp.sandboxes.create(principal, {
      metadata: WELCOME_METADATA,
      timeoutSeconds: 3600,
      autoPause: true,
    });
    sandboxId = created.id;
    how = "created";
  }
  const result = await cp.exec.run(principal, sandboxId, { command: WELCOME_COMMAND });
  return {
    sandboxId,
    how,
    command: WELCOME_COMMAND,
    exitCode: result.exitCode,
    output:
      Buffer.from(result.stdout).toString("utf8") + Buffer.from(result.stderr).toString("utf8"),
  };
}

async function stopStack(
  cp: ControlPlane,
  agent: AgentChild,
  o: LocalStackOptions,
  agentLog: NodeJS.WritableStream,
): Promise<StopReport> {
  await removeStackState(o.dataDir);
  // No expiry or reconciliation may race the pauses below.
  await cp.lifecycle.stop();
  await cp.monitor.stop();
  let paused: Awaited<ReturnType<typeof cp.sandboxes.pauseAllOnHost>> = {
    checkpointed: [],
    frozen: [],
    failed: [],
  };
  if (agent.running) {
    paused = await cp.sandboxes.pauseAllOnHost(cp.localHostId);
  }
  await cp.close();
  await agent.stop();
  agentLog.end();
  return {
    paused: paused.checkpointed,
    frozen: paused.frozen,
    failed: paused.failed,
    strayProcesses: (await sandboxProcesses(o.dataDir)).length,
  };
}

/** What `npm start` prints once everything is up. */
export function banner(stack: LocalStack): string {
  const lines = [""];
  if (stack.welcome) {
    const w = stack.welcome;
    lines.push(`Sandbox ${w.sandboxId} (${w.how}) ran: ${w.command.split(";")[0]}; …`);
    for (const line of w.output.trimEnd().split("\n")) lines.push(`  │ ${line}`);
    lines.push(`  └ exit code ${w.exitCode}`, "");
  }
  const url = stack.url;
  const key = stack.apiKey;
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  const timing =
    stack.templateMs > 0
      ? `Started in ${seconds(stack.startMs)}, ${seconds(stack.templateMs)} of it building the base template; it is cached now, so the next start takes about ${seconds(stack.startMs - stack.templateMs)}.`
      : `Started in ${seconds(stack.startMs)}.`;
  lines.push(
    "Wrenn is running.",
    `  API        ${url}`,
    `  Docs       ${url}/docs   (OpenAPI 3.1: ${url}/openapi.json)`,
    `  Admin UI   ${url}/admin   (log in with the API key)`,
    `  API key    ${key}${stack.keyFile ? `   (kept in ${stack.keyFile})` : ""}`,
    `  Metrics    ${url}/metrics and ${stack.agentUrl}/metrics   (Prometheus; header Authorization: Bearer ${stack.metricsToken})`,
    `  Data       ${stack.dataDir}   (logs in ${stack.logDir})`,
    `  Network    ${stack.settings.networkPool}, interfaces ${stack.settings.networkPrefix}*, nft table ${stack.settings.networkTable}`,
    `  Egress     ${egressLine(stack.cp.defaultInternet)}`,
    `  Previews   http://<port>-<sandbox id>.${stack.cp.previewDomain}   (E2B's getHost; curl and browsers resolve *.localhost, Node does not)`,
    `  ${timing}`,
    "",
    "The official E2B SDK, unchanged:",
    `  export E2B_API_KEY=${stack.e2bApiKey} E2B_API_URL=${url} E2B_SANDBOX_URL=${url}`,
    "",
    "Wrenn's SDK (@wrenn/sdk) and the CLI (`node packages/cli/dist/main.js`, or `wrenn` after `npm link -w @wrenn/cli`):",
    `  export WRENN_API_URL=${url} WRENN_API_KEY=${key}`,
    "  wrenn sandbox create && wrenn sandbox ls",
    "",
    "Or the REST API:",
    `  curl -H "X-API-Key: ${key}" ${url}/v1/sandboxes`,
    "",
    "Press Ctrl-C to stop. Running sandboxes are paused and come back at the next start.",
    "",
  );
  return lines.join("\n");
}
