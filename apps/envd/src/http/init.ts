import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log/logger.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { lookupUser } from "../users/passwd.js";
import { ENVD_VERSION } from "../version.js";
import { BodyTooLargeError, readSmallBody } from "./body.js";
import { refuse } from "./refuse.js";
import { jsonError } from "./respond.js";

const MAX_INIT_BODY = 1024 * 1024;

interface InitRequest {
  envVars?: Record<string, string>;
  accessToken?: string;
  defaultUser?: string;
  defaultWorkdir?: string;
}

class InitError extends Error {}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new InitError(`'${key}' must be a string`);
  return value;
}

// Only the fields envd acts on are read; E2B's orchestrator sends more (timestamp,
// volumeMounts, hyperloopIP, ...), and unknown fields are ignored.
function parseInit(raw: Buffer): InitRequest {
  if (raw.length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new InitError("request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InitError("request body must be a JSON object");
  }
  const obj = body as Record<string, unknown>;
  const out: InitRequest = {
    accessToken: optionalString(obj, "accessToken"),
    defaultUser: optionalString(obj, "defaultUser"),
    defaultWorkdir: optionalString(obj, "defaultWorkdir"),
  };
  const envVars = obj.envVars;
  if (envVars !== undefined && envVars !== null) {
    if (typeof envVars !== "object" || Array.isArray(envVars)) {
      throw new InitError("'envVars' must be an object of strings");
    }
    const vars: Record<string, string> = {};
    for (const [key, value] of Object.entries(envVars)) {
      if (typeof value !== "string") throw new InitError(`envVars.${key} must be a string`);
      if (key === "" || key.includes("=") || key.includes("\0") || value.includes("\0")) {
        throw new InitError(`invalid environment variable '${key}'`);
      }
      vars[key] = value;
    }
    out.envVars = vars;
  }
  return out;
}

/**
 * POST /init: the host agent hands the sandbox its environment, default user and workdir and
 * the access token. Once a token is set, only a caller sending it as X-Access-Token may call
 * /init again (E2B's envd also takes it from the body; envd here reads no body before it
 * knows the caller).
 */
export async function handleInit(
  req: IncomingMessage,
  res: ServerResponse,
  state: SandboxState,
  log: Logger,
): Promise<void> {
  res.setHeader("x-envd-version", ENVD_VERSION);
  // The caller's token was checked before this (server.ts): nothing of the body is read for
  // a caller without it.
  let init: InitRequest;
  try {
    init = parseInit(await readSmallBody(req, MAX_INIT_BODY));
  } catch (error) {
    if (error instanceof BodyTooLargeError) return refuse(req, res, 413, error.message);
    jsonError(res, 400, (error as Error).message);
    return;
  }
  if (init.defaultUser !== undefined && init.defaultUser !== "" && !lookupUser(init.defaultUser)) {
    jsonError(res, 400, `unknown default user '${init.defaultUser}'`);
    return;
  }
  if (init.envVars !== undefined) state.envVars = init.envVars;
  // As in E2B: an authorised /init without a token clears it.
  state.token.set(init.accessToken);
  if (init.defaultUser) state.defaultUser = init.defaultUser;
  if (init.defaultWorkdir) state.defaultWorkdir = init.defaultWorkdir;
  log.info(
    {
      envVars: Object.keys(state.envVars).length,
      tokenSet: state.token.isSet(),
      defaultUser: state.defaultUser,
      defaultWorkdir: state.defaultWorkdir,
    },
    "initialised",
  );
  res.writeHead(204, { "cache-control": "no-store" });
  res.end();
}
