import { Sandbox, type SandboxOpts } from "e2b";
import { ENVD_MODE, type EnvdWorld, IN_GVISOR, type RunningEnvd } from "./envd-world.js";
import { HostWorld } from "./host-world.js";
import { SandboxWorld } from "./sandbox-world.js";

// One harness, two places. A test file asks for "an envd I can reach, a way to run a shell
// command in its world, and its default user" and the same test body runs:
//   - on the host (project `unit`): envd is dist/envd.mjs spawned on a loopback port, its
//     default user is root, its world is the host;
//   - in gVisor (project `envd-gvisor`, WRENN_ENVD_TARGET=gvisor): envd is the one inside a
//     sandbox made from the base template by a real wrenn-agent, /init-ed by the agent with
//     default user `user`, its world is the sandbox (runsc exec).
// `world.spawnEnvd()` adds a fresh envd (nobody has called /init; default user root) in the
// same world, for tests that need a pristine one.

export { ENVD_BUNDLE } from "./host-world.js";
export { ENVD_MODE, type EnvdWorld, IN_GVISOR, type RunningEnvd };

export interface OpenedEnvd {
  world: EnvdWorld;
  envd: RunningEnvd;
}

/** The envd a test file drives, and its world. Call once in beforeAll; close the world after. */
export async function openEnvd(): Promise<OpenedEnvd> {
  if (IN_GVISOR) {
    const world = await SandboxWorld.create();
    return { world, envd: world.envd };
  }
  const world = new HostWorld();
  return { world, envd: await world.spawnEnvd() };
}

/** E2B's Sandbox pointed straight at an envd: no control-plane calls (sandboxUrl mode). */
class BareEnvdSandbox extends Sandbox {
  static attach(
    opts: SandboxOpts & { sandboxId: string; envdVersion: string; envdAccessToken?: string },
  ) {
    return new BareEnvdSandbox(opts as ConstructorParameters<typeof Sandbox>[0]);
  }
}

export function sdkSandbox(envd: RunningEnvd, accessToken?: string): Sandbox {
  return BareEnvdSandbox.attach({
    sandboxId: "wrenntest",
    envdVersion: "0.6.13",
    envdAccessToken: accessToken,
    sandboxUrl: envd.url,
    apiKey: "unused",
    requestTimeoutMs: 30_000,
  });
}

export async function initEnvd(
  envd: RunningEnvd,
  body: Record<string, unknown>,
  token?: string,
): Promise<Response> {
  return fetch(`${envd.url}/init`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { "x-access-token": token } : {}) },
    body: JSON.stringify(body),
  });
}
