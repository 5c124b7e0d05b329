// The shared SDK scenario (scenario.json) with @wrenn/sdk: the same steps as run.py, reporting
// what it observed in the same shape, so scenario.test.ts holds both to one expectation.
import { createHash } from "node:crypto";
import { SANDBOX_ID_PATTERN, SNAPSHOT_ID_PATTERN } from "@wrenn/contract";
import {
  CommandExitError,
  CommandTimeoutError,
  type ConnectionOpts,
  type FilesystemEvent,
  Sandbox,
  Workspaces,
  WrennClient,
  WrennError,
} from "@wrenn/sdk";
import scenario from "./scenario.json" with { type: "json" };

type Report = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: the params are scenario.json's, per step
type P = any;

const PARAMS: Record<string, P> = Object.fromEntries(scenario.steps.map((s) => [s.id, s.params]));

/** The error's class without its suffix: what every runner reports. */
export function kind(error: unknown): string {
  const name = error instanceof Error ? error.constructor.name : typeof error;
  return name.replace(/(Exception|Error)$/, "");
}

async function eventually<T>(check: () => Promise<T> | T, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** n bytes where byte i is i*31 mod 251, in pieces of a whole number of periods. */
function* pattern(n: number): Generator<Uint8Array> {
  const block = new Uint8Array(251 * 4096);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31) % 251;
  for (let sent = 0; sent < n; ) {
    const piece = block.subarray(0, Math.min(block.length, n - sent));
    sent += piece.length;
    yield piece;
  }
}

