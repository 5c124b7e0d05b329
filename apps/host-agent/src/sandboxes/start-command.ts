import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ENVD_ACCESS_TOKEN_HEADER, TEMPLATE_STEP_LIMITS } from "@wrenn/contract";
import { type EnvdClient, EnvdError } from "../envd/envd-client.js";
import type { ImageConfig } from "../templates/image-config.js";

/** The start command ended with a failure before its ready command passed. */
export class StartCommandFailed extends EnvdError {
  constructor(
    message: string,
    readonly exitCode: number,
    /** Its last output lines. */
    readonly tail: string,
  ) {
    super(message);
  }
}

/**
 * A template's start command (E2B's setStartCmd): started in the sandbox through envd as the
 * template's user in its workdir, left running (envd keeps a process whose client went),
 * then its ready command is run until it exits 0, bounded; fails with the ready command's
 * last output when it never does, or with the start command's exit code and last lines when
 * that ended with a failure first. `graceMs`: without a ready command, how long an early
 * failure is waited for (the build's check; a create does not wait).
 */
export async function startTemplateCommand(
  envd: EnvdClient,
  image: ImageConfig,
  token: string | undefined,
  graceMs = 0,
): Promise<void> {
  const startCmd = image.startCmd as string;
  const started = await processStart(
    envd,
    token,
    userOf(image),
    startCmd,
    cwdOf(image),
    "start_cmd",
  );
  let ended: ProcessEnd | undefined;
  // A cut stream is no failure: the process lives on in envd.
  const watching = started.ended.then(
    (r) => {
      ended = r;
    },
    () => {},
  );
  const checkStart = () => {
    if (!ended || ended.exitCode === 0) return;
    const tail = lastLines(ended.output);
    throw new StartCommandFailed(
      `the template's start command (${startCmd}) failed: exit code ${ended.exitCode}${tail ? `\n${tail}` : ""}`,
      ended.exitCode,
      tail,
    );
  };
  try {
    if (!image.readyCmd) {
      if (graceMs > 0) await Promise.race([watching, sleep(graceMs)]);
      checkStart();
      return;
    }
    await waitTemplateReady(envd, image, token, checkStart);
  } finally {
    started.close();
  }
}

/**
 * Runs the template's ready command until it exits 0, bounded. After a restore of a checkpoint
 * taken with the service up, it passes at its first run.
 */
export async function waitTemplateReady(
  envd: EnvdClient,
  image: ImageConfig,
  token: string | undefined,
  /** Called before each try: throws to stop waiting (the start command failed). */
  before: () => void = () => {},
): Promise<void> {
  if (!image.readyCmd) return;
  const deadline = Date.now() + TEMPLATE_STEP_LIMITS.readyWaitMs;
  let last = "";
  while (Date.now() < deadline) {
    before();
    const run = await processStart(envd, token, userOf(image), image.readyCmd, cwdOf(image));
    const r = await run.ended;
    if (r.exitCode === 0) return;
    last = `exit code ${r.exitCode}${r.output ? `: ${r.output.slice(-500)}` : ""}`;
    await sleep(200);
  }
  before();
  throw new EnvdError(
    `the template's ready command did not succeed within ${TEMPLATE_STEP_LIMITS.readyWaitMs / 1000} s (${image.readyCmd}): ${last}`,
  );
}

function userOf(image: ImageConfig): string {
  return image.user || "user";
}

function cwdOf(image: ImageConfig): string | undefined {
  return image.workdir || undefined;
}

/** The last lines of a command's output, as a failed build step shows them. */
function lastLines(output: string): string {
  return output.trimEnd().split("\n").slice(-8).join("\n");
}

interface ProcessEnd {
  exitCode: number;
  output: string;
}

/** A process envd started: its end (and output) to come, and a way to stop following it. */
interface Started {
  ended: Promise<ProcessEnd>;
  /** Stops following it; the process lives on in envd. */
  close(): void;
}

/** A Connect frame of a process event: output chunks are small; anything bigger is refused. */
const MAX_FRAME_BYTES = 1024 * 1024;
/** One start or ready-command call, whole (the ready loop is bounded separately). */
const CALL_DEADLINE_MS = 120_000;

/**
 * envd's Process.Start (Connect JSON stream): resolves once the process started (or rejects
 * when it could not), then follows it to its end until closed.
 */
function processStart(
  envd: EnvdClient,
  token: string | undefined,
  user: string,
  cmd: string,
  cwd: string | undefined,
  tag?: string,
): Promise<Started> {
  const json = Buffer.from(
    JSON.stringify({
      process: { cmd: "/bin/sh", args: ["-c", cmd], ...(cwd ? { cwd } : {}) },
      ...(tag ? { tag } : {}),
    }),
  );
  const frame = Buffer.alloc(5 + json.length);
  frame.writeUInt32BE(json.length, 1);
  json.copy(frame, 5);
  return new Promise((resolveStart, rejectStart) => {
    let started = false;
    let settled = false;
    let resolveEnd: (e: ProcessEnd) => void = () => {};
    let rejectEnd: (err: Error) => void = () => {};
    const ended = new Promise<ProcessEnd>((res, rej) => {
      resolveEnd = res;
      rejectEnd = rej;
    });
    // Nobody may be waiting for the end (a start command followed only for a while).
    ended.catch(() => {});
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      if (started) rejectEnd(err);
      else rejectStart(err);
    };
    const finish = (end: ProcessEnd) => {
      if (settled) return;
      settled = true;
      if (!started) {
        started = true;
        resolveStart({ ended, close: () => req.destroy() });
      }
      resolveEnd(end);
    };
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
          fail(new EnvdError(`envd's answer to ${cmd} is not a process stream: ${why}`));
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
              if (msg.error) fail(new EnvdError(`envd: ${msg.error.message ?? "error"}`));
              return;
            }
            const ev = msg.event;
            if (ev?.start && !started) {
              started = true;
              resolveStart({ ended, close: () => req.destroy() });
            }
            // The last 8 KiB: a failure's reason is at the end.
            for (const chunk of [ev?.data?.stdout, ev?.data?.stderr]) {
              if (chunk) output = (output + Buffer.from(chunk, "base64").toString()).slice(-8192);
            }
            if (ev?.end) {
              // Connect JSON leaves out a zero.
              finish({ exitCode: ev.end.exitCode ?? 0, output });
              return;
            }
          }
        });
        res.on("end", () => fail(new EnvdError(`envd ended the process stream of ${cmd}`)));
        res.on("error", fail);
      },
    );
    req.on("timeout", () => req.destroy(new EnvdError(`envd Process.Start ${cmd} timed out`)));
    // The socket timeout above is per idle period; a trickling answer is bounded here, and a
    // process followed past it is no longer followed (it runs on).
    const deadline = setTimeout(
      () =>
        req.destroy(
          new EnvdError(`envd Process.Start ${cmd} took over ${CALL_DEADLINE_MS / 1000} s`),
        ),
      CALL_DEADLINE_MS,
    );
    deadline.unref();
    req.on("close", () => {
      clearTimeout(deadline);
      fail(new EnvdError(`envd's stream of ${cmd} closed`));
    });
    req.on("error", fail);
    req.end(frame);
  });
}
