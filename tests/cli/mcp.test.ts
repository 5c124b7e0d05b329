import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { isolatedEnv, WRENN_MAIN } from "./wrenn-cli.js";

// `wrenn mcp` driven by the MCP SDK's own client, over stdio and streamable HTTP, against the
// real stack: every tool, progress notifications, tool errors with Wrenn's codes, key scoping.
const TOOLS = [
  "create_sandbox",
  "run_command",
  "read_file",
  "write_file",
  "list_files",
  "expose_port",
  "pause_sandbox",
  "kill_sandbox",
  "list_sandboxes",
];
// Sandboxes start slowly on a shared machine: never let the client's clock fail a test.
const CALL = { timeout: 280_000, resetTimeoutOnProgress: true };

describe("wrenn mcp", () => {
  let stack: Stack;
  let user: UserKey;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    user = await stack.key({ name: "mcp-agent" });
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
  });
  afterAll(async () => {
    for (const child of children) child.kill("SIGTERM");
    await stack?.close();
  });

  async function call(client: Client, name: string, args: Record<string, unknown>) {
    return (await client.callTool({ name, arguments: args }, undefined, CALL)) as CallToolResult;
  }
  const data = (r: CallToolResult) => r.structuredContent as Record<string, unknown>;
  const text = (r: CallToolResult) =>
    r.content.map((c) => (c.type === "text" ? c.text : "")).join("");

  /** The agent's whole round: what both transports must do the same. */
  async function scenario(client: Client, label: string): Promise<string> {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    const run = tools.find((t) => t.name === "run_command");
    expect(run?.inputSchema.required).toEqual(["sandboxId", "command"]);

    const created = await call(client, "create_sandbox", {
      timeoutSeconds: 600,
      metadata: { via: label },
    });
    expect(created.isError, text(created)).toBeFalsy();
    const id = data(created).sandboxId as string;
    expect(id).toMatch(/^sb-[0-9a-f]{8}$/);
    expect(data(created)).toMatchObject({ state: "running", templateId: "base" });

    // Output as progress notifications while it runs, and the whole of it in the result.
    const progress: Progress[] = [];
    const ran = (await client.callTool(
      {
        name: "run_command",
        arguments: {
          sandboxId: id,
          command:
            'echo "line1 $GREETING"; echo early >&2; sleep 1; echo "line2 $GREETING"; echo oops >&2; pwd; exit 3',
          cwd: "/tmp",
          envs: { GREETING: "hello" },
        },
      },
      undefined,
      { ...CALL, onprogress: (p) => void progress.push(p) },
    )) as CallToolResult;
    expect(ran.isError, text(ran)).toBeFalsy();
    expect(data(ran)).toMatchObject({
      stdout: "line1 hello\nline2 hello\n/tmp\n",
      stderr: "early\noops\n",
      exitCode: 3,
    });
    // Only what was printed well before the end is checked: the MCP SDK's client dispatches
    // notifications a microtask late and drops those read in the same chunk as the response
    // (modelcontextprotocol/typescript-sdk#2580), which the server cannot prevent.
    const streamed = progress.map((p) => p.message ?? "").join("");
    expect(streamed).toContain("[stdout] line1 hello\n");
    expect(streamed).toContain("[stderr] early\n");
    const counts = progress.map((p) => p.progress);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));

    const content = `from ${label}: ünïcode ✓\n`;
    const wrote = await call(client, "write_file", {
      sandboxId: id,
      path: "/tmp/mcp/note.txt",
      content,
    });
    expect(wrote.isError, text(wrote)).toBeFalsy();
    expect(data(wrote)).toMatchObject({
      path: "/tmp/mcp/note.txt",
      bytes: Buffer.byteLength(content),
    });
    const read = await call(client, "read_file", { sandboxId: id, path: "/tmp/mcp/note.txt" });
    expect(read.isError, text(read)).toBeFalsy();
    expect(text(read)).toBe(content);

    const listed = await call(client, "list_files", { sandboxId: id, path: "/tmp/mcp" });
    expect(data(listed).entries).toEqual([
      {
        name: "note.txt",
        path: "/tmp/mcp/note.txt",
        type: "file",
        size: Buffer.byteLength(content),
      },
    ]);

    const port = await call(client, "expose_port", { sandboxId: id, port: 8080 });
    expect(port.isError, text(port)).toBeFalsy();
    expect(data(port)).toEqual({
      url: `${stack.url}/v1/sandboxes/${id}/ports/8080`,
      host: `${new URL(stack.url).host}/v1/sandboxes/${id}/ports/8080`,
      needsApiKey: true,
    });

    const all = await call(client, "list_sandboxes", { metadata: { via: label } });
    expect((data(all).sandboxes as { sandboxId: string }[]).map((s) => s.sandboxId)).toEqual([id]);

    // Unknown sandboxes: tool errors with the API's code, and the server keeps serving.
    for (const [name, args] of [
      ["run_command", { sandboxId: "sb-0000dead", command: "true" }],
      ["read_file", { sandboxId: "sb-0000dead", path: "/etc/hostname" }],
      ["kill_sandbox", { sandboxId: "sb-0000dead" }],
    ] as const) {
      const failed = await call(client, name, args);
      expect(failed.isError, name).toBe(true);
      expect(data(failed).error).toMatchObject({ code: "sandbox_not_found" });
      expect(text(failed)).toMatch(/^sandbox_not_found: /);
    }
    const missing = await call(client, "read_file", { sandboxId: id, path: "/tmp/mcp/nope" });
    expect(missing.isError).toBe(true);
    expect(data(missing).error).toMatchObject({ code: "file_not_found" });
    return id;
  }

  async function kill(client: Client, id: string): Promise<void> {
    const killed = await call(client, "kill_sandbox", { sandboxId: id });
    expect(data(killed)).toEqual({ killed: true, sandboxId: id });
    const info = await stack.call("GET", `/v1/sandboxes/${id}`, { key: user.key });
    expect(info.status, info.text).toBe(200);
    expect((info.body as { state: string }).state, info.text).toBe("stopped");
  }

  test("over stdio (node packages/cli/dist/bin/wrenn.js mcp)", async () => {
    const client = new Client({ name: "wrenn-test", version: "1.0.0" });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [WRENN_MAIN, "mcp"],
      env,
      stderr: "pipe",
    });
    await client.connect(transport);
    try {
      expect(client.getServerVersion()?.name).toBe("wrenn");
      const id = await scenario(client, "stdio");
      await kill(client, id);
    } finally {
      await client.close();
    }
  });

  test("over streamable HTTP on 127.0.0.1, scoped to its key, pause keeps files", async () => {
    const child = spawn(process.execPath, [WRENN_MAIN, "mcp", "--http", "--port", "0"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr);
        if (m?.[1]) resolve(m[1]);
      });
      child.once("exit", (code) => reject(new Error(`wrenn mcp exited ${code}: ${stderr}`)));
    });

    // A page elsewhere must not drive it through DNS rebinding: a foreign Host is refused.
    const foreign = await new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "POST",
          headers: {
            host: "evil.example",
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "x", version: "1" },
          },
        }),
      );
    });
    expect(foreign).toBe(403);

    // A sandbox of another key (the admin's) is invisible to this server.
    const other = await stack.call("POST", "/v1/sandboxes", { body: { timeoutSeconds: 600 } });
    expect(other.status).toBe(201);
    const otherId = (other.body as { id: string }).id;
    expect(otherId).toMatch(/^sb-[0-9a-f]{8}$/);

    const client = new Client({ name: "wrenn-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    try {
      const id = await scenario(client, "http");
      const everything = await call(client, "list_sandboxes", {});
      const ids = (data(everything).sandboxes as { sandboxId: string }[]).map((s) => s.sandboxId);
      expect(ids).toContain(id);
      expect(ids).not.toContain(otherId);
      const foreignRead = await call(client, "read_file", {
        sandboxId: otherId,
        path: "/etc/hostname",
      });
      expect(foreignRead.isError).toBe(true);
      expect(data(foreignRead).error).toMatchObject({ code: "sandbox_not_found" });

      const paused = await call(client, "pause_sandbox", { sandboxId: id });
      expect(paused.isError, text(paused)).toBeFalsy();
      expect(data(paused)).toMatchObject({ paused: true, sandboxId: id, state: "paused" });
      // The file tools resume it, and what was written before the pause is still there.
      const back = await call(client, "read_file", { sandboxId: id, path: "/tmp/mcp/note.txt" });
      expect(text(back)).toBe("from http: ünïcode ✓\n");
      await kill(client, id);
    } finally {
      await client.close();
      // Gone before the stack closes: a destroy still in flight when the agent stops leaks.
      await stack.call("DELETE", `/v1/sandboxes/${otherId}`);
      for (let i = 0; i < 600; i++) {
        const got = await stack.call("GET", `/v1/sandboxes/${otherId}`);
        if ((got.body as { state?: string }).state === "stopped") break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    expect(stdout).toBe("");
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (c) => resolve(c));
    });
    expect(code).toBe(0);
  });
});