function streamOf(chunks: Generator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

/** `{error, code}` of the WrennError the call failed with; `{error: null}` when it did not. */
function outcome(call: () => Promise<unknown>): Promise<Report> {
  return call().then(
    () => ({ error: null }),
    (e: unknown) => {
      if (!(e instanceof WrennError)) throw e;
      return { error: kind(e), code: e.code };
    },
  );
}

/**
 * Runs every step against the stack `conn` names; `foreignId` is another owner's sandbox.
 * `progress` hears each step as it starts (a run that hangs then says where).
 */
export async function runScenario(
  conn: ConnectionOpts,
  foreignId: string,
  progress: (step: string) => void = () => {},
  /** The steps to run (all when absent); the report has only those. */
  only?: readonly string[],
): Promise<Report> {
  const report: Report = {};
  let sbx: Sandbox | undefined;
  const sandbox = () => sbx as Sandbox;

  const steps: Record<string, (p: P) => Promise<Report>> = {
    async lifecycle(p) {
      sbx = await Sandbox.create({
        ...conn,
        metadata: p.metadata,
        timeoutMs: p.timeoutSeconds * 1000,
      });
      const info = await sbx.getInfo();
      const page = Sandbox.list({ ...conn, query: { metadata: p.metadata }, limit: 1 });
      const listed = (await page.nextItems()).map((s) => s.sandboxId);
      await sbx.setTimeout(p.extendToSeconds * 1000);
      const end = (await sbx.getInfo()).endAt;
      const metrics = await sbx.getMetrics();
      return {
        idMatchesContract: new RegExp(SANDBOX_ID_PATTERN).test(sbx.sandboxId),
        state: info.state,
        metadata: info.metadata,
        timeoutSeconds: info.timeoutSeconds,
        listedWithFilter: listed.length === 1 && listed[0] === sbx.sandboxId,
        endAtExtended: (end.getTime() - Date.now()) / 1000 > p.timeoutSeconds,
        metricsSamples: metrics.length,
        metricsCpuCountPositive: (metrics[0]?.cpuCount ?? 0) > 0,
      };
    },
    async "commands.largeOutput"(p) {
      const r = await sandbox().commands.run(`head -c ${p.bytes} /dev/zero | tr '\\0' a`);
      return {
        stdoutLength: r.stdout.length,
        onlyA: r.stdout === "a".repeat(p.bytes),
        exitCode: r.exitCode,
      };
    },
    async "commands.streaming"(p) {
      const chunks: string[] = [];
      const r = await sandbox().commands.run(p.cmd, { onStdout: (d) => chunks.push(d) });
      return { streamed: chunks.join(""), stderr: r.stderr, exitCode: r.exitCode };
    },
    async "commands.exitCode"(p) {
      try {
        await sandbox().commands.run(p.cmd);
        return { error: null };
      } catch (e) {
        if (!(e instanceof CommandExitError)) throw e;
        return { error: kind(e), exitCode: e.exitCode, stdout: e.stdout, stderr: e.stderr };
      }
    },
    async "commands.stdin"(p) {
      const handle = await sandbox().commands.run(p.cmd, { background: true, stdin: true });
      await sandbox().commands.sendStdin(handle.pid, p.send);
      const r = await handle.wait();
      return { stdout: r.stdout, exitCode: r.exitCode };
    },
    async "commands.timeout"(p) {
      try {
        await sandbox().commands.run(p.cmd, { timeoutMs: p.timeoutSeconds * 1000 });
        return { error: null };
      } catch (e) {
        if (!(e instanceof CommandTimeoutError)) throw e;
        const gone = await eventually(
          async () => !(await sandbox().commands.list()).some((x) => x.pid === e.pid),
          30,
        );
        return {
          error: kind(e),
          code: e.code,
          messageSaysKilled: e.message.includes("killed"),
          stdout: e.stdout,
          stillRunning: !gone,
        };
      }
    },
    async "commands.concurrent"(p) {
      const runs = Array.from({ length: p.count }, (_, i) =>
        sandbox()
          .commands.run(`echo $((${i}*${i}))`)
          .then((r) => r.stdout.trim()),
      );
      return { outputs: await Promise.all(runs) };
    },
    async "commands.list"(p) {
      const cmds = sandbox().commands;
      const handle = await cmds.run(p.cmd, { background: true, tag: p.tag });
      const listed = async () =>
        (await cmds.list()).some((x) => x.pid === handle.pid && x.tag === p.tag);
      const wasListed = await listed();
      const killed = await cmds.kill(handle.pid);
      const gone = await eventually(async () => !(await listed()), 30);
      return {
        listed: wasListed,
        killed,
        listedAfterKill: !gone,
        killAgain: await cmds.kill(handle.pid),
      };
    },
    async "files.binary"() {
      const data = Uint8Array.from({ length: 256 }, (_, i) => i);
      await sandbox().files.write("/tmp/scenario-binary.bin", data);
      const back = await sandbox().files.read("/tmp/scenario-binary.bin", { format: "bytes" });
      return { size: back.length, equal: Buffer.from(back).equals(Buffer.from(data)) };
    },
    async "files.large"(p) {
      const files = sandbox().files;
      const want = createHash("sha256");
      for (const piece of pattern(p.bytes)) want.update(piece);
      const wantHex = want.digest("hex");
      await files.write(p.path, streamOf(pattern(p.bytes)));
      const got = createHash("sha256");
      let size = 0;
      for await (const chunk of await files.read(p.path, { format: "stream" })) {
        got.update(chunk);
        size += chunk.length;
      }
      const remote = (await sandbox().commands.run(`sha256sum ${p.path}`)).stdout.split(" ")[0];
      return {
        size,
        sha256Match: got.digest("hex") === wantHex,
        sandboxSha256Match: remote === wantHex,
      };
    },
    async "files.unicode"(p) {
      const files = sandbox().files;
      const path = `${p.dir}/${p.name}`;
      await files.write(path, p.content);
      const entries = await files.list(p.dir);
      return {
        names: entries.map((e) => e.name),
        content: await files.read(path),
        type: (await files.getInfo(path)).type,
      };
    },
    async "files.ops"(p) {
      const files = sandbox().files;
      const made = await files.makeDir(p.dir);
      const again = await files.makeDir(p.dir);
      await files.write(`${p.dir}/a.txt`, "hello");
      const exists = await files.exists(`${p.dir}/a.txt`);
      const renamed = await files.rename(`${p.dir}/a.txt`, `${p.dir}/b.txt`);
      const info = await files.getInfo(`${p.dir}/b.txt`);
      await files.remove(p.dir);
      const missing = await files.read(`${p.dir}/b.txt`).then(
        () => null,
        (e: unknown) => kind(e),
      );
      return {
        madeDir: made,
        madeAgain: again,
        existsBefore: exists,
        renamedName: renamed.name,
        renamedType: info.type,
        size: info.size,
        existsAfterRemove: await files.exists(p.dir),
        missingError: missing,
      };
    },
    async "files.watch"(p) {
      const files = sandbox().files;
      await files.makeDir(p.dir);
      const seen: FilesystemEvent[] = [];
      const handle = await files.watchDir(p.dir, (e) => {
        seen.push(e);
      });
      await files.write(`${p.dir}/${p.name}`, "x");
      const ok = await eventually(
        () => seen.some((e) => e.name === p.name && (e.type === "create" || e.type === "write")),
        30,
      );
      await handle.stop();
      return { sawCreateOrWrite: ok };
    },
    async pty(p) {
      const s = sandbox();
      const decoder = new TextDecoder();
      let text = "";
      const term = await s.pty.create({
        rows: p.rows,
        cols: p.cols,
        onData: (d) => {
          text += decoder.decode(d, { stream: true });
        },
      });
      await s.pty.sendInput(term.pid, "stty size\n");
      const first = `${p.rows} ${p.cols}`;
      await eventually(() => text.includes(first), 30);
      await s.pty.resize(term.pid, { rows: p.resizeRows, cols: p.resizeCols });
      await s.pty.sendInput(term.pid, "stty size\n");
      const second = `${p.resizeRows} ${p.resizeCols}`;
      await eventually(() => text.includes(second), 30);
      await s.pty.sendInput(term.pid, "exit\n");
      const result = await term.wait();
      return {
        sawInitialSize: text.includes(first) ? first : null,
        sawResizedSize: text.includes(second) ? second : null,
        exitCode: result.exitCode,
      };
    },
    async pauseResume(p) {
      const s = sandbox();
      await s.files.write(p.path, p.content);
      const sleeper = await s.commands.run("sleep 3600", { background: true });
      const paused = await s.pause();
      const whilePaused = (await Sandbox.getInfo(s.sandboxId, conn)).state;
      sbx = await Sandbox.connect(s.sandboxId, conn);
      return {
        paused,
        stateWhilePaused: whilePaused,
        stateAfter: (await sbx.getInfo()).state,
        content: await sbx.files.read(p.path),
        processKept: (await sbx.commands.list()).some((x) => x.pid === sleeper.pid),
      };
    },
    async snapshots(p) {
      const s = sandbox();
      const client = new WrennClient(conn);
      await s.files.write(p.path, p.content);
      const snap = await client.snapshots.create(s.sandboxId, { name: p.name });
      const got = await client.snapshots.get(snap.id);
      const page = await client.snapshots.list({ sandboxId: s.sandboxId });
      const restored = await Sandbox.create(snap.id, conn);
      let restoredContent: string | null = null;
      let restoredKilled = false;
      try {
        restoredContent = await restored.files.read(p.path);
        restoredKilled = await restored.kill();
      } finally {
        if (!restoredKilled) await restored.kill().catch(() => {});
      }
      const forks = await client.snapshots.fork(s.sandboxId, { count: 1 });
      const forkIds = forks.forks.flatMap((f) => (f.sandbox ? [f.sandbox.id] : []));
      let forkContent: string | null = null;
      let forkKilled = false;
      try {
        const fork = forkIds[0] ? await Sandbox.connect(forkIds[0], conn) : undefined;
        forkContent = fork ? await fork.files.read(p.path) : null;
        forkKilled = fork ? await fork.kill() : false;
      } finally {
        for (const id of forkIds) await Sandbox.kill(id, conn).catch(() => {});
      }
      await client.snapshots.delete(snap.id);
      return {
        idMatchesContract: new RegExp(SNAPSHOT_ID_PATTERN).test(snap.id),
        name: snap.name,
        sourceSandboxMatches: snap.sourceSandboxId === s.sandboxId,
        sizePositive: snap.sizeBytes > 0,
        gotSameId: got.id === snap.id,
        listedBySource: page.snapshots.some((x) => x.id === snap.id),
        restoredContent,
        restoredKilled,
        forks: forks.forks.length,
        forkContent,
        forkKilled,
        deletedGet: await outcome(() => client.snapshots.get(snap.id)),
        templatesListed: Array.isArray(await client.templates.list()),
        unknownTemplate: await outcome(() => client.templates.get(p.unknownTemplate)),
      };
    },
    async templates(p) {
      const client = new WrennClient(conn);
      const listed = await client.templates.list();
      const got = await client.templates.get(p.name);
      return {
        listedByName: listed.some((t) => t.name === p.name),
        name: got.name,
        status: got.status,
        usable: got.usable,
      };
    },
    async workspaces(p) {
      const listed = Array.isArray(await Workspaces.list(conn));
      const unknown = await outcome(() => Workspaces.get(p.unknownName, conn));
      // A suffix of this runner's: the runners share one stack and key.
      const name = `${p.name}-${Math.random().toString(16).slice(2, 8)}`;
      const { vcpus, memoryMb, diskGb } = p;
      const created = await Workspaces.create(name, { ...conn, vcpus, memoryMb, diskGb });
      let destroyed = false;
      try {
        const got = await Workspaces.get(name, conn);
        const all = await Workspaces.list(conn);
        const suspended = await Workspaces.suspend(name, conn);
        const resumed = await Workspaces.resume(name, conn);
        await Workspaces.destroy(name, conn);
        destroyed = true;
        return {
          listed,
          unknown,
          created: {
            state: created.state,
            vcpus: created.vcpus,
            memoryMb: created.memoryMb,
            diskGb: created.diskGb,
            image: created.image,
          },
          gotState: got.state,
          listedCreated: all.some((w) => w.name === name),
          suspended: suspended.state,
          resumed: resumed.state,
          destroyedGet: await outcome(() => Workspaces.get(name, conn)),
        };
      } finally {
        if (!destroyed) await Workspaces.destroy(name, conn).catch(() => {});
      }
    },
    async network(p) {
      const other = await Sandbox.create({
        ...conn,
        network: { allowOut: p.allowOut, denyOut: p.denyOut, allowPublicTraffic: false },
      });
      try {
        const info = await other.getInfo();
        const updated = await other.updateNetwork({ allowOut: p.updateAllowOut });
        return {
          tokenPresent: (other.trafficAccessToken ?? "").length > 0,
          allowPublicTraffic: info.allowPublicTraffic,
          network: info.network,
          updated: updated.network,
          killed: await other.kill(),
        };
      } finally {
        await other.kill().catch(() => {});
      }
    },
    async errors(p) {
      return {
        badKey: await outcome(() => Sandbox.list({ ...conn, apiKey: p.badKey }).nextItems()),
        unknownSandbox: await outcome(() => Sandbox.connect(p.unknownId, conn)),
        foreignSandbox: await outcome(() => Sandbox.connect(foreignId, conn)),
        badSize: await outcome(() => Sandbox.create({ ...conn, vcpus: p.vcpus })),
      };
    },
    async kill() {
      const s = sandbox();
      return {
        killed: await s.kill(),
        killUnknown: await Sandbox.kill(PARAMS.errors.unknownId, conn),
        stateAfter: (await Sandbox.getInfo(s.sandboxId, conn)).state,
      };
    },
  };

  try {
    for (const { id } of scenario.steps) {
      if (only && !only.includes(id)) continue;
      const body = steps[id];
      if (!body) report[id] = { failed: "this runner does not implement the step" };
      else if (id !== "lifecycle" && !sbx) report[id] = { failed: "no sandbox (lifecycle failed)" };
      else {
        try {
          progress(id);
          report[id] = await body(PARAMS[id]);
        } catch (e) {
          report[id] = { failed: `${kind(e)}: ${e instanceof Error ? e.message : String(e)}` };
        }
      }
    }
  } finally {
    if (sbx && (report.kill as Report | undefined)?.killed !== true) {
      await sbx.kill().catch(() => {});
    }
  }
  return report;
}
