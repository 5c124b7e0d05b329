import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Code, type ConnectError } from "@connectrpc/connect";
import { TEMPLATE_CACHED_MARKER } from "@wrenn/contract";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { templatesDir } from "../harness/paths.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { busyboxOnly, LoopbackRegistry } from "./oci-registry.js";

// Each build step is a cached layer keyed by its inputs (real runsc, a loopback registry):
// an identical rebuild reuses every step, a changed RUN reruns only from there, force reruns
// all, two templates with a common prefix share its layers' files on disk, and deleting one
// leaves the other bootable while the layers only it used are swept. A failed build's layers
// outlive it (the agent's retention), so the fixed rebuild starts where it failed, and two
// forced builds of the same layers at once both end bootable. COPY is keyed by its files'
// paths, modes and contents, not the archive's bytes. Layers are shared only within
// one cache scope (one owner): another scope, or none, never reuses them.

const suffix = Math.random().toString(16).slice(2, 8);
const names = {
  a: `tla-${suffix}`,
  b: `tlb-${suffix}`,
  bad: `tlf-${suffix}`,
  x1: `tlx1-${suffix}`,
  x2: `tlx2-${suffix}`,
  fix: `tlfix-${suffix}`,
  f1: `tlf1-${suffix}`,
  f2: `tlf2-${suffix}`,
  copy: `tlc-${suffix}`,
  y: `tly-${suffix}`,
  none: `tln-${suffix}`,
};
// Scopes as the control plane sends them (a hash of the owner): one per owner of this run.
const scopeHex = () => randomBytes(32).toString("hex");
const scope = scopeHex();
const layersDir = path.join(templatesDir, ".layers");
let agent: AgentProcess;
let image: string;
let registry: LoopbackRegistry;

// Every run of a RUN writes a fresh random value: the same value after a rebuild proves the
// step did not run again, a new one that it did.
const stamp = (file: string) =>
  `(cat /proc/sys/kernel/random/uuid 2>/dev/null || head -c 16 /dev/urandom | od -An -tx1) | tr -d ' \\n' > ${file}`;
const stepsA = (last = "") => [
  { type: "RUN", args: [stamp("/etc/r1"), "root"] },
  { type: "ENV", args: ["X", "1"] },
  { type: "WORKDIR", args: ["/work"] },
  { type: "RUN", args: [`${stamp("/etc/r2")}${last}`, "root"] },
];

/** Builds in this run's scope unless req names its own (or "" for none). */
async function build(req: Record<string, unknown>): Promise<string[]> {
  const lines: string[] = [];
  for await (const res of agent.client.buildTemplate({ cacheScope: scope, ...req })) {
    if (res.event.case === "progress") lines.push(res.event.value.message);
  }
  return lines;
}

/** The progress line that introduces step i of n. */
const stepLine = (log: string[], i: number, n: number) =>
  log.find((l) => l.includes(`[${i}/${n}] `)) ?? "";
const cached = (line: string) => line.startsWith(`${TEMPLATE_CACHED_MARKER} `);

const rootOf = (name: string) => path.join(templatesDir, name, "current", "rootfs");
const read = (name: string, file: string) => readFile(path.join(rootOf(name), file), "utf8");
const layersOf = async (name: string) =>
  (
    JSON.parse(
      await readFile(path.join(templatesDir, name, "current", "template.json"), "utf8"),
    ) as { layers: string[] }
  ).layers;
const layerDirs = async () =>
  (await readdir(layersDir).catch(() => [] as string[])).filter((e) => !e.startsWith("."));

