import http from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { ENVD_ACCESS_TOKEN_HEADER, ENVD_PORT } from "@wrenn/contract";

export { ENVD_PORT };

export interface EnvdInit {
  envVars?: Record<string, string>;
  accessToken?: string;
  defaultUser?: string;
  defaultWorkdir?: string;
}

export class EnvdError extends Error {}

/**
 * The agent's own calls to envd inside a sandbox. gVisor cannot checkpoint a TCP endpoint in
 * TIME_WAIT, and the side that closes first gets it, so envd must never close first: every
 * request here keeps its connection alive (no `Connection: close`), and envd's quiesce resets
 * whatever is still open.
 */
export class EnvdClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly host: string,
    readonly port = ENVD_PORT,
  ) {}

  /**
   * Polls /health until envd answers 204; connection refusals are expected meanwhile. Each
   * attempt may wait longer than the one before (2 s, 4 s, ... up to what is left of the
   * budget): a booting envd that takes a few seconds to answer its first request, as Node under
   * ptrace does on a busy host, was otherwise abandoned every time and the boot failed with
   * "timed out" although it was merely slow.
   */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    let attemptMs = 2000;
    while (Date.now() < deadline) {
      const left = deadline - Date.now();
      try {
        const res = await this.request("GET", "/health", undefined, {}, Math.min(attemptMs, left));
        if (res.status === 204) return;
        last = `status ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
        if (/timed out/.test(last)) attemptMs = Math.min(attemptMs * 2, 30_000);
      }
      await sleep(10);
    }
    throw new EnvdError(
      `envd at ${this.host}:${this.port} did not become healthy in ${Math.round(timeoutMs / 1000)} s: ${last}`,
    );
  }

  async init(body: EnvdInit, currentToken?: string): Promise<void> {
    const res = await this.request(
      "POST",
      "/init",
      JSON.stringify(body),
      currentToken ? { [ENVD_ACCESS_TOKEN_HEADER]: currentToken } : {},
    );
    if (res.status !== 204 && res.status !== 200) {
      throw new EnvdError(`envd /init answered ${res.status}: ${res.body.slice(0, 200)}`);
    }
  }

  /** Writes a file inside the sandbox as `user` (envd's /files, octet-stream). */
  async writeFile(path: string, content: string, user: string, token?: string): Promise<void> {
    const res = await this.request(
      "POST",
      `/files?${new URLSearchParams({ path, username: user })}`,
      content,
      {
        ...(token ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {}),
        "content-type": "application/octet-stream",
      },
    );
    if (res.status !== 200) {
      throw new EnvdError(
        `envd could not write ${path} (${res.status}): ${res.body.slice(0, 200)}`,
      );
    }
  }

  /**
   * Reads a text file inside the sandbox as `user`, whole (at most `maxBytes`, else it
   * throws); undefined when it does not exist.
   */
  async readFile(
    path: string,
    user: string,
    token?: string,
    maxBytes = 4 * 1024 * 1024,
  ): Promise<string | undefined> {
    const res = await this.request(
      "GET",
      `/files?${new URLSearchParams({ path, username: user })}`,
      undefined,
      token ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {},
      10_000,
      false,
      maxBytes,
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) {
      throw new EnvdError(`envd could not read ${path} (${res.status}): ${res.body.slice(0, 200)}`);
    }
    return res.body;
  }

  /**
   * Asks envd to close its listener and reset its connections before a checkpoint; then
   * closes our own connection first, so no socket inside the sandbox lingers.
   */
  async quiesce(token?: string): Promise<void> {
    const res = await this.request(
      "POST",
      "/_wrenn/quiesce",
      "",
      token ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {},
      10_000,
      true,
    );
    if (res.status !== 204) {
      throw new EnvdError(`envd refused to quiesce (${res.status}): ${res.body.slice(0, 200)}`);
    }
  }

  /**
   * Runs a login shell that does nothing, as `user` (envd's Process.Start, Connect JSON), so
   * that the first command a caller runs does not pay for what a first spawn loads: the
   * shell, its libraries and start-up files into gVisor's caches, envd's spawn path into
   * V8's. Pooled sandboxes and the template checkpoint do it before anyone waits on them.
   */
  async warmUp(user = "user"): Promise<void> {
    const json = Buffer.from(
      JSON.stringify({ process: { cmd: "/bin/bash", args: ["-l", "-c", "true"] } }),
    );
    const frame = Buffer.alloc(5 + json.length);
    frame.writeUInt32BE(json.length, 1);
    json.copy(frame, 5);
    const res = await this.request(
      "POST",
      "/process.Process/Start",
      frame,
      {
        "content-type": "application/connect+json",
        authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}`,
      },
      60_000,
    );
    // The stream's last frame carries an error, if any; an exit status comes in an "end" event.
    if (res.status !== 200 || !res.body.includes('"end"')) {
      throw new EnvdError(`envd warm-up failed (${res.status}): ${res.body.slice(0, 200)}`);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string>,
    timeoutMs = 10_000,
    closeAfter = false,
    /**
     * Bodies are read up to this many bytes. Undefined: 64 KiB, the rest dropped (answers kept
     * for messages); a number: a longer body fails the request rather than arrive cut.
     */
    wholeUpTo?: number,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let socket: Socket | undefined;
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: closeAfter ? new http.Agent({ keepAlive: true }) : this.agent,
          headers: {
            ...(body !== undefined
              ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
              : {}),
            ...headers,
          },
          timeout: timeoutMs,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (wholeUpTo !== undefined && text.length + d.length > wholeUpTo) {
              res.destroy(new EnvdError(`envd ${method} ${path}: body over ${wholeUpTo} bytes`));
            } else if (wholeUpTo !== undefined || text.length < 65536) {
              text += d;
            }
          });
          res.on("end", () => {
            if (closeAfter) socket?.destroy();
            resolve({ status: res.statusCode ?? 0, body: text });
          });
          res.on("error", reject);
        },
      );
      req.on("socket", (s) => {
        socket = s;
      });
      req.on("timeout", () => req.destroy(new EnvdError(`envd ${method} ${path} timed out`)));
      req.on("error", reject);
      req.end(body);
    });
  }
}
