// How Wrenn's sandboxes read in E2B's API: states, response bodies, visibility. Shared by every
// E2B route, whichever path (v1 or v2) a given SDK release sends.
import { E2B_STATE_GROUPS, e2bStateOf } from "@wrenn/contract";
import { trafficTokenOf } from "../../secrets/traffic-token.js";
import { egressProxyField } from "../../service/egress-proxy-seal.js";
import { invalidRequest, ServiceError, sandboxNotFound } from "../../service/errors.js";
import type {
  Principal,
  SandboxState,
  Sandbox as WrennSandbox,
} from "../../service/sandbox-types.js";
import type { ApiDeps } from "../api-deps.js";

// E2B knows two states; the grouping is the contract's (E2B_STATE_GROUPS): everything alive
// that is not suspended reads as running.
export const E2B_RUNNING: readonly SandboxState[] = E2B_STATE_GROUPS.running;
export const E2B_PAUSED: readonly SandboxState[] = E2B_STATE_GROUPS.paused;
export const E2B_VISIBLE: readonly SandboxState[] = [...E2B_RUNNING, ...E2B_PAUSED];
const CLIENT_ID = "wrenn";

export const e2bState = e2bStateOf;

/**
 * A feature of E2B's API this server does not have. 501 rather than 404: E2B's SDK reads a 404
 * as "sandbox not found", which would send its user looking for the wrong problem.
 */
export const notImplemented = (feature: string) =>
  new ServiceError("not_implemented", `${feature} is not implemented by this Wrenn server`);

export function listed(s: WrennSandbox) {
  return {
    sandboxID: s.id,
    templateID: s.template,
    alias: s.template,
    clientID: CLIENT_ID,
    cpuCount: s.resources.vcpus,
    memoryMB: s.resources.memoryMb,
    diskSizeMB: s.resources.diskMb,
    // Only sandboxes that never started lack a version; E2B's SDK needs a semver here.
    envdVersion: s.envdVersion ?? "0.0.0",
    startedAt: s.startedAt.toISOString(),
    endAt: s.endAt.toISOString(),
    state: e2bState(s.state),
    metadata: s.metadata,
    volumeMounts: [],
  };
}

/**
 * E2B's `Sandbox` body (create, connect, resume). `domain` is where this server's sandbox ports
 * are (WRENN_DOMAIN, else `localhost:<port>`: see PreviewDomain), so the SDK's getHost(port)
 * names this server. Clients still set E2B_SANDBOX_URL for envd: from a domain the SDK only
 * builds https URLs. `trafficAccessToken` only when the sandbox's ports are not public.
 */
export function created(s: WrennSandbox & { envdAccessToken: string }, domain: string | undefined) {
  return {
    sandboxID: s.id,
    templateID: s.template,
    alias: s.template,
    clientID: CLIENT_ID,
    envdVersion: s.envdVersion ?? "0.0.0",
    envdAccessToken: s.envdAccessToken,
    ...(s.network.allowPublicTraffic === false
      ? { trafficAccessToken: trafficTokenOf(s.envdAccessToken) }
      : {}),
    domain: domain ?? null,
  };
}

/** E2B's `SandboxDetail` (GET /sandboxes/{id}). */
export function detail(s: WrennSandbox & { envdAccessToken: string }, domain: string | undefined) {
  return {
    ...listed(s),
    envdAccessToken: s.envdAccessToken,
    domain: domain ?? null,
    allowInternetAccess: s.allowInternet,
    network: {
      allowOut: s.network.allowOut,
      denyOut: s.network.denyOut,
      allowPublicTraffic: s.network.allowPublicTraffic !== false,
      ...egressProxyField(s.network.egressProxy),
      // As written: placeholders, never the secrets' values.
      ...(s.network.rules ? { rules: s.network.rules } : {}),
    },
    lifecycle: {
      onTimeout: s.autoPause ? ("pause" as const) : ("kill" as const),
      autoResume: s.autoResume,
    },
  };
}

export function parseStates(values: string[] | undefined): SandboxState[] {
  if (values === undefined) return [...E2B_VISIBLE];
  const states = new Set<SandboxState>();
  for (const value of values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean)) {
    if (value === "running") for (const s of E2B_RUNNING) states.add(s);
    else if (value === "paused") for (const s of E2B_PAUSED) states.add(s);
    else
      throw invalidRequest(
        `state must be running or paused, got ${JSON.stringify(value.slice(0, 40))}`,
      );
  }
  return [...states];
}

/**
 * The E2B API has no error state and never shows dead sandboxes: they are "not found", as an
 * ended E2B sandbox is. A failed one says why in the message (Wrenn's /v1 has the state).
 */
export async function visible(deps: ApiDeps, principal: Principal, id: string) {
  const sandbox = await deps.sandboxes.get(principal, id);
  if (sandbox.state === "error") {
    throw new ServiceError(
      "sandbox_not_found",
      `sandbox ${id} is no longer running: it failed (${sandbox.errorReason ?? "failed"}): ${sandbox.error ?? "no detail"}; see GET /v1/sandboxes/${id}`,
    );
  }
  if (!E2B_VISIBLE.includes(sandbox.state)) throw sandboxNotFound(id);
  return sandbox;
}
