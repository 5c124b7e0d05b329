import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Socks5TestServer,
  socks5ServerIn,
} from "../../apps/host-agent/src/network/egress/socks5-test-server.js";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { FakeInternet } from "../harness/fake-internet.js";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// network.rules on a real sandbox (runsc, envd, the agent's egress proxy) through the official
// E2B SDK: the agent installs the sandbox's CA through envd, curl, Python and Node inside trust
// it, and the server in the fake internet (198.18.79.0/30, every name resolves to it) sees the
// header; the value is nowhere in the sandbox. Nothing leaves the machine. The first case writes
// the value literally; the second names a secret from /secrets, whose value is then nowhere on
// disk in plaintext either (the database keeps it sealed).

const run = promisify(execFile);
const inet = new FakeInternet("wrul-inet", [], 79);
const SERVER = inet.serverIp;
const VALUE = "sk-e2e-header-7d41c09e";
/** The SOCKS5 proxy's password (egressProxy): sealed in the database, in the agent's memory. */
const SOCKS_PASSWORD = "socks-pass-e2e-3c9a71f0";

/** HTTPS (and HTTP) on the fake internet: what it saw of Host and X-Api-Key. */
const WEB = `
const [cert, key] = process.argv.slice(1);
const fs = require("fs");
const answer = (q, r) => r.end("seen " + q.headers.host + " key=" + (q.headers["x-api-key"] ?? "-") + "\\n");
let up = 0;
const ready = () => { if (++up === 2) console.log("up"); };
require("https").createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, answer).listen(443, "0.0.0.0", ready);
require("http").createServer(answer).listen(80, "0.0.0.0", ready);
`;

