import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type EnvdWorld,
  initEnvd,
  openEnvd,
  type RunningEnvd,
  sdkSandbox,
} from "./testing/envd-harness.js";

// Access-token rules: /init sets the token; afterwards every route but GET /health and
// /files (header or signature) needs X-Access-Token, and /init itself needs the token.

const TOKEN = "tok-3f1e2d9c8b7a";
let world: EnvdWorld;
let envd: RunningEnvd;
let dir: string;

const listBody = JSON.stringify({});
const rpcList = (headers: Record<string, string> = {}) =>
  fetch(`${envd.url}/process.Process/List`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: listBody,
  });

beforeAll(async () => {
  // In a sandbox the agent has already called /init, without a token.
  ({ world, envd } = await openEnvd());
  dir = await world.scratchDir("envd-auth-", envd.defaultUser);
  await world.writeFile(join(dir, "f.txt"), "secret", 0o644);
});

afterAll(async () => {
  await world?.close();
});

describe("access token", () => {
  test("until a token is set nothing needs one; the version is a semver >= 0.6.0", async () => {
    expect((await rpcList()).status).toBe(200);
    expect((await fetch(`${envd.url}/envs`)).status).toBe(200);
    const { version } = (await (await fetch(`${envd.url}/version`)).json()) as { version: string };
    const [major, minor] = version.split(".").map(Number);
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect((major ?? 0) > 0 || (minor ?? 0) >= 6).toBe(true);
    expect(await envd.logs()).toContain(`"version":"${version}"`);
  });

  test("after /init: RPC, /envs and /metrics need the header; /health does not", async () => {
    expect((await initEnvd(envd, { accessToken: TOKEN })).status).toBe(204);
    expect((await rpcList()).status).toBe(401);
    expect((await rpcList({ "x-access-token": "wrong" })).status).toBe(401);
    expect((await rpcList({ "x-access-token": TOKEN })).status).toBe(200);
    expect((await fetch(`${envd.url}/envs`)).status).toBe(401);
    expect((await fetch(`${envd.url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${envd.url}/metrics`, { headers: { "x-access-token": TOKEN } });
    expect(Object.keys((await metrics.json()) as object)).toEqual(
      expect.arrayContaining([
        "ts",
        "cpu_count",
        "cpu_used_pct",
        "mem_total",
        "mem_used",
        "disk_total",
      ]),
    );
    expect((await fetch(`${envd.url}/version`)).status).toBe(401);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });

  test("/files needs the header or a signature", async () => {
    const url = `${envd.url}/files?path=${encodeURIComponent(join(dir, "f.txt"))}`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { "x-access-token": "wrong" } })).status).toBe(401);
    const ok = await fetch(url, { headers: { "x-access-token": TOKEN } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("secret");
  });

  test("the SDK without the token is refused, with it works", async () => {
    await expect(sdkSandbox(envd).commands.run("true")).rejects.toThrow();
    expect((await sdkSandbox(envd, TOKEN).commands.run("echo ok")).stdout).toBe("ok\n");
  });

  test("a later /init must carry the token as X-Access-Token (none of its body is read before)", async () => {
    expect((await initEnvd(envd, { envVars: { A: "1" } })).status).toBe(401);
    expect((await initEnvd(envd, { accessToken: "other", envVars: { A: "1" } })).status).toBe(401);
    // The token in the body alone would need the body read first: refused.
    expect((await initEnvd(envd, { accessToken: TOKEN, envVars: { A: "2" } })).status).toBe(401);
    expect((await initEnvd(envd, { accessToken: TOKEN, envVars: { A: "2" } }, TOKEN)).status).toBe(
      204,
    );
    const rotated = "tok-rotated-0001";
    expect((await initEnvd(envd, { accessToken: rotated }, TOKEN)).status).toBe(204);
    expect((await rpcList({ "x-access-token": TOKEN })).status).toBe(401);
    expect((await rpcList({ "x-access-token": rotated })).status).toBe(200);
    expect((await initEnvd(envd, { accessToken: TOKEN }, rotated)).status).toBe(204);
  });

  test("unknown /init fields are ignored; an unknown default user is refused", async () => {
    const res = await initEnvd(
      envd,
      { accessToken: TOKEN, timestamp: "2024-01-01T00:00:00Z", hyperloopIP: "x" },
      TOKEN,
    );
    expect(res.status).toBe(204);
    expect(res.headers.get("x-envd-version")).toMatch(/^\d+\.\d+\.\d+$/);
    expect(
      (await initEnvd(envd, { accessToken: TOKEN, defaultUser: "no-such-user-q" }, TOKEN)).status,
    ).toBe(400);
  });

  test("without the token, a large body is answered 401 before it is sent, and envd keeps serving", async () => {
    for (const path of ["/init", "/process.Process/List", "/files?path=/tmp/x"]) {
      // Headers and the first 64 KiB of a declared 2 MiB body; the rest is never sent. Before
      // the fix envd read (and waited for) the body first, so no answer came.
      const answer = await new Promise<string>((resolve, reject) => {
        const url = new URL(envd.url);
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST ${path} HTTP/1.1\r\nhost: envd\r\ncontent-type: application/json\r\ncontent-length: ${2 * 1024 * 1024}\r\n\r\n`,
          );
          socket.write(Buffer.alloc(64 * 1024, "a"));
        });
        let text = "";
        socket.on("data", (chunk) => {
          text += chunk.toString("latin1");
          if (text.includes("\r\n\r\n")) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.on("error", reject);
      });
      expect(answer, path).toMatch(/^HTTP\/1\.1 401 /);
    }
    expect((await rpcList({ "x-access-token": TOKEN })).status).toBe(200);
  });

  test("tokens never reach the logs", async () => {
    const logs = await envd.logs();
    // Not vacuous: the /init calls above were logged.
    expect(logs).toContain('"tokenSet":true');
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain("tok-rotated-0001");
  });
});

describe("default user and workdir from /init", () => {
  test("defaultUser and defaultWorkdir apply to processes and relative paths", async () => {
    const local = await world.spawnEnvd();
    try {
      expect((await initEnvd(local, { defaultUser: "nobody", defaultWorkdir: "/" })).status).toBe(
        204,
      );
      const s = sdkSandbox(local);
      expect((await s.commands.run("id -un; pwd")).stdout).toBe("nobody\n/\n");
      // Naming a user explicitly still wins.
      expect((await s.commands.run("id -un", { user: "root" as never })).stdout).toBe("root\n");
    } finally {
      await local.stop();
    }
  });
});
