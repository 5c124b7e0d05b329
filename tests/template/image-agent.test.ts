import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ERROR_CODE_HEADER } from "@wrenn/contract";
import { Process } from "@wrenn/proto/process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { templatesDir } from "../harness/paths.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { busyboxOnly, debianFrom, LoopbackRegistry } from "./oci-registry.js";

// Templates from OCI images at the host agent: skopeo + umoci from a real registry on
// loopback, envd from the host's runtime mounted read-only at /.wrenn, the image's Env,
// WorkingDir and User applied. One image has nothing but a static busybox (no bash, no libc,
// no node); the other is a Debian root (the base template's, copied).

const suffix = Math.random().toString(16).slice(2, 8);
const names = {
  busybox: `tbb-${suffix}`,
  debian: `tdeb-${suffix}`,
  missing: `tno-${suffix}`,
  private: `tpriv-${suffix}`,
};
let agent: AgentProcess;
let registry: LoopbackRegistry;
const refs: Record<string, string> = {};

async function build(
  name: string,
  fromImage: string,
  creds: { registryUsername?: string; registryPassword?: string } = {},
): Promise<string[]> {
  const phases: string[] = [];
  for await (const res of agent.client.buildTemplate({ name, fromImage, ...creds })) {
    if (res.event.case === "progress") phases.push(res.event.value.phase);
  }
  return phases;
}

beforeAll(async () => {
  registry = await LoopbackRegistry.start();
  refs.busybox = await registry.push("bb:1", (r) => busyboxOnly(r, ["work"]), {
    env: ["PATH=/bin", "GREETING=hello from the image"],
    workdir: "/work",
  });
  const base = path.join(templatesDir, "base", "current", "rootfs");
  refs.debian = await registry.push("deb:1", debianFrom(base, ["srv/app"]), {
    env: ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_MODE=debian-image"],
    workdir: "/srv/app",
  });
  agent = await AgentProcess.start({ poolSize: 0, templateRestore: false });
});

afterEach(({ task }) => {
  if (task.result?.state === "fail") console.error(agent?.output.slice(-4000));
});

afterAll(async () => {
  for (const name of Object.values(names)) {
    await agent?.client.deleteTemplate({ name }).catch(() => {});
  }
  await agent?.dispose();
  await registry?.stop();
});

function processClient(id: string) {
  const forward: Interceptor = (next) => (req) => {
    req.header.set("wrenn-forward-sandbox", id);
    req.header.set("wrenn-forward-port", "49983");
    return next(req);
  };
  return createClient(
    Process,
    createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1", interceptors: [forward] }),
  );
}