describe("header rules on a real sandbox (official E2B SDK, real agent)", () => {
  let stack: Stack;
  let user: UserKey;
  let dir: string;
  let web: ChildProcess | undefined;
  let socks: Socks5TestServer | undefined;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string; requestTimeoutMs: number };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wrenn-e2e-rules-"));
    const f = (n: string) => join(dir, n);
    await run("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-days", "1", "-subj", "/CN=Wrenn e2e upstream CA"],
      ...["-keyout", f("ca.key"), "-out", f("ca.pem")],
    ]);
    await run("openssl", [
      ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-subj", "/CN=api.test", "-keyout", f("server.key"), "-out", f("server.csr")],
    ]);
    await writeFile(f("ext.cnf"), "subjectAltName=DNS:api.test,DNS:plain.test\n");
    await run("openssl", [
      ...["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key")],
      ...["-CAcreateserial", "-days", "1", "-extfile", f("ext.cnf"), "-out", f("server.pem")],
    ]);
    await inet.start();
    web = spawn(
      "ip",
      ["netns", "exec", "wrul-inet", process.execPath, "-e", WEB, f("server.pem"), f("server.key")],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((resolve) => web!.stdout!.once("data", resolve));
    // The user's own SOCKS5 proxy, in the stand-in internet, with its own name table.
    socks = await socks5ServerIn(
      "wrul-inet",
      SERVER,
      1080,
      { "api.test": SERVER, "plain.test": SERVER },
      { username: "ana", password: SOCKS_PASSWORD },
    );
    stack = await Stack.start({
      poolSize: 0,
      agentEnv: {
        WRENN_EGRESS_DNS: SERVER,
        WRENN_SANDBOX_DNS: SERVER,
        WRENN_EGRESS_UPSTREAM_CA: f("ca.pem"),
      },
    });
    user = await stack.key({ name: "rules user" });
    opts = { apiKey: user.key, apiUrl: stack.url, sandboxUrl: stack.url, requestTimeoutMs: 60_000 };
  });
  afterAll(async () => {
    await stack?.close();
    await socks?.close();
    web?.kill("SIGKILL");
    inet.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("curl, Python and Node inside trust the sandbox CA; the server sees the header", async () => {
    const sbx = await Sandbox.create("base", {
      ...opts,
      network: {
        allowOut: ["api.test", "plain.test"],
        rules: { "api.test": [{ transform: { headers: { "X-Api-Key": VALUE } } }] },
      },
    });
    try {
      const sh = async (cmd: string) =>
        (await sbx.commands.run(cmd, { timeoutMs: 60_000 })).stdout.trim();
      expect(await sh("curl -sS --max-time 20 https://api.test/")).toBe(
        `seen api.test key=${VALUE}`,
      );
      expect(await sh("curl -sS --max-time 20 http://api.test/")).toBe(
        `seen api.test key=${VALUE}`,
      );
      expect(
        await sh(
          `python3 -c "import urllib.request; print(urllib.request.urlopen('https://api.test/').read().decode().strip())"`,
        ),
      ).toBe(`seen api.test key=${VALUE}`);
      expect(
        await sh(
          `node -e "fetch('https://api.test/').then(r => r.text()).then(t => console.log(t.trim()))"`,
        ),
      ).toBe(`seen api.test key=${VALUE}`);
      // A name without rules: the real server's certificate (not in the sandbox's trust store).
      const plain = await sbx.commands
        .run("curl -sS --max-time 20 https://plain.test/", { timeoutMs: 60_000 })
        .catch((e: { stderr?: string }) => ({ stdout: "", stderr: e.stderr ?? String(e) }));
      expect(plain.stdout).not.toContain("seen");
      expect(await sh("curl -sS --max-time 20 --cacert /dev/null -k https://plain.test/")).toBe(
        "seen plain.test key=-",
      );

      // The value is nowhere in the sandbox: environment, processes, files. The shell gets it
      // base64-encoded, so its own command line (in ps) does not hold it.
      const b64 = Buffer.from(VALUE).toString("base64");
      const inside = await sh(
        `P=$(echo ${b64} | base64 -d); env; ps auxww; grep -rIlF -- "$P" /etc /root /home /tmp /usr/local /var /opt 2>/dev/null; true`,
      );
      expect(inside).toMatch(/PATH=/);
      expect(inside).not.toContain(VALUE);
      // Nor on the agent's disk (records, network state, the sandbox's disk with its overlay);
      // the control plane's database holds the rules as written, here the literal value.
      expect(await filesHolding(stack.dataDir, VALUE)).toEqual([]);
    } finally {
      await sbx.kill();
    }
  });

  test("a secret from /secrets fills the header; its value is on no disk and in no answer", async () => {
    const SECRET = "sk-from-secrets-5be1d6a0";
    const created = await stack.call("POST", "/secrets", {
      key: user.key,
      body: { name: "upstream-key", value: SECRET },
    });
    expect(created.status, created.text).toBe(201);
    const rules = {
      "api.test": [{ transform: { headers: { "X-Api-Key": `\${e2b.secrets.upstream-key}` } } }],
    };
    // A secret the owner does not have: a clear 400, and no sandbox.
    const missing = await stack.call("POST", "/sandboxes", {
      key: user.key,
      body: {
        templateID: "base",
        network: {
          allowOut: ["api.test"],
          rules: { "api.test": [{ transform: { headers: { A: `\${e2b.secrets.nope}` } } }] },
        },
      },
    });
    expect(missing.status, missing.text).toBe(400);
    expect(missing.text).toContain("nope");

    const sbx = await Sandbox.create("base", {
      ...opts,
      network: { allowOut: ["api.test"], rules },
    });
    try {
      const out = await sbx.commands.run("curl -sS --max-time 20 https://api.test/", {
        timeoutMs: 60_000,
      });
      expect(out.stdout.trim()).toBe(`seen api.test key=${SECRET}`);
      // The sandbox's record shows the rule as written, never the value.
      const info = await stack.call("GET", `/sandboxes/${sbx.sandboxId}`, { key: user.key });
      expect(info.text).not.toContain(SECRET);
      const env = await sbx.commands.run("env; ps auxww", { timeoutMs: 60_000 });
      expect(env.stdout).not.toContain(SECRET);
      // Sealed in the database, held only in the agent's memory: no file holds it.
      expect(await filesHolding(stack.dataDir, SECRET, true)).toEqual([]);
    } finally {
      await sbx.kill();
    }
  });

  test("egressProxy set with the CLI's flags: through the user's SOCKS5 proxy, never direct; its password on no disk", async () => {
    const env = await isolatedEnv({
      WRENN_API_URL: stack.url,
      WRENN_API_KEY: user.key,
      WRENN_EGRESS_PROXY_PASSWORD: SOCKS_PASSWORD,
    });
    const proxyFlags = ["--egress-proxy", `${SERVER}:1080`, "--egress-proxy-user", "ana"];
    const created = await wrenn(
      ["sandbox", "create", "--no-internet", "--allow-out", "plain.test", ...proxyFlags],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    const sbx = await Sandbox.connect(id, opts);
    const curl = async (url: string) => {
      const r = await sbx.commands
        .run(`curl -sS --max-time 20 ${url}`, { timeoutMs: 60_000 })
        .catch((e: { exitCode?: number }) => ({ exitCode: e.exitCode ?? -1, stdout: "" }));
      return { code: r.exitCode, out: r.stdout.trim() };
    };
    try {
      let before = socks!.asked.length;
      expect(await curl("http://plain.test/")).toEqual({ code: 0, out: "seen plain.test key=-" });
      // Remote DNS: the proxy was asked for the name, after the user name and password.
      expect(socks!.asked.slice(before)).toEqual([
        { auth: "ana", ok: true },
        { connect: "plain.test", atyp: 3, port: 80 },
      ]);
      const info = await wrenn(["sandbox", "info", id, "--json"], { env });
      expect(JSON.parse(info.stdout).network.egressProxy).toEqual({
        address: `${SERVER}:1080`,
        username: "ana",
      });
      expect(info.stdout).not.toContain(SOCKS_PASSWORD);
      // Sealed in the database, in the agent's memory only: no file holds it in clear.
      expect(await filesHolding(stack.dataDir, SOCKS_PASSWORD, true)).toEqual([]);

      // A wrong password (a network update through the CLI): the proxy refuses, and the
      // request fails; it never goes direct.
      const changed = await wrenn(
        ["sandbox", "network", id, "--no-internet", "--allow-out", "plain.test", ...proxyFlags],
        { env: { ...env, WRENN_EGRESS_PROXY_PASSWORD: "not-the-password" } },
      );
      expect(changed.code, changed.stderr).toBe(0);
      before = socks!.asked.length;
      expect((await curl("http://plain.test/")).code).not.toBe(0);
      expect(socks!.asked.slice(before)).toEqual([{ auth: "ana", ok: false }]);
    } finally {
      await sbx.kill();
    }
  });

  test("a rotated secret applies at once; after kill -9 of the agent the rules and CA come back", async () => {
    const V1 = "sk-rotate-one-91c2e7d4";
    const V2 = "sk-rotate-two-0fa3b85e";
    const created = await stack.call("POST", "/secrets", {
      key: user.key,
      body: { name: "rotating-key", value: V1 },
    });
    expect(created.status, created.text).toBe(201);
    const sbx = await Sandbox.create("base", {
      ...opts,
      network: {
        allowOut: ["api.test"],
        rules: {
          "api.test": [{ transform: { headers: { "X-Api-Key": `\${e2b.secrets.rotating-key}` } } }],
        },
      },
    });
    const curl = async () =>
      (
        await sbx.commands.run("curl -sS --max-time 20 https://api.test/", { timeoutMs: 60_000 })
      ).stdout.trim();
    try {
      expect(await curl()).toBe(`seen api.test key=${V1}`);
      // The update answers once the running sandbox holds the new value: no network update.
      const rotated = await stack.call("POST", "/secrets/rotating-key", {
        key: user.key,
        body: { value: V2 },
      });
      expect(rotated.status, rotated.text).toBe(200);
      expect(await curl()).toBe(`seen api.test key=${V2}`);

      // The agent dies with the rules and the CA key in its memory only; the control plane's
      // reconciler sees the restarted agent report the sandbox's network incomplete and sends
      // the policy again (values filled in anew), and the agent installs a new CA.
      await stack.agent.kill9();
      await stack.agent.start();
      let last = "";
      await waitFor(
        async () => {
          last = await curl().catch((e: Error) => `error: ${e.message}`);
          return last === `seen api.test key=${V2}`;
        },
        180_000,
        "the header rules to be back after the agent restarted",
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last answer: ${last}`);
      });
      expect(await filesHolding(stack.dataDir, V2, true)).toEqual([]);
      expect(await filesHolding(stack.dataDir, V1, true)).toEqual([]);
    } finally {
      await sbx.kill();
    }
  });
});

/**
 * Files under `root` holding `text`, but the control plane's database unless `withDatabase`
 * (grep streams big files).
 */
async function filesHolding(root: string, text: string, withDatabase = false): Promise<string[]> {
  const exclude = withDatabase ? [] : ["--exclude-dir=pglite"];
  const r = await run("grep", ["-rlaF", ...exclude, "--", text, root]).catch(
    (e: { code?: number; stdout?: string }) => {
      if (e.code === 1) return { stdout: "" };
      throw e;
    },
  );
  return r.stdout.split("\n").filter(Boolean);
}
