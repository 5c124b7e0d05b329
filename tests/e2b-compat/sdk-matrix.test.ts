import * as latest from "e2b";
import * as v1_13 from "e2b-1";
import * as v2_0 from "e2b-2-0";
import * as v2_7 from "e2b-2-7";
import * as v2_45 from "e2b-2-45";
import * as v2_50 from "e2b-2-50";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";
import { startTlsFront, type TlsFront } from "./tls-front.js";

// One scenario suite, run unchanged with several released E2B JS SDKs side by side (npm aliases
// in the root package.json) against one real stack: the control plane, its proxy, the host
// agent, envd in gVisor. What each release sends is in docs/e2b-compatibility.md.
// 2.7.0 is the oldest release that takes E2B_API_URL and E2B_SANDBOX_URL; older ones (2.0.1,
// the oldest 2.x, and 1.13.2, the last 1.x) only speak https://api.<domain> and
// https://<port>-<id>.<domain>, so they run through a TLS front with E2B_DOMAIN.

/** The part of every SDK release's surface this suite uses (their types differ in details). */
interface SdkHandle {
  sandboxId: string;
  commands: {
    run(cmd: string, o?: Record<string, unknown>): Promise<CommandResult & CommandHandle>;
  };
  files: {
    write(path: string, data: string): Promise<{ path: string }>;
    read(path: string): Promise<string>;
    list(path: string): Promise<{ name: string }[]>;
  };
  pty: {
    create(o: Record<string, unknown>): Promise<{ pid: number; wait(): Promise<unknown> }>;
    sendInput(pid: number, data: Uint8Array): Promise<void>;
    kill(pid: number): Promise<boolean>;
  };
  getInfo(): Promise<{ state?: string; metadata: Record<string, string>; sandboxId: string }>;
  /** true when it was running; 2.7 returns nothing. */
  kill(o?: Record<string, unknown>): Promise<boolean | undefined>;
  isRunning(): Promise<boolean>;
  getHost(port: number): string;
}
interface CommandResult {
  exitCode: number;
  stdout: string;
}
interface CommandHandle {
  pid: number;
  wait(): Promise<CommandResult>;
}
interface SdkModule {
  Sandbox: {
    create(template: string, o: Record<string, unknown>): Promise<SdkHandle>;
    connect(id: string, o: Record<string, unknown>): Promise<SdkHandle>;
    kill(id: string, o: Record<string, unknown>): Promise<boolean>;
    getInfo(id: string, o: Record<string, unknown>): Promise<unknown>;
    list(o: Record<string, unknown>): {
      hasNext: boolean;
      nextItems(): Promise<{ sandboxId: string; state: string }[]>;
    };
  };
  NotFoundError: new (...args: never[]) => Error;
  TimeoutError: new (...args: never[]) => Error;
}

interface Release {
  name: string;
  sdk: SdkModule;
  /** Pauses a sandbox (betaPause before 2.18). */
  pause(s: SdkHandle, o: Record<string, unknown>): Promise<unknown>;
  /** Releases that probe /health when a stream drops and then say the sandbox was killed. */
  reportsKilled: boolean;
  /** Releases that send Sandbox.create({ mcp }). */
  mcp: boolean;
}

const asModule = (m: unknown) => m as SdkModule;
type Pausable = {
  pause?: (o?: unknown) => Promise<unknown>;
  betaPause?: (o?: unknown) => Promise<unknown>;
};
// Instance methods of older releases take the connection options again.
const pause = (s: SdkHandle, o: Record<string, unknown>) => {
  const p = s as unknown as Pausable;
  return p.pause ? p.pause(o) : p.betaPause!(o);
};

const RELEASES: Release[] = [
  { name: "2.7.0", sdk: asModule(v2_7), pause, reportsKilled: false, mcp: false },
  { name: "2.45.0", sdk: asModule(v2_45), pause, reportsKilled: true, mcp: true },
  { name: "2.50.0", sdk: asModule(v2_50), pause, reportsKilled: true, mcp: true },
  { name: "2.51.0", sdk: asModule(latest), pause, reportsKilled: true, mcp: true },
];

