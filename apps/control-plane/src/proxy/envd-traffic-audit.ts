import type { IncomingMessage } from "node:http";
import { Transform } from "node:stream";
import { fromBinary, fromJson } from "@bufbuild/protobuf";
import { type StartRequest, StartRequestSchema, StartResponseSchema } from "@wrenn/proto/process";
import type { AuditLog } from "../service/audit-log.js";
import { COMPRESSED_FLAG, END_STREAM_FLAG, EnvelopeReader } from "./connect-envelopes.js";

/** Whose traffic it is: the sandbox's owner (envd token holders) or an API key. */
export interface TrafficOwner {
  sandboxId: string;
  ownerId: string;
  apiKeyId: string | null;
  actor: "proxy" | "api";
  via: "e2b" | "signed-url" | "port";
}

export interface Observation {
  /** Sits between the client's request body and the agent. */
  requestTap?: Transform;
  onResponse(response: IncomingMessage): void;
}

type Codec = "json" | "proto";

function codecOf(contentType: string | undefined): Codec | null {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/connect+json") return "json";
  if (type === "application/connect+proto") return "proto";
  return null;
}

function userOf(request: IncomingMessage): string | null {
  const match = /^Basic\s+(\S+)$/i.exec(String(request.headers.authorization ?? ""));
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  return decoded.slice(0, Math.max(0, decoded.indexOf(":"))).slice(0, 64) || null;
}

const display = (cmd: string, args: string[]) => {
  const line = [cmd, ...args].join(" ");
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
};

/**
 * Watches envd traffic that passes through the proxy, for the audit trail: process starts (with
 * their exit code and output bytes) and /files transfers (with their size). It only reads
 * copies of what flows; the traffic itself is untouched and never waits for it.
 */
export function observeEnvdTraffic(
  request: IncomingMessage,
  url: string,
  owner: TrafficOwner,
  audit: AuditLog,
): Observation | undefined {
  const path = url.split("?")[0];
  if (path === "/process.Process/Start" && request.method === "POST") {
    return observeStart(request, owner, audit);
  }
  if (path === "/files" && (request.method === "GET" || request.method === "POST")) {
    return observeFiles(request, url, owner, audit);
  }
  return undefined;
}

function observeStart(request: IncomingMessage, owner: TrafficOwner, audit: AuditLog): Observation {
  const began = performance.now();
  const codec = codecOf(request.headers["content-type"]);
  let start: StartRequest | undefined;
  const reader = new EnvelopeReader(
    (flags, payload) => {
      if (start || flags & (COMPRESSED_FLAG | END_STREAM_FLAG) || !codec) return;
      try {
        start =
          codec === "json"
            ? fromJson(StartRequestSchema, JSON.parse(payload.toString("utf8")), {
                ignoreUnknownFields: true,
              })
            : fromBinary(StartRequestSchema, payload);
      } catch {
        // Not ours to judge: envd answers the malformed request.
      }
    },
    4 * 1024 * 1024,
  );
  const requestTap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!start) reader.push(chunk);
      done(null, chunk);
    },
  });

  return {
    requestTap,
    onResponse(response) {
      const bytes = { stdout: 0, stderr: 0, pty: 0 };
      let pid: number | null = null;
      let exit: { exitCode: number; status: string } | null = null;
      let streamError: string | null = null;
      const responseCodec = codecOf(response.headers["content-type"]);
      const events = new EnvelopeReader((flags, payload) => {
        if (flags & COMPRESSED_FLAG) return;
        if (flags & END_STREAM_FLAG) {
          try {
            const end = JSON.parse(payload.toString("utf8")) as { error?: { message?: string } };
            if (end.error) streamError = String(end.error.message ?? "stream error").slice(0, 500);
          } catch {}
          return;
        }
        try {
          const message =
            responseCodec === "json"
              ? fromJson(StartResponseSchema, JSON.parse(payload.toString("utf8")), {
                  ignoreUnknownFields: true,
                })
              : fromBinary(StartResponseSchema, payload);
          const event = message.event?.event;
          if (event?.case === "start") pid = event.value.pid;
          else if (event?.case === "data" && event.value.output.case)
            bytes[event.value.output.case] += event.value.output.value.byteLength;
          else if (event?.case === "end")
            exit = { exitCode: event.value.exitCode, status: event.value.status };
        } catch {}
      });
      if (response.statusCode === 200 && responseCodec) {
        response.on("data", (chunk: Buffer) => events.push(chunk));
      }
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const cmd = start?.process?.cmd ?? null;
        void audit.record({
          actor: owner.actor,
          ownerId: owner.ownerId,
          apiKeyId: owner.apiKeyId,
          action: start?.pty ? "sandbox.terminal" : "sandbox.exec",
          sandboxId: owner.sandboxId,
          outcome: exit ? "ok" : "error",
          durationMs: performance.now() - began,
          detail: {
            via: owner.via,
            mode: start?.pty ? "pty" : "e2b",
            command: cmd === null ? null : display(cmd, start?.process?.args ?? []),
            envNames: Object.keys(start?.process?.envs ?? {}),
            cwd: start?.process?.cwd ?? null,
            user: userOf(request),
            pid,
            exitCode: (exit as { exitCode: number } | null)?.exitCode ?? null,
            status: (exit as { status: string } | null)?.status ?? null,
            httpStatus: response.statusCode,
            ...(streamError ? { error: streamError } : {}),
            ...(!exit && !streamError ? { error: "stream closed before the process ended" } : {}),
            stdoutBytes: bytes.stdout,
            stderrBytes: bytes.stderr,
            ptyBytes: bytes.pty,
          },
        });
      };
      response.once("end", finish);
      response.once("close", finish);
    },
  };
}

function observeFiles(
  request: IncomingMessage,
  url: string,
  owner: TrafficOwner,
  audit: AuditLog,
): Observation {
  const began = performance.now();
  const query = new URLSearchParams(url.slice(url.indexOf("?") + 1));
  const upload = request.method === "POST";
  let sent = 0;
  const requestTap = upload
    ? new Transform({
        transform(chunk: Buffer, _encoding, done) {
          sent += chunk.byteLength;
          done(null, chunk);
        },
      })
    : undefined;
  return {
    requestTap,
    onResponse(response) {
      let received = 0;
      if (!upload && response.statusCode === 200) {
        response.on("data", (chunk: Buffer) => {
          received += chunk.byteLength;
        });
      }
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const ok = response.statusCode === 200 && response.complete;
        void audit.record({
          actor: owner.actor,
          ownerId: owner.ownerId,
          apiKeyId: owner.apiKeyId,
          action: upload ? "sandbox.file.upload" : "sandbox.file.download",
          sandboxId: owner.sandboxId,
          outcome: ok ? "ok" : "error",
          durationMs: performance.now() - began,
          detail: {
            via: owner.via,
            path: query.get("path"),
            user: query.get("username") || userOf(request),
            // Bytes as they crossed the proxy: compressed when the body was (see encoding).
            bytes: upload ? sent : received,
            encoding: String(
              (upload
                ? request.headers["content-encoding"]
                : response.headers["content-encoding"]) ?? "identity",
            ),
            httpStatus: response.statusCode,
            ...(upload && !query.get("path")
              ? { note: "multipart upload: paths are in the parts" }
              : {}),
          },
        });
      };
      response.once("end", finish);
      response.once("close", finish);
    },
  };
}
