// Cases of v1-api.test.ts (its one stack, through V1Suite), split out by topic.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { expect, test } from "vitest";
import type { V1Suite } from "./v1-suite.js";
import { TestSocket } from "./ws-client.js";

export function v1FilesCases(c: V1Suite): void {
  test("files: upload, download, list, stat, mkdir, move, remove", async () => {
    const { stack, alice, id } = c;
    const put = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=docs/hello.txt`, {
      method: "PUT",
      headers: { "x-api-key": alice.key, "content-type": "text/plain" },
      body: "hello, file\n",
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({
      path: "/home/user/docs/hello.txt",
      name: "hello.txt",
      bytes: 12,
    });

    const get = await fetch(
      `${stack.url}/v1/sandboxes/${id}/files?path=/home/user/docs/hello.txt`,
      {
        headers: { "x-api-key": alice.key },
      },
    );
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe("12");
    expect(await get.text()).toBe("hello, file\n");

    const mkdir = await stack.call("POST", `/v1/sandboxes/${id}/files/mkdir`, {
      key: alice.key,
      body: { path: "docs/sub" },
    });
    expect(mkdir.status).toBe(201);
    expect(mkdir.body).toMatchObject({
      name: "sub",
      type: "directory",
      path: "/home/user/docs/sub",
      owner: "user",
    });
    const again = await stack.call("POST", `/v1/sandboxes/${id}/files/mkdir`, {
      key: alice.key,
      body: { path: "docs/sub" },
    });
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe("already_exists");

    const moved = await stack.call("POST", `/v1/sandboxes/${id}/files/move`, {
      key: alice.key,
      body: { from: "docs/hello.txt", to: "docs/sub/renamed.txt" },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      path: "/home/user/docs/sub/renamed.txt",
      type: "file",
      size: 12,
    });

    const list = await stack.call("GET", `/v1/sandboxes/${id}/files/list?path=docs&depth=2`, {
      key: alice.key,
    });
    expect(list.status).toBe(200);
    expect(
      (list.body as { entries: { path: string; type: string }[] }).entries.map((e) => [
        e.path,
        e.type,
      ]),
    ).toEqual([
      ["/home/user/docs/sub", "directory"],
      ["/home/user/docs/sub/renamed.txt", "file"],
    ]);
    const stat = await stack.call(
      "GET",
      `/v1/sandboxes/${id}/files/stat?path=docs/sub/renamed.txt`,
      { key: alice.key },
    );
    expect(stat.body).toMatchObject({
      size: 12,
      permissions: expect.stringMatching(/^-/),
      modifiedAt: expect.any(String),
    });

    const removed = await stack.call("DELETE", `/v1/sandboxes/${id}/files?path=docs`, {
      key: alice.key,
    });
    expect(removed.status).toBe(204);
    const gone = await stack.call("GET", `/v1/sandboxes/${id}/files/stat?path=docs`, {
      key: alice.key,
    });
    expect(gone.status).toBe(404);
    // A large upload refused by envd (a directory) still gets its answer, not a reset.
    const refused = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp`, {
      method: "PUT",
      headers: { "x-api-key": alice.key },
      body: Buffer.alloc(20 * 1024 * 1024),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "invalid_request" } });
    const missing = await stack.call("GET", `/v1/sandboxes/${id}/files?path=docs/sub/renamed.txt`, {
      key: alice.key,
    });
    expect(missing.status).toBe(404);
    expect((missing.body as { error: { code: string } }).error.code).toBe("file_not_found");
  });

  test("a 400 MiB file goes up and down streamed and intact; the control plane holds no copy", async () => {
    const { stack, alice, id, exec } = c;
    const MiB = 1024 * 1024;
    const chunks = 400;
    const block = randomBytes(MiB);
    const sent = createHash("sha256");
    let peak = 0;
    const baseline = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - baseline);
    }, 50);
    try {
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < chunks; i++) {
            const chunk = Buffer.from(block);
            chunk.writeUInt32BE(i, 0); // every MiB differs, so a lost or repeated one shows
            sent.update(chunk);
            yield chunk;
          }
        })(),
      );
      const uploaded = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = http.request(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/big.bin`, {
          method: "PUT",
          headers: { "x-api-key": alice.key, "content-type": "application/octet-stream" },
        });
        request.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        request.on("error", reject);
        pipeline(source, request).catch(reject);
      });
      expect(uploaded.status, uploaded.body).toBe(200);
      expect(JSON.parse(uploaded.body)).toEqual({
        path: "/tmp/big.bin",
        name: "big.bin",
        bytes: chunks * MiB,
      });

      const download = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/big.bin`, {
        headers: { "x-api-key": alice.key },
      });
      expect(download.status).toBe(200);
      expect(download.headers.get("content-length")).toBe(String(chunks * MiB));
      const received = createHash("sha256");
      let bytes = 0;
      for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) {
        received.update(chunk);
        bytes += chunk.byteLength;
      }
      expect(bytes).toBe(chunks * MiB);
      expect(received.digest("hex")).toBe(sent.digest("hex"));
    } finally {
      clearInterval(sampler);
    }
    // 800 MiB crossed this process (client and control plane) and envd's disk; buffering the
    // file anywhere here would have raised the peak by at least 400 MiB.
    console.log(`peak rss growth ${(peak / MiB).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(250 * MiB);
    await exec({ command: "rm /tmp/big.bin" });
  });

  test("terminal over WebSocket: a login shell with input, output, resize and exit", async () => {
    const { alice, id, wsUrl } = c;
    const term = await TestSocket.open(
      wsUrl(`/v1/sandboxes/${id}/terminal?cols=80&rows=24`),
      alice.key,
    );
    await term.until((r) => r.json.some((m) => m.type === "started"), "started");
    term.send({ type: "input", data: "echo answer=$((6*7))\r" });
    await term.until(() => term.text().includes("answer=42"), "the answer");
    term.send({ type: "resize", cols: 100, rows: 30 });
    term.sendBytes(Buffer.from("stty size\r"));
    await term.until(() => term.text().includes("30 100"), "the new size");
    term.sendBytes(Buffer.from("tty; echo $TERM\r"));
    await term.until(
      () => /\/dev\/pts\/\d+/.test(term.text()) && term.text().includes("xterm-256color"),
      "a pty",
    );
    term.send({ type: "input", data: "exit\r" });
    expect((await term.closed).code).toBe(1000);
    expect(term.received.json.at(-1)).toMatchObject({ type: "exit", exitCode: 0 });
  });
}