const NAME = "wrenn.test";
let DOMAIN: string;
let stack: Stack;
let front: TlsFront;
let key: string;
let opts: Record<string, unknown>;

beforeAll(async () => {
  front = await startTlsFront(NAME);
  // The domain carries the front's port, so https://api.<domain> reaches it.
  DOMAIN = `${NAME}:${front.port}`;
  stack = await Stack.start({ poolSize: 2, domain: DOMAIN });
  front.target(stack.url);
  const created = await stack.call("POST", "/v1/api-keys", {
    body: { name: "e2b matrix", format: "e2b" },
  });
  key = (created.body as { key: string }).key;
  // The form E2B SDK 2.30-2.45 check before sending anything.
  expect(key).toMatch(/^e2b_[0-9a-f]+$/);
  opts = { apiKey: key, apiUrl: stack.url, sandboxUrl: stack.url, requestTimeoutMs: 60_000 };
});
afterAll(async () => {
  await stack?.close();
  await front?.close();
});

describe.each(RELEASES)("E2B JS SDK $name", (release) => {
  const { Sandbox } = release.sdk;
  let sbx: SdkHandle;

  test("lifecycle, commands, files, pty", async () => {
    sbx = await Sandbox.create("base", {
      ...opts,
      metadata: { release: release.name },
      envs: { FROM_CREATE: release.name },
    });
    const info = await sbx.getInfo();
    expect(info.metadata).toEqual({ release: release.name });
    // The response's domain is this server's, so ports resolve here and not at e2b.app.
    expect(sbx.getHost(8080)).toBe(`8080-${sbx.sandboxId}.${DOMAIN}`);

    const run = await sbx.commands.run('echo "$FROM_CREATE"; whoami');
    expect(run).toMatchObject({ exitCode: 0, stdout: `${release.name}\nuser\n` });

    await sbx.files.write("/home/user/compat/hello.txt", `hi from ${release.name}`);
    expect(await sbx.files.read("/home/user/compat/hello.txt")).toBe(`hi from ${release.name}`);
    expect((await sbx.files.list("/home/user/compat")).map((e) => e.name)).toEqual(["hello.txt"]);

    let output = "";
    const decoder = new TextDecoder();
    const pty = await sbx.pty.create({
      cols: 80,
      rows: 24,
      onData: (d: Uint8Array) => {
        output += decoder.decode(d, { stream: true });
      },
    });
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode("echo pty-$((6*7))\n"));
    await waitFor(() => output.includes("pty-42"), 20_000, "the pty's answer");
    expect(await sbx.pty.kill(pty.pid)).toBe(true);
  });

  test("list with a metadata filter and pages", async () => {
    const other = await Sandbox.create("base", { ...opts, metadata: { release: release.name } });
    try {
      const query = { query: { metadata: { release: release.name } }, limit: 1 };
      const paginator = Sandbox.list({ ...opts, ...query });
      const first = await paginator.nextItems();
      expect(first).toHaveLength(1);
      expect(paginator.hasNext).toBe(true);
      const second = await paginator.nextItems();
      expect(second).toHaveLength(1);
      expect(new Set([...first, ...second].map((s) => s.sandboxId))).toEqual(
        new Set([sbx.sandboxId, other.sandboxId]),
      );
    } finally {
      await Sandbox.kill(other.sandboxId, opts);
    }
  });

  test("pause, then connect resumes it", async () => {
    await release.pause(sbx, opts);
    expect(await sbx.isRunning()).toBe(false);
    const again = await Sandbox.connect(sbx.sandboxId, opts);
    expect(await again.isRunning()).toBe(true);
    expect(await again.files.read("/home/user/compat/hello.txt")).toBe(`hi from ${release.name}`);
    sbx = again;
  });

  test("errors: unknown sandbox, second kill, a missing feature, killed mid-command", async () => {
    await expect(Sandbox.getInfo("sb-00000000", opts)).rejects.toBeInstanceOf(
      release.sdk.NotFoundError,
    );
    if (release.mcp) {
      const refused = await Sandbox.create("base", {
        ...opts,
        mcp: { exa: { apiKey: "x" } },
      }).catch((e: unknown) => e as Error);
      expect(String(refused)).toMatch(/501.*MCP gateway.*not implemented/);
    }

    const sleeper = await sbx.commands.run("sleep 60", { background: true });
    const waited = sleeper.wait().then(
      () => new Error("the command finished"),
      (e: unknown) => e as Error,
    );
    expect(await sbx.kill(opts)).not.toBe(false);
    const error = await waited;
    if (release.reportsKilled) {
      expect(error).toBeInstanceOf(release.sdk.TimeoutError);
      expect(error.message).toContain("sandbox was killed or reached its end of life");
    } else {
      expect(error.message).not.toBe("the command finished");
    }
    expect(await Sandbox.kill(sbx.sandboxId, opts)).toBe(false);
  });
});

