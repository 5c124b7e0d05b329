import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ENVD_ACCESS_TOKEN_HEADER, TEMPLATE_STEP_LIMITS } from "@wrenn/contract";
import { type EnvdClient, EnvdError } from "../envd/envd-client.js";
import type { ImageConfig } from "../templates/image-config.js";

/**
 * A template's start command (E2B's setStartCmd): started in the new sandbox through envd as
 * the template's user in its workdir, left running (envd keeps a process whose client went),
 * then its ready command is run until it exits 0, bounded; create fails with the ready
 * command's last output when it never does.
 */
export async function startTemplateCommand(
  envd: EnvdClient,
  image: ImageConfig,
  token: string | undefined,
): Promise<void> {
  const user = image.user || "user";
  const cwd = image.workdir || undefined;
  await processStart(envd, token, user, image.startCmd as string, cwd, "start_cmd", false);
  if (!image.readyCmd) return;
  const deadline = Date.now() + TEMPLATE_STEP_LIMITS.readyWaitMs;
  let last = "";
  while (Date.now() < deadline) {
    const r = await processStart(envd, token, user, image.readyCmd, cwd, undefined, true);
    if (r.exitCode === 0) return;
    last = `exit code ${r.exitCode}${r.output ? `: ${r.output.slice(-500)}` : ""}`;
    await sleep(200);
  }
  throw new EnvdError(
    `the template's ready command did not succeed within ${TEMPLATE_STEP_LIMITS.readyWaitMs / 1000} s (${image.readyCmd}): ${last}`,
  );
}

/** A Connect frame of a process event: output chunks are small; anything bigger is refused. */
const MAX_FRAME_BYTES = 1024 * 1024;
/** One start or ready-command call, whole (the ready loop is bounded separately). */
const CALL_DEADLINE_MS = 120_000;

/** envd's Process.Start (Connect JSON stream): to its end (wait), or only until it started. */
function processStart(
  envd: EnvdClient,
  token: string | undefined,
  user: string,
  cmd: string,
  cwd: string | undefined,
  tag: string | undefined,
  wait: boolean,
): Promise<{ exitCode: number; output: string }> {
  const json = Buffer.from(
    JSON.stringify({
      process: { cmd: "/bin/sh", args: ["-c", cmd], ...(cwd ? { cwd } : {}) },
      ...(tag ? { tag } : {}),
    }),
  );
  const frame = Buffer.alloc(5 + json.length);
  frame.writeUInt32BE(json.length, 1);
  json.copy(frame, 5);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: envd.host,
        port: envd.port,
        method: "POST",
        path: "/process.Process/Start",
        headers: {
          "content-type": "application/connect+json",
          "content-length": frame.length,
          authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}`,
          ...(token ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        let buf = Buffer.alloc(0);
        let output = "";
        // What answers here runs in the tenant's sandbox (its start command may even replace
        // envd): a frame that is too big or not JSON fails this create, never the agent.
        const refuse = (why: string) => {
          reject(new EnvdError(`envd's answer to ${cmd} is not a process stream: ${why}`));
          req.destroy();
        };
        res.on("data", (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 5) {
            const len = buf.readUInt32BE(1);
            if (len > MAX_FRAME_BYTES) return refuse(`a ${len}-byte frame`);
            if (buf.length < 5 + len) break;
            const flags = buf[0] as number;
            let msg: {
              event?: {
                start?: unknown;
                data?: { stdout?: string; stderr?: string };
                end?: { exitCode?: number; status?: string };
              };
              error?: { message?: string };
            };
            try {
              msg = JSON.parse(buf.subarray(5, 5 + len).toString("utf8"));
            } catch {
              return refuse("a frame that is not JSON");
            }
            if (typeof msg !== "object" || msg === null) return refuse("a frame that is no object");
            buf = buf.subarray(5 + len);
            if (flags & 2) {
              if (msg.error) reject(new EnvdError(`envd: ${msg.error.message ?? "error"}`));
              return;
            }
            const ev = msg.event;
            if (ev?.start && !wait) {
              resolve({ exitCode: 0, output: "" });
              req.destroy();
              return;
            }
            for (const chunk of [ev?.data?.stdout, ev?.data?.stderr]) {
              if (chunk && output.length < 8192) output += Buffer.from(chunk, "base64").toString();
            }
            if (ev?.end) {
              resolve({ exitCode: ev.end.exitCode ?? 0, output });
              return;
            }
          }
        });
        res.on("end", () => reject(new EnvdError(`envd ended the process stream of ${cmd}`)));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new EnvdError(`envd Process.Start ${cmd} timed out`)));
    // The socket timeout above is per idle period; a trickling answer is bounded here.
    const deadline = setTimeout(
      () =>
        req.destroy(
          new EnvdError(`envd Process.Start ${cmd} took over ${CALL_DEADLINE_MS / 1000} s`),
        ),
      CALL_DEADLINE_MS,
    );
    deadline.unref();
    req.on("close", () => clearTimeout(deadline));
    req.on("error", (err) => reject(err));
    req.end(frame);
  });
}
