import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { busyboxOnly, LoopbackRegistry } from "./oci-registry.js";

// Build steps at the host agent: RUN, COPY, ENV, WORKDIR and USER run on the template's root
// inside a gVisor sandbox (no Docker, no chroot), a start command whose ready check create
// waits for, and a failing step that fails the build with its exit code and leaves nothing.

const suffix = Math.random().toString(16).slice(2, 8);
const names = { ok: `tst-${suffix}`, bad: `tsf-${suffix}`, child: `tsc-${suffix}` };
let agent: AgentProcess;
let registry: LoopbackRegistry;
let image: string;
let context: Buffer;

async function build(req: Record<string, unknown>): Promise<string[]> {
  const lines: string[] = [];
  for await (const res of agent.client.buildTemplate(req)) {
    if (res.event.case === "progress") {
      lines.push(`${res.event.value.phase} ${res.event.value.message}`);
    }
  }
  return lines;
}

beforeAll(async () => {
  registry = await LoopbackRegistry.start();
  image = await registry.push("steps:1", (r) => busyboxOnly(r), { env: ["PATH=/bin"] });
  // The context as the E2B SDK uploads it: a gzip tar of paths relative to the context dir.
  const dir = await mkdtemp(path.join(tmpdir(), "wrenn-ctx-"));
  await mkdir(path.join(dir, "app", "lib"), { recursive: true });
  await writeFile(path.join(dir, "app", "main.sh"), "echo main\n");
  await writeFile(path.join(dir, "app", "lib", "x.txt"), "x\n");
  await promisify(execFile)("tar", ["-czf", path.join(dir, "ctx.tgz"), "-C", dir, "app"]);
  context = await readFile(path.join(dir, "ctx.tgz"));
  await rm(dir, { recursive: true, force: true });
  agent = await AgentProcess.start({ poolSize: 0, templateRestore: false });
});

afterEach(({ task }) => {
  if (task.result?.state === "fail") console.error(agent?.output.slice(-4000));
});

afterAll(async () => {
  for (const name of [names.child, names.ok, names.bad]) {
    await agent?.client.deleteTemplate({ name }).catch(() => {});
  }
  await agent?.dispose();
  await registry?.stop();
});

describe("build steps", () => {
  const id = "sb-00000e51";

  it("runs each step on the root being built, with its user, workdir and env", async () => {
    const log = await build({
      name: names.ok,
      fromImage: image,
      steps: [
        { type: "RUN", args: ["echo root-was-here > /etc/marker; id -u > /etc/run-uid", "root"] },
        { type: "WORKDIR", args: ["/app"] },
        { type: "ENV", args: ["FOO", "bar baz", "N", "1"] },
        { type: "RUN", args: ['echo "$FOO" > foo.txt; id -un > who.txt; pwd > where.txt'] },
        { type: "COPY", args: ["app", "/app/src/", "", "0750"], files: context },
        { type: "USER", args: ["root"] },
        { type: "RUN", args: ["id -un > /tmp/last-user"] },
        { type: "USER", args: ["user"] },
      ],
      startCmd: "echo started > /tmp/started; sleep 600",
      readyCmd: "test -f /tmp/started",
    });
    expect(log.join("\n")).toContain("step-4 [4/8] RUN");
    await agent.client.createSandbox({ sandboxId: id, template: names.ok });
    const r = await execInSandbox(
      agent.url,
      id,
      "cat /etc/marker /etc/run-uid foo.txt who.txt where.txt /tmp/last-user /tmp/started; pwd; id -un; echo $N; cat src/main.sh src/lib/x.txt; stat -c '%a %U' src/main.sh",
    );
    expect(r).toMatchObject({
      exitCode: 0,
      stdout:
        "root-was-here\n0\nbar baz\nuser\n/app\nroot\nstarted\n/app\nuser\n1\necho main\nx\n750 user\n",
    });
  });

  it("builds on top of a template of the host", async () => {
    await agent.client.destroySandbox({ sandboxId: id });
    await build({
      name: names.child,
      fromTemplate: names.ok,
      steps: [{ type: "RUN", args: ["cat /etc/marker > child.txt"] }],
    });
    await agent.client.createSandbox({ sandboxId: id, template: names.child });
    const r = await execInSandbox(agent.url, id, "cat child.txt; pwd; echo $FOO");
    expect(r).toMatchObject({ exitCode: 0, stdout: "root-was-here\n/app\nbar baz\n" });
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("a failing step fails the build with its number, exit code and output, and leaves nothing", async () => {
    const err = await build({
      name: names.bad,
      fromImage: image,
      steps: [
        { type: "RUN", args: ["echo fine"] },
        { type: "RUN", args: ["echo about to fail; exit 7"] },
        { type: "RUN", args: ["echo never"] },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    const message = (err as ConnectError).rawMessage;
    expect(message).toContain("step 2 (RUN echo about to fail; exit 7) failed: exit code 7");
    expect(message).toContain("about to fail");
    const { templates } = await agent.client.listTemplates({});
    expect(templates.map((t) => t.name)).not.toContain(names.bad);
  });

  it("refuses an unknown step type and a COPY source outside the context", async () => {
    for (const steps of [
      [{ type: "ADD", args: ["x", "/y"] }],
      [{ type: "COPY", args: ["../etc", "/y"], files: context }],
    ]) {
      const err = await build({ name: names.bad, fromImage: image, steps }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as ConnectError).rawMessage, JSON.stringify(steps)).toMatch(
        /unsupported step type "ADD"|relative path inside the build context/,
      );
    }
  });
});