interface DomainRelease {
  name: string;
  sdk: SdkModule;
  /** 1.x lists with GET /sandboxes and returns an array; 2.x pages. */
  list(o: Record<string, unknown>): Promise<{ sandboxId: string }[]>;
}

const DOMAIN_RELEASES: DomainRelease[] = [
  {
    name: "2.0.1",
    sdk: asModule(v2_0),
    list: (o) => asModule(v2_0).Sandbox.list(o).nextItems(),
  },
  {
    name: "1.13.2",
    sdk: asModule(v1_13),
    list: (o) =>
      (asModule(v1_13).Sandbox.list as unknown as (o: unknown) => Promise<{ sandboxId: string }[]>)(
        o,
      ),
  },
];

describe.each(DOMAIN_RELEASES)("E2B JS SDK $name over https with E2B_DOMAIN", (release) => {
  const { Sandbox } = release.sdk;
  let domainOpts: Record<string, unknown>;
  let restore: () => void;

  beforeAll(() => {
    restore = front.installClient(NAME);
    domainOpts = { apiKey: key, domain: DOMAIN, requestTimeoutMs: 60_000 };
  });
  afterAll(() => restore?.());

  test("create, commands, files, list, pause and connect, kill", async () => {
    const sbx = await Sandbox.create("base", {
      ...domainOpts,
      metadata: { release: release.name },
    });
    const run = await sbx.commands.run("echo $((40+2)); whoami");
    expect(run).toMatchObject({ exitCode: 0, stdout: "42\nuser\n" });
    await sbx.files.write("/home/user/old.txt", `from ${release.name}`);
    expect(await sbx.files.read("/home/user/old.txt")).toBe(`from ${release.name}`);

    const listed = await release.list({
      ...domainOpts,
      query: { metadata: { release: release.name } },
    });
    expect(listed.map((s) => s.sandboxId)).toEqual([sbx.sandboxId]);

    const pausable = sbx as unknown as Pausable;
    if (pausable.betaPause) {
      await pausable.betaPause(domainOpts);
      expect(await sbx.isRunning()).toBe(false);
      // 2.0.1 connects by setting the timeout and, when a paused sandbox refuses, resuming it.
      const again = await Sandbox.connect(sbx.sandboxId, domainOpts);
      expect(await again.files.read("/home/user/old.txt")).toBe(`from ${release.name}`);
    }
    await Sandbox.kill(sbx.sandboxId, domainOpts);
    // These releases raise a plain SandboxError("404: ...") from getInfo.
    await expect(Sandbox.getInfo(sbx.sandboxId, domainOpts)).rejects.toThrow(/^404: /);
  });
});
