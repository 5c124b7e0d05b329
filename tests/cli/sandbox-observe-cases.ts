import { setTimeout as sleep } from "node:timers/promises";
import { Sandbox } from "@wrenn/sdk";
import { expect, test } from "vitest";
import { waitFor } from "../harness/wait.js";
import type { CliSuite } from "./cli-suite.js";
import { wrenn } from "./wrenn-cli.js";

export function sandboxObserveCases(c: CliSuite): void {
  test("logs show what running processes print; -f follows new ones until the sandbox stops", async () => {
    const { stack, user, env } = c;
    const opts = { apiUrl: stack.url, apiKey: user.key };
    const box = await Sandbox.create("base", { ...opts, name: "cli-logs", timeoutMs: 600_000 });
    try {
      const early = await box.commands.start("echo early; sleep 20; echo late >&2");
      await early.disconnect();
      // One process, chosen by pid: its output from the start, stdout and stderr apart; the
      // command returns when the process ends.
      const one = await wrenn(["logs", "--pid", String(early.pid), "cli-logs"], { env });
      expect(one).toMatchObject({ code: 0, stdout: "early\n", stderr: "late\n" });

      const server = await box.commands.start("echo serving; sleep 600");
      await server.disconnect();
      let seen = "";
      const follow = wrenn(["sandbox", "logs", "-f", "cli-logs"], {
        env,
        onStdout: (soFar) => {
          seen = soFar;
        },
      });
      await waitFor(async () => seen.includes(`[${server.pid}] serving`), 60_000, "replay");
      // Looked for once a second: a process that lives that long is picked up.
      const later = await box.commands.start("echo started-later; sleep 600");
      await later.disconnect();
      await waitFor(
        async () => seen.includes(`[${later.pid}] started-later`),
        60_000,
        "a process started after logs -f",
      );
      await box.kill();
      const r = await follow;
      expect(r.code).toBe(0);
      const none = await wrenn(["logs", "cli-logs"], { env });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("is stopped");
    } finally {
      await box.kill().catch(() => {});
    }
  });

  test("port-forward carries TCP to a port inside the sandbox, over the API's port only", async () => {
    const { stack, user, env } = c;
    const opts = { apiUrl: stack.url, apiKey: user.key };
    const box = await Sandbox.create("base", { ...opts, name: "cli-pf", timeoutMs: 600_000 });
    let pid = 0;
    try {
      const server = await box.commands.start(
        "mkdir -p /tmp/www && cd /tmp/www && echo forwarded-ok > hello.txt && exec python3 -m http.server 8000 --bind 127.0.0.1",
      );
      await server.disconnect();
      let printed = "";
      const forward = wrenn(["sandbox", "port-forward", "cli-pf", "8000:0"], {
        env,
        onSpawn: (p) => {
          pid = p;
        },
        onStdout: (soFar) => {
          printed = soFar;
        },
      });
      await waitFor(() => /Forwarding 127\.0\.0\.1:\d+/.test(printed), 60_000, "the local port");
      const local = Number(/127\.0\.0\.1:(\d+)/.exec(printed)![1]);
      const get = () =>
        fetch(`http://127.0.0.1:${local}/hello.txt`)
          .then((r) => r.text())
          .catch(() => "");
      // The server in the sandbox may take a moment to listen.
      await waitFor(async () => (await get()) === "forwarded-ok\n", 120_000, "the forwarded page");
      // Connections at once each get their own relay.
      expect(await Promise.all([get(), get(), get()])).toEqual(Array(3).fill("forwarded-ok\n"));
      process.kill(pid, "SIGINT");
      expect((await forward).code).toBe(130);
      const refused = await fetch(`http://127.0.0.1:${local}/`).catch((e: Error) => e);
      expect(refused).toBeInstanceOf(Error);
    } finally {
      try {
        if (pid) process.kill(pid, "SIGKILL"); // only if an assertion left it running
      } catch {}
      await box.kill().catch(() => {});
    }
  });

  test("events show the sandbox's trail; another owner gets 404", async () => {
    const { stack, user, env, id } = c;
    const logs = await wrenn(["sandbox", "events", id], { env });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/sandbox\.create\s+ok/);
    expect(logs.stdout).toContain("sandbox.exec");
    expect(logs.stdout).toContain("sandbox.pause");
    const lines = (await wrenn(["events", "--json", "-n", "3", id], { env })).stdout
      .trim()
      .split("\n");
    expect(lines).toHaveLength(3);
    const events = lines.map((l) => JSON.parse(l) as { id: string; action: string });
    // Oldest first, as a log reads.
    expect(BigInt(events[0]!.id) < BigInt(events[2]!.id)).toBe(true);

    const other = await stack.key({ name: "nosy" });
    const foreign = await stack.call("GET", `/v1/sandboxes/${id}/events`, { key: other.key });
    expect(foreign.status).toBe(404);
    const page = await stack.call("GET", `/v1/sandboxes/${id}/events?limit=2`, { key: user.key });
    expect(page.status).toBe(200);
    const body = page.body as { events: { id: string }[]; nextBefore: string | null };
    expect(body.events).toHaveLength(2);
    expect(body.nextBefore).toBe(body.events[1]!.id);
    const older = await stack.call(
      "GET",
      `/v1/sandboxes/${id}/events?limit=2&before=${body.nextBefore}`,
      { key: user.key },
    );
    expect((older.body as { events: { id: string }[] }).events[0]!.id).not.toBe(body.events[1]!.id);
    const bad = await stack.call("GET", `/v1/sandboxes/${id}/events?before=abc`, { key: user.key });
    expect(bad.status).toBe(400);
    const spec = await stack.call("GET", "/openapi.json", { key: null });
    expect(Object.keys((spec.body as { paths: object }).paths)).toContain(
      "/v1/sandboxes/{id}/events",
    );
  });

  test("events --follow prints new events and ends when the sandbox is killed", async () => {
    const { env, id } = c;
    const follow = wrenn(["sandbox", "events", "-f", "-n", "1", id], { env });
    await sleep(1500);
    await wrenn(["sandbox", "exec", id, "--", "echo followed"], { env });
    const killed = await wrenn(["sandbox", "kill", id], { env });
    expect(killed.code).toBe(0);
    const r = await follow;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("echo followed");
    expect(r.stdout).toContain("sandbox.destroy");
    const again = await wrenn(["sandbox", "ls", "--json"], { env });
    expect(JSON.parse(again.stdout)).toEqual([]);
    const missing = await wrenn(["sandbox", "kill", "sb-00000000"], { env });
    expect(missing.code).toBe(3);
  });
}
