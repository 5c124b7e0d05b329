// The MCP server's tools: sandboxes for AI agents, through @wrenn/sdk, with the one API key the
// server runs with (so an agent sees and touches only what that key may).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { errorMessage, LIMITS } from "@wrenn/contract";
import { type ConnectionOpts, type EntryInfo, Sandbox, type SandboxInfo } from "@wrenn/sdk";
import { z } from "zod";
import { VERSION } from "../program.js";
import { runCommand } from "./run-command-tool.js";
import { failed, guarded, ok } from "./tool-results.js";

const sandboxId = z.string().min(1).describe("the sandbox's id (sb-...)");
const stringMap = z.record(z.string(), z.string());
const positiveSeconds = z.number().int().positive();

export function createWrennMcpServer(connection: ConnectionOpts): McpServer {
  const server = new McpServer(
    { name: "wrenn", version: VERSION },
    {
      instructions:
        "Wrenn sandboxes: isolated Linux machines (gVisor) to run code in. Create one with " +
        "create_sandbox, run shell commands with run_command, move files with write_file, " +
        "read_file and list_files, and kill_sandbox when done (they also end on their timeout).",
    },
  );
  const connect = (id: string) => Sandbox.connect(id, connection);

  server.registerTool(
    "create_sandbox",
    {
      title: "Create a sandbox",
      description: "Starts a new sandbox and returns its id once it is ready for commands.",
      inputSchema: {
        template: z.string().min(1).optional().describe("template name (default: base)"),
        timeoutSeconds: positiveSeconds
          .optional()
          .describe(
            "lifetime in seconds before the sandbox is destroyed (server default if unset)",
          ),
        metadata: stringMap.optional().describe("your own labels, to find it with list_sandboxes"),
      },
    },
    (args) =>
      guarded(async () => {
        const box = await Sandbox.create({
          ...connection,
          template: args.template,
          metadata: args.metadata,
          timeoutMs: args.timeoutSeconds === undefined ? undefined : args.timeoutSeconds * 1000,
        });
        return ok(describe(await box.getInfo()));
      }),
  );

  server.registerTool(
    "run_command",
    {
      title: "Run a command",
      description:
        "Runs a shell line (bash -l -c) in a sandbox and returns stdout, stderr and exitCode " +
        "(a non-zero exit is a normal result). Output also arrives as progress notifications " +
        "while it runs, when the client asks for progress. A paused sandbox is resumed first.",
      inputSchema: {
        sandboxId,
        command: z.string().min(1).describe("the shell line, e.g. `cd /code && npm test`"),
        cwd: z.string().min(1).optional().describe("working directory (default: home)"),
        envs: stringMap.optional().describe("environment variables for this command"),
        timeoutSeconds: positiveSeconds
          .optional()
          .describe("kill the command after this long (default: no limit)"),
      },
    },
    (args, extra) => guarded(() => runCommand(args, extra, connection)),
  );

  server.registerTool(
    "read_file",
    {
      title: "Read a file",
      description: "Reads a text file (UTF-8) from a sandbox.",
      inputSchema: {
        sandboxId,
        path: z.string().min(1).describe("absolute path, or relative to home"),
      },
      annotations: { readOnlyHint: true },
    },
    (args) =>
      guarded(async () => {
        const text = await (await connect(args.sandboxId)).files.read(args.path);
        return { content: [{ type: "text", text }] };
      }),
  );

  server.registerTool(
    "write_file",
    {
      title: "Write a file",
      description:
        "Writes a text file in a sandbox (parent directories created, replaced if present).",
      inputSchema: {
        sandboxId,
        path: z.string().min(1).describe("absolute path, or relative to home"),
        content: z.string().describe("the whole file, as UTF-8 text"),
      },
    },
    (args) =>
      guarded(async () => {
        const info = await (await connect(args.sandboxId)).files.write(args.path, args.content);
        return ok({ path: info.path, bytes: Buffer.byteLength(args.content) });
      }),
  );

  server.registerTool(
    "list_files",
    {
      title: "List a directory",
      description: "Lists a directory of a sandbox: name, path, type (file, dir, symlink), size.",
      inputSchema: {
        sandboxId,
        path: z.string().min(1).describe("the directory"),
        depth: z.number().int().min(1).max(10).optional().describe("levels to descend (default 1)"),
      },
      annotations: { readOnlyHint: true },
    },
    (args) =>
      guarded(async () => {
        const box = await connect(args.sandboxId);
        const entries = await box.files.list(args.path, { depth: args.depth });
        return ok({ entries: entries.map(entry) });
      }),
  );

  server.registerTool(
    "expose_port",
    {
      title: "Expose a port",
      description:
        "The URL where a port a program in the sandbox listens on is reached from outside. " +
        "When needsApiKey is true the request must carry the API key in the X-API-Key header.",
      inputSchema: {
        sandboxId,
        port: z.number().int().min(1).max(65535).describe("the TCP port inside the sandbox"),
      },
      annotations: { readOnlyHint: true },
    },
    (args) =>
      guarded(async () => {
        const box = await connect(args.sandboxId);
        return ok({
          url: box.getUrl(args.port),
          host: box.getHost(args.port),
          // Without a wildcard domain the port is reached through the API's own route.
          needsApiKey: !box.connectionConfig.domain,
        });
      }),
  );

  server.registerTool(
    "pause_sandbox",
    {
      title: "Pause a sandbox",
      description:
        "Pauses a running sandbox, keeping its memory and files; run_command and the file " +
        "tools resume it. paused is false when it was not running.",
      inputSchema: { sandboxId },
    },
    (args) =>
      guarded(async () => {
        const paused = await Sandbox.pause(args.sandboxId, connection);
        const info = await Sandbox.getInfo(args.sandboxId, connection);
        return ok({ paused, sandboxId: info.sandboxId, state: info.state });
      }),
  );

  server.registerTool(
    "kill_sandbox",
    {
      title: "Kill a sandbox",
      description: "Destroys a sandbox and everything in it.",
      inputSchema: { sandboxId },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    (args) =>
      guarded(async () => {
        // The SDK answers false for an unknown sandbox; an agent gets the API's own error.
        if (!(await Sandbox.kill(args.sandboxId, connection))) {
          const id = args.sandboxId;
          return failed("sandbox_not_found", errorMessage("sandbox_not_found", { id }));
        }
        return ok({ killed: true, sandboxId: args.sandboxId });
      }),
  );

  server.registerTool(
    "list_sandboxes",
    {
      title: "List sandboxes",
      description: "The sandboxes of this API key that are not stopped, newest first.",
      inputSchema: {
        metadata: stringMap.optional().describe("only those with all these labels"),
      },
      annotations: { readOnlyHint: true },
    },
    (args) =>
      guarded(async () => {
        const sandboxes: ReturnType<typeof describe>[] = [];
        const paginator = Sandbox.list({
          ...connection,
          query: { metadata: args.metadata },
          limit: LIMITS.listLimit.max,
        });
        for await (const info of paginator) sandboxes.push(describe(info));
        return ok({ sandboxes });
      }),
  );

  return server;
}

/** What an agent needs of a sandbox, with dates as ISO strings. */
function describe(info: SandboxInfo) {
  return {
    sandboxId: info.sandboxId,
    templateId: info.templateId,
    state: info.state,
    metadata: info.metadata,
    startedAt: info.startedAt.toISOString(),
    endAt: info.endAt.toISOString(),
    cpuCount: info.cpuCount,
    memoryMB: info.memoryMB,
  };
}

function entry(e: EntryInfo) {
  return { name: e.name, path: e.path, type: e.type, size: e.size };
}
