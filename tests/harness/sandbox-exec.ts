import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Process } from "@wrenn/proto/process";

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
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
  const forward: Interceptor = (next) => (req) => {
    req.header.set("wrenn-forward-sandbox", sandboxId);
    req.header.set("wrenn-forward-port", "49983");
    if (opts.token) req.header.set("x-access-token", opts.token);
    if (opts.user)
      req.header.set("authorization", `Basic ${Buffer.from(`${opts.user}:`).toString("base64")}`);
    return next(req);
  };
  const client = createClient(
    Process,
    createConnectTransport({ baseUrl: agentUrl, httpVersion: "1.1", interceptors: [forward] }),
  );
  let stdout = "";
  let stderr = "";
  let exitCode = -1;
  const dec = new TextDecoder();
  for await (const res of client.start(
    { process: { cmd: "/bin/bash", args: ["-l", "-c", command] }, stdin: false },
    { timeoutMs: opts.timeoutMs ?? 60_000 },
  )) {
    const ev = res.event?.event;
    if (ev?.case === "data") {
      const out = ev.value.output;
      if (out.case === "stdout") stdout += dec.decode(out.value, { stream: true });
      if (out.case === "stderr") stderr += dec.decode(out.value, { stream: true });
    } else if (ev?.case === "end") {
      exitCode = ev.value.exitCode;
    }
  }
  return { stdout, stderr, exitCode };
}
