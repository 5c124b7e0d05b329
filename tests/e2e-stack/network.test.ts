import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { e2bPortNotOpen } from "@wrenn/contract";
import { Sandbox as WrennSandbox } from "@wrenn/sdk";
import { ALL_TRAFFIC, Sandbox } from "e2b";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FakeInternet } from "../harness/fake-internet.js";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// Egress rules and preview URLs through the official E2B SDK (e2b@2.51.0), unchanged, against
// the real stack (runsc, nftables). Every destination is in a namespace this file creates (the
// fake internet, 198.18.73.0/30, plus one more address routed into it): nothing leaves the
// machine. Wrenn's own default applies (no WRENN_DEFAULT_INTERNET): no internet unless asked.

const run = promisify(execFile);
const OTHER = "198.18.74.9";
const ECHO_PORT = 9090;
const inet = new FakeInternet("wnet-inet", [OTHER], 73);
const SERVER = inet.serverIp;

/** Whether a TCP connection from inside the sandbox gets through. */
async function probe(sbx: Sandbox, ip: string, port = inet.port): Promise<string> {
  const r = await sbx.commands.run(
    `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`,
  );
  return r.stdout.trim();
}

const ECHO_SERVER = `require("net").createServer((c) => { c.on("error", () => {}); c.pipe(c); })
  .listen(${ECHO_PORT}, "0.0.0.0", () => console.log("up"));`;
/** Port 80 of the fake internet: says which Host it was asked for. */
const WEB_SERVER = `require("http").createServer((q, r) => r.end("web " + q.headers.host))
  .listen(80, "0.0.0.0", () => console.log("up"));`;

/** A plain HTTP GET of http://<name>/ from inside the sandbox (bash: the template has no curl). */
async function get(sbx: Sandbox, name: string): Promise<string> {
  const r = await sbx.commands.run(
    `exec 3<>/dev/tcp/${name}/80 || exit 0; printf 'GET / HTTP/1.0\\r\\nHost: ${name}\\r\\n\\r\\n' >&3; timeout 10 cat <&3 || true`,
  );
  return r.stdout.replaceAll("\r", "");
}

