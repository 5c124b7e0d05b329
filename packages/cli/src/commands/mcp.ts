import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { usageError } from "../exit-codes.js";

const DEFAULT_PORT = 3917;

export function registerMcp(program: Command): void {
  program
    .command("mcp")
    .description("Serve Wrenn to AI agents over the Model Context Protocol (stdio by default)")
    .option("--http", "serve streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio")
    .option("--port <n>", `port for --http (default ${DEFAULT_PORT}; 0 picks a free one)`, port)
    .addHelpText(
      "after",
      `
Tools: create_sandbox, run_command, read_file, write_file, list_files, expose_port,
pause_sandbox, kill_sandbox, list_sandboxes. They act with this CLI's API key (see
\`wrenn --help\` for where it comes from), so an agent sees only that key's sandboxes.

Examples:
  wrenn mcp                       # stdio, for an MCP client's "command": "wrenn", "args": ["mcp"]
  wrenn mcp --http --port 3917    # then point the client at http://127.0.0.1:3917/mcp`,
    )
    .action(async (o: { http?: boolean; port?: number }, command: Command) => {
      if (o.port !== undefined && !o.http) throw usageError("--port goes with --http");
      // The key is checked now: a server that cannot do anything should say so and stop.
      const connection = (await contextOf(command)).sdk();
      // The MCP SDK and zod are loaded only here: every other command starts without them.
      const [{ createWrennMcpServer }, { serveMcpHttp }, { StdioServerTransport }] =
        await Promise.all([
          import("../mcp/wrenn-mcp-server.js"),
          import("../mcp/mcp-http.js"),
          import("@modelcontextprotocol/sdk/server/stdio.js"),
        ]);
      const newServer = () => createWrennMcpServer(connection);
      if (o.http) {
        const http = await serveMcpHttp(newServer, o.port ?? DEFAULT_PORT);
        process.stderr.write(`wrenn mcp: serving MCP at ${http.url}\n`);
        stopOnSignals(() => http.close());
        await http.closed;
        return;
      }
      // stdout belongs to the protocol: nothing else may be written there from here on.
      const server = newServer();
      const stdinEnded = new Promise<void>((resolve) => {
        process.stdin.once("end", resolve);
        process.stdin.once("close", resolve);
      });
      await server.connect(new StdioServerTransport());
      stopOnSignals(() => server.close());
      await stdinEnded;
      await server.close();
    });
}

function stopOnSignals(stop: () => Promise<void>): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void stop().finally(() => process.exit(0));
    });
  }
}

function port(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 65535) {
    throw usageError(`--port must be 0-65535, got ${JSON.stringify(value)}`);
  }
  return n;
}
