import net from "node:net";
import type { ApiClient } from "@wrenn/sdk";
import type { Command } from "commander";
import WebSocket from "ws";
import { contextOf } from "../command-context.js";
import { EXIT, usageError } from "../exit-codes.js";

// `wrenn sandbox port-forward ID 8000[:LOCAL]`: a local port whose connections reach a port
// inside the sandbox. Each connection is one relay process in the sandbox, run through the
// control plane's exec WebSocket (/v1/sandboxes/{id}/exec/stream, X-API-Key): the connection's
// bytes are its stdin and stdout. Only the control plane's port is needed, no agent or sandbox
// address, and the API key decides who may, as for any exec.

/** Connects to the port on the sandbox's loopback and relays stdin/stdout (with half-close). */
export function relayCommand(port: number): string {
  const node = `const s=require("net").connect(${port},"127.0.0.1");process.stdin.pipe(s);s.pipe(process.stdout);s.on("error",e=>{process.stderr.write(String(e.message));process.exit(1)});s.on("close",()=>process.exit(0))`;
  // Without node in the image, bash's /dev/tcp (no half-close: fine for most protocols).
  const bash = `exec 3<>/dev/tcp/127.0.0.1/${port} && { cat <&3 & cat >&3; wait; }`;
  return `if command -v node >/dev/null 2>&1; then exec node -e '${node}'; else ${bash}; fi`;
}

function parsePorts(spec: string): { remote: number; local: number } {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(spec);
  const remote = Number(m?.[1]);
  const local = m?.[2] === undefined ? remote : Number(m[2]);
  if (!m || remote < 1 || remote > 65_535 || local > 65_535)
    throw usageError(`ports are REMOTE[:LOCAL] (1-65535; LOCAL 0 picks a free one), got ${spec}`);
  return { remote, local };
}

function streamUrl(api: ApiClient, id: string): string {
  const url = new URL(api.url(`/v1/sandboxes/${encodeURIComponent(id)}/exec/stream`));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** One local connection carried to the sandbox's port. */
function carry(
  socket: net.Socket,
  wsUrl: string,
  headers: Record<string, string>,
  remote: number,
): void {
  const ws = new WebSocket(wsUrl, { headers });
  const pending: Buffer[] = [];
  let started = false;
  const fail = (why: string) => {
    process.stderr.write(`wrenn: port-forward: ${why}\n`);
    socket.destroy();
    ws.terminate();
  };
  ws.on("open", () => {
    ws.send(
      JSON.stringify({
        type: "start",
        command: relayCommand(remote),
        timeoutSeconds: 0,
        stdin: true,
      }),
    );
  });
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      // First byte: 1 stdout (the connection's bytes), 2 stderr (the relay's complaint).
      if (data[0] === 1) socket.write(data.subarray(1));
      else if (data[0] === 2) process.stderr.write(`wrenn: port ${remote}: ${data.subarray(1)}\n`);
      return;
    }
    const message = JSON.parse(data.toString()) as { type: string; message?: string };
    if (message.type === "started") {
      started = true;
      for (const chunk of pending.splice(0)) ws.send(chunk);
    } else if (message.type === "exit") {
      socket.end();
      ws.close();
    } else if (message.type === "error") fail(message.message ?? "the control plane refused");
  });
  ws.on("unexpected-response", (_req, res) => fail(`the control plane answered ${res.statusCode}`));
  ws.on("error", (e) => fail(e.message));
  ws.on("close", () => socket.end());
  socket.on("data", (chunk) => {
    if (started && ws.readyState === WebSocket.OPEN) ws.send(chunk);
    else pending.push(chunk);
  });
  socket.on("end", () => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "eof" }));
  });
  socket.on("error", () => ws.close());
}

export function registerSandboxPortForward(sandbox: Command): void {
  sandbox
    .command("port-forward")
    .description("Forward a local port to a port inside a sandbox, over the control plane's port")
    .argument("<id>", "sandbox id or name")
    .argument("<ports>", "REMOTE[:LOCAL], e.g. 8000 or 8000:9000 (LOCAL 0: any free port)")
    .option("--address <address>", "local address to listen on", "127.0.0.1")
    .addHelpText(
      "after",
      `
Each connection runs a small relay in the sandbox (node, or bash's /dev/tcp) through the
control plane's exec WebSocket, so nothing but the API's address and key is needed.

Examples:
  wrenn sandbox port-forward web 8000
  wrenn sandbox port-forward sb-1a2b3c4d 5432:15432`,
    )
    .action(async (id: string, spec: string, o: { address: string }, command: Command) => {
      const { remote, local } = parsePorts(spec);
      const ctx = await contextOf(command);
      const client = ctx.client();
      // Fails here (not found, not running, wrong key) before anything listens.
      const info = await client.sandboxes.info(id);
      if (info.state !== "running") {
        process.stderr.write(`wrenn: sandbox ${info.sandboxId} is ${info.state}, not running\n`);
        process.exitCode = EXIT.error;
        return;
      }
      const wsUrl = streamUrl(client.api, info.sandboxId);
      // The SDK's headers: the API key under the contract's header name.
      const headers = client.api.headers();
      const server = net.createServer((socket) => carry(socket, wsUrl, headers, remote));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(local, o.address, resolve);
      });
      const address = server.address() as net.AddressInfo;
      process.stdout.write(
        `Forwarding ${o.address}:${address.port} -> ${info.sandboxId} port ${remote} (Ctrl-C to stop)\n`,
      );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => {
          process.exitCode = EXIT.interrupted;
          server.close();
          resolve();
        });
        process.once("SIGTERM", () => {
          server.close();
          resolve();
        });
      });
      // Connections still open would keep the process alive.
      process.exit();
    });
}