beforeAll(async () => {
  registry = await LoopbackRegistry.start();
  image = await registry.push("layers:1", (r) => busyboxOnly(r), { env: ["PATH=/bin"] });
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

describe("cached build layers", () => {
  let r1 = "";
  let r2 = "";

  it("a rebuild with the same inputs reuses every step and gives the same root", async () => {
    const first = await build({ name: names.a, fromImage: image, steps: stepsA() });
    expect(first.filter(cached)).toEqual([]);
    r1 = await read(names.a, "etc/r1");
    r2 = await read(names.a, "etc/r2");
    expect(r1.length).toBeGreaterThanOrEqual(16);
    expect(r2).not.toBe(r1);

    const again = await build({ name: names.a, fromImage: image, steps: stepsA() });
    for (let i = 1; i <= 4; i++) expect(cached(stepLine(again, i, 4)), again.join("\n")).toBe(true);
    expect(await read(names.a, "etc/r1")).toBe(r1);
    expect(await read(names.a, "etc/r2")).toBe(r2);
    expect((await stat(path.join(rootOf(names.a), "work"))).isDirectory()).toBe(true);
  });

  it("a changed last RUN reruns only that step", async () => {
    const log = await build({
      name: names.a,
      fromImage: image,
      steps: stepsA("; echo v2 > /etc/v"),
    });
    expect([1, 2, 3].map((i) => cached(stepLine(log, i, 4)))).toEqual([true, true, true]);
    expect(cached(stepLine(log, 4, 4))).toBe(false);
    expect(await read(names.a, "etc/r1")).toBe(r1);
    const r2b = await read(names.a, "etc/r2");
    expect(r2b).not.toBe(r2);
    expect(await read(names.a, "etc/v")).toBe("v2\n");
    r2 = r2b;
  });

  it("force reruns every step", async () => {
    const log = await build({
      name: names.a,
      fromImage: image,
      steps: stepsA("; echo v2 > /etc/v"),
      force: true,
    });
    expect(log.filter(cached)).toEqual([]);
    const r1b = await read(names.a, "etc/r1");
    expect(r1b).not.toBe(r1);
    expect(await read(names.a, "etc/r2")).not.toBe(r2);
    r1 = r1b;
  });

  it("two templates with a common prefix share its layers on disk", async () => {
    const log = await build({
      name: names.b,
      fromImage: image,
      steps: [
        { type: "RUN", args: [stamp("/etc/r1"), "root"] },
        { type: "RUN", args: ["echo b > /etc/b", "root"] },
      ],
    });
    expect(cached(stepLine(log, 1, 2))).toBe(true);
    expect(cached(stepLine(log, 2, 2))).toBe(false);
    expect(await read(names.b, "etc/r1")).toBe(r1);
    const inode = async (name: string, file: string) =>
      (await stat(path.join(rootOf(name), file))).ino;
    // The very same file, not a copy: the prefix's bytes are on disk once.
    expect(await inode(names.b, "etc/r1")).toBe(await inode(names.a, "etc/r1"));
    expect(await inode(names.b, "bin/busybox")).toBe(await inode(names.a, "bin/busybox"));
    const [a, b] = [await layersOf(names.a), await layersOf(names.b)];
    expect(b.slice(0, 2)).toEqual(a.slice(0, 2));
  });

  it("a failing step caches nothing of its own", async () => {
    const before = await layerDirs();
    const err = await build({
      name: names.bad,
      fromImage: image,
      steps: [
        { type: "RUN", args: [stamp("/etc/r1"), "root"] },
        { type: "RUN", args: ["echo half > /etc/half; exit 3", "root"] },
      ],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ConnectError).rawMessage).toContain("failed: exit code 3");
    // No layer of the failed step (by its source: builds of other test files may share the
    // templates directory and add layers of their own meanwhile).
    const added = (await layerDirs()).filter((k) => !before.includes(k));
    const sources = await Promise.all(
      added.map(async (k) =>
        readFile(path.join(layersDir, k, "layer.json"), "utf8").then(
          (t) => (JSON.parse(t) as { source: string }).source,
          () => "",
        ),
      ),
    );
    expect(sources.filter((s) => s.includes("exit 3"))).toEqual([]);
  });

  it("deleting a template keeps the layers another uses, sweeps its own, and the other boots", async () => {
    const [a, b] = [await layersOf(names.a), await layersOf(names.b)];
    const onlyA = a.filter((k) => !b.includes(k));
    expect(onlyA.length).toBeGreaterThan(0);
    await agent.client.deleteTemplate({ name: names.a });
    const left = await layerDirs();
    for (const k of b) expect(left).toContain(k);
    for (const k of onlyA) expect(left).not.toContain(k);

    const id = "sb-00000e52";
    await agent.client.createSandbox({ sandboxId: id, template: names.b });
    try {
      const r = await execInSandbox(agent.url, id, "cat /etc/r1; echo; cat /etc/b");
      expect(r).toMatchObject({ exitCode: 0, stdout: `${r1}\nb\n` });
    } finally {
      await agent.client.destroySandbox({ sandboxId: id });
    }
  });
});

describe("after a failure, and forced builds at once", () => {
  it("a build fixed after failing at step 3 reuses the image and steps 1-2", async () => {
    // An image and steps no other case used: nothing of them is cached, or named, before.
    const fresh = await registry.push("layers:fix", (r) => busyboxOnly(r), {
      env: ["PATH=/bin", `RUN_ID=${suffix}`],
    });
    const steps = (third: string) => [
      { type: "RUN", args: [`${stamp("/etc/f1")}; echo ${suffix} > /etc/id`, "root"] },
      { type: "RUN", args: [stamp("/etc/f2"), "root"] },
      { type: "RUN", args: [third, "root"] },
    ];
    const failed = await build({ name: names.fix, fromImage: fresh, steps: steps("exit 7") }).then(
      () => undefined,
      (e: unknown) => e as ConnectError,
    );
    expect(failed?.rawMessage).toContain("failed: exit code 7");

    const log = await build({
      name: names.fix,
      fromImage: fresh,
      steps: steps("echo ok > /etc/ok"),
    });
    // The image is not pulled again.
    expect(
      log.some((l) => cached(l) && l.includes(fresh)),
      log.join("\n"),
    ).toBe(true);
    expect(log.some((l) => l.startsWith("skopeo copy"))).toBe(false);
    expect(
      [1, 2, 3].map((i) => cached(stepLine(log, i, 3))),
      log.join("\n"),
    ).toEqual([true, true, false]);
    expect(await read(names.fix, "etc/ok")).toBe("ok\n");
    expect(await read(names.fix, "etc/id")).toBe(`${suffix}\n`);
  });

  it("two forced builds of the same layers at once both end bootable", async () => {
    const steps = [
      { type: "RUN", args: [`${stamp("/etc/c1")}; echo ${suffix} > /etc/c`, "root"] },
      { type: "RUN", args: [stamp("/etc/c2"), "root"] },
    ];
    // Same scope, image and steps: the same keys, each build replacing the other's layers.
    await Promise.all(
      [names.f1, names.f2].map((name) => build({ name, fromImage: image, steps, force: true })),
    );
    const [k1, k2] = [await layersOf(names.f1), await layersOf(names.f2)];
    expect(k1).toEqual(k2);
    const left = await layerDirs();
    for (const k of k1) expect(left).toContain(k);
    const ids = ["sb-00000e53", "sb-00000e54"];
    await Promise.all(
      [names.f1, names.f2].map((template, i) =>
        agent.client.createSandbox({ sandboxId: ids[i], template }),
      ),
    );
    try {
      for (const [i, name] of [names.f1, names.f2].entries()) {
        const r = await execInSandbox(agent.url, ids[i] ?? "", "cat /etc/c; cat /etc/c2");
        expect(r).toMatchObject({
          exitCode: 0,
          stdout: `${suffix}\n${await read(name, "etc/c2")}`,
        });
      }
      // And a third, cached build finds the layers whole.
      const log = await build({ name: names.f1, fromImage: image, steps });
      expect(
        [1, 2].map((i) => cached(stepLine(log, i, 2))),
        log.join("\n"),
      ).toEqual([true, true]);
    } finally {
      for (const sandboxId of ids) await agent.client.destroySandbox({ sandboxId });
    }
  });
});

describe("COPY keyed by its files, not its archive", () => {
  it("the same files tarred again with other mtimes reuse the COPY layer", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "wrenn-copy-key-"));
    try {
      await mkdir(path.join(dir, "app"));
      await writeFile(path.join(dir, "app", "run.sh"), `echo ${suffix}\n`);
      // What a client re-uploads after a checkout: same files, other times.
      const tarOf = async (mtime: string) => {
        const out = path.join(dir, `ctx-${mtime}.tgz`);
        await promisify(execFile)("tar", ["-czf", out, `--mtime=${mtime}`, "-C", dir, "app"]);
        return readFile(out);
      };
      const [a, b] = [await tarOf("@1000000000"), await tarOf("@1700000000")];
      expect(a.equals(b)).toBe(false);
      const steps = (files: Buffer) => [{ type: "COPY", args: ["app", "/app/"], files }];
      const first = await build({ name: names.copy, fromImage: image, steps: steps(a) });
      expect(cached(stepLine(first, 1, 1)), first.join("\n")).toBe(false);
      const again = await build({ name: names.copy, fromImage: image, steps: steps(b) });
      expect(cached(stepLine(again, 1, 1)), again.join("\n")).toBe(true);
      expect(await read(names.copy, "app/run.sh")).toBe(`echo ${suffix}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("cache scopes", () => {
  const steps = [{ type: "RUN", args: ["head -c16 /dev/urandom | od -x > /r", "root"] }];
  const [x, y] = [scopeHex(), scopeHex()];
  let rx = "";

  it("another scope reuses nothing: the step runs again and nothing reads CACHED", async () => {
    const first = await build({ name: names.x1, fromImage: image, steps, cacheScope: x });
    expect(first.filter(cached)).toEqual([]);
    rx = await read(names.x1, "r");
    expect(rx.length).toBeGreaterThan(16);
    const other = await build({ name: names.y, fromImage: image, steps, cacheScope: y });
    expect(other.filter(cached), other.join("\n")).toEqual([]);
    expect(await read(names.y, "r")).not.toBe(rx);
  });

  it("the same scope still reuses the layer", async () => {
    const again = await build({ name: names.x2, fromImage: image, steps, cacheScope: x });
    expect(cached(stepLine(again, 1, 1)), again.join("\n")).toBe(true);
    expect(await read(names.x2, "r")).toBe(rx);
  });

  it("no scope never caches", async () => {
    const seen = new Set([rx]);
    for (let i = 0; i < 2; i++) {
      const log = await build({ name: names.none, fromImage: image, steps, cacheScope: "" });
      expect(log.filter(cached), log.join("\n")).toEqual([]);
      const r = await read(names.none, "r");
      expect(seen.has(r)).toBe(false);
      seen.add(r);
    }
  });

  it("a scope that is not bounded hex is refused and builds nothing", async () => {
    for (const bad of ["owner-1", "../x", "a".repeat(129)]) {
      const err = await build({
        name: `tlbad-${suffix}`,
        fromImage: image,
        steps,
        cacheScope: bad,
      }).then(
        () => undefined,
        (e: unknown) => e as ConnectError,
      );
      expect(err?.code, bad).toBe(Code.InvalidArgument);
      await expect(stat(path.join(templatesDir, `tlbad-${suffix}`))).rejects.toThrow();
    }
  });
});