describe("network policy and preview URLs with the official E2B SDK (real agent)", () => {
  let stack: Stack;
  let user: UserKey;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string; requestTimeoutMs: number };
  let echo: ChildProcess | undefined;
  let web: ChildProcess | undefined;

  beforeAll(async () => {
    await inet.start();
    echo = spawn("ip", ["netns", "exec", "wnet-inet", process.execPath, "-e", ECHO_SERVER], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((resolve) => echo!.stdout!.once("data", resolve));
    web = spawn("ip", ["netns", "exec", "wnet-inet", process.execPath, "-e", WEB_SERVER], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((resolve) => web!.stdout!.once("data", resolve));
    // The fake internet's name server (every name is its own address) for the egress proxy,
    // and for the sandboxes' resolv.conf (their DNS is redirected to the agent's forwarder).
    stack = await Stack.start({
      poolSize: 1,
      agentEnv: { WRENN_EGRESS_DNS: SERVER, WRENN_SANDBOX_DNS: SERVER },
    });
    user = await stack.key({ name: "network user" });
    opts = { apiKey: user.key, apiUrl: stack.url, sandboxUrl: stack.url, requestTimeoutMs: 30_000 };
  });
  afterAll(async () => {
    await stack?.close();
    echo?.kill("SIGKILL");
    web?.kill("SIGKILL");
    inet.stop();
  });

  test("E2B's allow-list recipe: allowOut wins over denyOut [ALL_TRAFFIC]", async () => {
    const sbx = await Sandbox.create("base", {
      ...opts,
      allowInternetAccess: true,
      network: { allowOut: [SERVER], denyOut: [ALL_TRAFFIC] },
    });
    try {
      expect(await probe(sbx, SERVER)).toBe("open");
      expect(await probe(sbx, OTHER)).toBe("closed");
    } finally {
      await sbx.kill();
    }
  });

  test("without internet access only allowOut is reachable", async () => {
    const sbx = await Sandbox.create("base", { ...opts, network: { allowOut: [OTHER] } });
    try {
      expect(await probe(sbx, OTHER)).toBe("open");
      expect(await probe(sbx, SERVER)).toBe("closed");
      expect((await sbx.getInfo()).allowInternetAccess).toBe(false);
    } finally {
      await sbx.kill();
    }
  });

  test("updateNetwork applies at once and cuts the open connections it forbids", async () => {
    const sbx = await Sandbox.create("base", { ...opts, allowInternetAccess: true });
    try {
      expect(await probe(sbx, OTHER)).toBe("open");
      // Two connections that stay open, pinging the echo server; "cut" when one ends. Each
      // loop logs to a file read back by short commands, so what is judged is the connection,
      // not a stream held open for a minute on a loaded host.
      const hold = async (ip: string, log: string) => {
        await sbx.commands.run(
          `(exec 3<>/dev/tcp/${ip}/${ECHO_PORT} || exit 1; echo up; while echo ping >&3 && read -t 60 line <&3; do sleep 0.2; echo ok; done; echo cut) > ${log} 2>&1`,
          { background: true },
        );
        const lines = async () =>
          (await sbx.commands.run(`cat ${log}`)).stdout.split("\n").filter(Boolean);
        await waitFor(async () => (await lines()).includes("ok"), 30_000, `a connection to ${ip}`);
        return lines;
      };
      const kept = await hold(SERVER, "/tmp/kept.log");
      const doomed = await hold(OTHER, "/tmp/doomed.log");

      await sbx.updateNetwork({ allowOut: [SERVER], denyOut: [ALL_TRAFFIC] });

      let seen: string[] = [];
      await waitFor(
        async () => {
          seen = await doomed();
          return seen.includes("cut");
        },
        30_000,
        "the forbidden connection to be cut",
      ).catch((err: Error) => {
        throw new Error(`${err.message}; its last lines: ${seen.slice(-3).join(" ")}`);
      });
      const before = (await kept()).length;
      await waitFor(
        async () => {
          seen = await kept();
          return seen.length > before + 5;
        },
        30_000,
        "the allowed connection to go on",
      );
      expect(seen).not.toContain("cut");
      expect(await probe(sbx, OTHER)).toBe("closed");
      expect(await probe(sbx, SERVER)).toBe("open");
      const info = await sbx.getInfo();
      expect(info.network).toMatchObject({ allowOut: [SERVER], denyOut: ["0.0.0.0/0"] });

      // And back: internet without rules reaches everything in the fake internet again.
      await sbx.updateNetwork({ allowInternetAccess: true });
      expect(await probe(sbx, OTHER)).toBe("open");
    } finally {
      await sbx.kill();
    }
  });

  test("host names in allowOut: by HTTP Host through the egress proxy, updated live", async () => {
    const sbx = await Sandbox.create("base", { ...opts, network: { allowOut: ["allowed.test"] } });
    try {
      expect(await get(sbx, "allowed.test")).toMatch(/^HTTP\/1\.[01] 200[\s\S]*web allowed\.test$/);
      expect(await get(sbx, "denied.test")).toMatch(/^HTTP\/1\.1 403 Forbidden/);
      // The name's address itself is not opened: only TCP 80/443 by name.
      expect(await probe(sbx, SERVER)).toBe("closed");
      await sbx.updateNetwork({ allowOut: ["denied.test"] });
      expect(await get(sbx, "denied.test")).toMatch(/web denied\.test$/);
      expect(await get(sbx, "allowed.test")).toMatch(/^HTTP\/1\.1 403 Forbidden/);
      expect((await sbx.getInfo()).network).toMatchObject({ allowOut: ["denied.test"] });
    } finally {
      await sbx.kill();
    }
  });

  test("getHost(port) works on this machine with no DNS: curl and Chromium open it", async () => {
    const port = new URL(stack.url).port;
    const web = await Sandbox.create("base", opts);
    const locked = await Sandbox.create("base", {
      ...opts,
      network: { allowPublicTraffic: false },
    });
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      for (const sbx of [web, locked]) {
        await sbx.files.write(
          "/tmp/server.js",
          // Says so if a traffic token ever reaches it: the proxy must keep it.
          `require("http").createServer((q, r) => r.end("port 8080 says " + q.url + (q.headers["e2b-traffic-access-token"] ? " +token" : ""))).listen(8080);`,
        );
        await sbx.commands.run("node /tmp/server.js", { background: true });
        await waitFor(
          async () =>
            (await sbx.commands.run("curl -s localhost:8080/ || true")).stdout.includes("says"),
          20_000,
          "the server",
        );
      }
      const host = web.getHost(8080);
      expect(host).toBe(`8080-${web.sandboxId}.localhost:${port}`);

      // curl resolves *.localhost to loopback by itself (as browsers do).
      const curl = async (url: string, ...args: string[]) =>
        (await run("curl", ["-s", "-w", "\\n%{http_code}", ...args, url])).stdout;
      expect(await curl(`http://${host}/hello?x=1`)).toBe("port 8080 says /hello?x=1\n200");

      const page = await browser.newPage();
      await page.goto(`http://${host}/from-chromium`);
      expect(await page.textContent("body")).toBe("port 8080 says /from-chromium");

      // A port nothing listens on: E2B's documented 502 body.
      const closed = (await curl(`http://${web.getHost(8081)}/`)).split("\n");
      expect(closed[1]).toBe("502");
      expect(JSON.parse(closed[0]!)).toEqual(e2bPortNotOpen(web.sandboxId, 8081));

      // allowPublicTraffic: false needs the traffic token; the SDK got it at create.
      expect(locked.trafficAccessToken).toEqual(expect.any(String));
      const lockedHost = locked.getHost(8080);
      const refused = (await curl(`http://${lockedHost}/`)).split("\n");
      expect(refused[1]).toBe("403");
      expect(await curl(`http://${lockedHost}/`, "-H", "e2b-traffic-access-token: wrong")).toMatch(
        /\n403$/,
      );
      expect(
        await curl(
          `http://${lockedHost}/ok`,
          "-H",
          `e2b-traffic-access-token: ${locked.trafficAccessToken}`,
        ),
      ).toBe("port 8080 says /ok\n200");
      // envd keeps its own token check, not the traffic token's: the SDK still works.
      expect((await locked.commands.run("echo fine")).stdout).toBe("fine\n");

      // The same through /v1 and Wrenn's own SDK: the owner gets the token, others need it.
      const mine = await WrennSandbox.create("base", {
        apiKey: user.key,
        apiUrl: stack.url,
        domain: `localhost:${port}`,
        network: { allowPublicTraffic: false },
      });
      try {
        expect(mine.trafficAccessToken).toEqual(expect.any(String));
        expect((await mine.getInfo()).allowPublicTraffic).toBe(false);
        const got = await stack.call("GET", `/v1/sandboxes/${mine.sandboxId}`, { key: user.key });
        expect(got.body).toMatchObject({
          allowPublicTraffic: false,
          trafficAccessToken: mine.trafficAccessToken,
        });
        await mine.commands.run(
          `node -e 'require("http").createServer((q, r) => r.end("v1 says hi")).listen(8080)'`,
          { background: true },
        );
        const v1Host = mine.getHost(8080);
        await waitFor(
          async () => (await curl(`http://${v1Host}/`)).endsWith("\n403"),
          20_000,
          "the /v1 sandbox's port, refused without the token",
        );
        await waitFor(
          async () =>
            (await curl(
              `http://${v1Host}/`,
              "-H",
              `e2b-traffic-access-token: ${mine.trafficAccessToken}`,
            )) === "v1 says hi\n200",
          20_000,
          "the /v1 sandbox's port, with the token",
        );
      } finally {
        await mine.kill();
      }
      const open = await stack.call("GET", `/v1/sandboxes/${web.sandboxId}`, { key: user.key });
      expect(open.body).toMatchObject({ allowPublicTraffic: true, trafficAccessToken: null });
    } finally {
      await browser.close();
      await web.kill();
      await locked.kill();
    }
  });
});
