import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Process } from "@wrenn/proto/process";

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** envd's end status: "exit status N", or "signal: killed" for a process ended by SIGKILL. */
  status: string;
}

/**
 * Runs a command inside a sandbox the way the control plane will: envd's process service,
 * reached through the host agent's forwarder.
 */
export async function execInSandbox(
  agentUrl: string,
  sandboxId: string,
  command: string,
  opts: { token?: string; user?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const headers: Record<string, string> = {
    "wrenn-forward-sandbox": sandboxId,
    "wrenn-forward-port": "49983",
  };
  if (opts.token) headers["x-access-token"] = opts.token;
  if (opts.user) headers.authorization = `Basic ${Buffer.from(`${opts.user}:`).toString("base64")}`;
  return execAt(agentUrl, command, headers, opts.timeoutMs);
}

/**
 * Runs a command through envd's process service at baseUrl (envd itself, or anything that
 * forwards to it given `headers`).
 */
export async function execAt(
  baseUrl: string,
  command: string,
  headers: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<ExecResult> {
  const forward: Interceptor = (next) => (req) => {
    for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
    return next(req);
  };
  const client = createClient(
    Process,
    createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [forward] }),
  );
  let stdout = "";
  let stderr = "";
  let exitCode = -1;
  let status = "";
  const dec = new TextDecoder();
  for await (const res of client.start(
    { process: { cmd: "/bin/bash", args: ["-l", "-c", command] }, stdin: false },
    { timeoutMs },
  )) {
    const ev = res.event?.event;
    if (ev?.case === "data") {
      const out = ev.value.output;
      if (out.case === "stdout") stdout += dec.decode(out.value, { stream: true });
      if (out.case === "stderr") stderr += dec.decode(out.value, { stream: true });
    } else if (ev?.case === "end") {
      exitCode = ev.value.exitCode;
      status = ev.value.status;
    }
  }
  return { stdout, stderr, exitCode, status };
}