describe("a template from an image with nothing but busybox", () => {
  const id = "sb-00000e01";

  it("builds: pull, unpack, configure", async () => {
    const phases = await build(names.busybox, refs.busybox as string);
    expect(phases).toEqual(expect.arrayContaining(["resolve", "pull", "unpack", "configure"]));
    const { templates } = await agent.client.listTemplates({});
    expect(templates.find((t) => t.name === names.busybox)?.fromImage).toBe(refs.busybox);
  });

  it("runs commands as `user` (created at build) in the image's WORKDIR with its ENV", async () => {
    await agent.client.createSandbox({ sandboxId: id, template: names.busybox });
    // The SDK asks for /bin/bash, which this image lacks: its /bin/sh answers.
    const r = await execInSandbox(agent.url, id, 'echo "$GREETING"; pwd; id -un; id -u');
    expect(r).toMatchObject({
      stdout: "hello from the image\n/work\nuser\n1000\n",
      exitCode: 0,
    });
    // envd's runtime is there, read-only even for root.
    const ro = await execInSandbox(agent.url, id, "touch /.wrenn/x 2>&1; echo $?", {
      user: "root",
    });
    expect(ro.stdout.trim().split("\n").at(-1)).not.toBe("0");
  });

  it("writes and reads files", async () => {
    const r = await execInSandbox(
      agent.url,
      id,
      "echo data > ~/f.txt && cat /home/user/f.txt && ls -ln /home/user/f.txt",
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^data\n.* 1000 +1000 /);
  });

  it("opens a terminal (the SDK's /bin/bash -i -l) and runs a line typed into it", async () => {
    const client = processClient(id);
    let output = "";
    let pid = 0;
    const stream = client.start({
      process: { cmd: "/bin/bash", args: ["-i", "-l"], envs: { TERM: "xterm" } },
      pty: { size: { cols: 80, rows: 24 } },
    });
    const done = (async () => {
      for await (const res of stream) {
        const ev = res.event?.event;
        if (ev?.case === "start") pid = ev.value.pid;
        if (ev?.case === "data" && ev.value.output.case === "pty") {
          output += Buffer.from(ev.value.output.value).toString();
        }
      }
    })();
    const deadline = Date.now() + 60_000;
    while (pid === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const input = (text: string) =>
      client.sendInput({
        process: { selector: { case: "pid", value: pid } },
        input: { input: { case: "pty", value: new TextEncoder().encode(text) } },
      });
    await input("echo pty-$((40+2))\n");
    while (!output.includes("pty-42") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output).toContain("pty-42");
    await input("exit\n");
    await done;
  });

  it("a program the image does not have is named in the error", async () => {
    const client = processClient(id);
    const err = await (async () => {
      for await (const _ of client.start({ process: { cmd: "/usr/bin/python3", args: [] } })) {
        // no output expected
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).message).toContain("/usr/bin/python3 does not exist");
  });

  it("pauses (a checkpoint, /.wrenn mounted again on resume) and resumes with its files", async () => {
    await agent.client.pauseSandbox({ sandboxId: id });
    await agent.client.resumeSandbox({ sandboxId: id });
    const r = await execInSandbox(agent.url, id, "cat ~/f.txt; echo $GREETING");
    expect(r).toMatchObject({ stdout: "data\nhello from the image\n", exitCode: 0 });
  });

  it("cannot be deleted while a sandbox uses it (the sandbox is named)", async () => {
    const err = await agent.client.deleteTemplate({ name: names.busybox }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe("template_in_use");
    expect((err as ConnectError).message).toContain(id);
    await agent.client.destroySandbox({ sandboxId: id });
    await agent.client.deleteTemplate({ name: names.busybox });
    expect(await readdir(templatesDir)).not.toContain(names.busybox);
  });
});

describe("a template from a Debian image", () => {
  const id = "sb-00000e02";

  it("builds, and its sandbox has the image's ENV, WORKDIR, bash and node of its own", async () => {
    await build(names.debian, refs.debian as string);
    await agent.client.createSandbox({ sandboxId: id, template: names.debian });
    const r = await execInSandbox(
      agent.url,
      id,
      'echo "$APP_MODE"; pwd; echo "$BASH_VERSION" | cut -c1; id -un',
    );
    expect(r).toMatchObject({ stdout: "debian-image\n/srv/app\n5\nuser\n", exitCode: 0 });
    await agent.client.destroySandbox({ sandboxId: id });
  });
});

describe("a registry that wants credentials", () => {
  const auth = { username: "alice", password: `pw-${suffix}` };
  let privateRegistry: LoopbackRegistry;
  let ref: string;
  beforeAll(async () => {
    privateRegistry = await LoopbackRegistry.start(auth);
    ref = await privateRegistry.push("secret:1", (r) => busyboxOnly(r));
  });
  afterAll(() => privateRegistry?.stop());

  it("none or wrong ones: registry_auth_failed, nothing left behind", async () => {
    for (const creds of [{}, { registryUsername: "alice", registryPassword: "wrong" }]) {
      const err = await build(names.private, ref, creds).catch((e) => e);
      expect((err as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe("registry_auth_failed");
      expect(await readdir(templatesDir)).not.toContain(names.private);
    }
  });

  it("the right ones: it builds (and they are not kept in the template)", async () => {
    await build(names.private, ref, {
      registryUsername: auth.username,
      registryPassword: auth.password,
    });
    const dir = path.join(templatesDir, names.private, "current");
    const meta = await readFile(path.join(dir, "template.json"), "utf8");
    expect(meta).not.toContain(auth.password);
    await agent.client.deleteTemplate({ name: names.private });
  });
});

describe("bad images", () => {
  it("an image the registry does not have: image_not_found, nothing left behind", async () => {
    const err = await build(names.missing, `${registry.host}/nope:1`).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe("image_not_found");
    expect(await readdir(templatesDir)).not.toContain(names.missing);
  });

  it("a registry nobody listens on: registry_unreachable", async () => {
    const err = await build(names.missing, "127.0.0.1:9/nothing:1").catch((e) => e);
    expect((err as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe("registry_unreachable");
    expect(await readdir(templatesDir)).not.toContain(names.missing);
  });

  it("a reference that is not one: invalid_request", async () => {
    const err = await build(names.missing, "--src-creds=x:y docker://evil").catch((e) => e);
    expect((err as ConnectError).metadata.get(ERROR_CODE_HEADER)).toBe("invalid_request");
  });
});
