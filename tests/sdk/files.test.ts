import { createHash } from "node:crypto";
import {
  FileNotFoundError,
  type FilesystemEvent,
  InvalidArgumentError,
  NotFoundError,
  Sandbox,
} from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";

// sandbox.files of @wrenn/sdk against the real stack (envd's /files and filesystem service
// through the control plane's proxy).
describe("@wrenn/sdk files (real stack)", () => {
  let stack: Stack;
  let sbx: Sandbox;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    const { key } = await stack.key({ name: "alice" });
    sbx = await Sandbox.create({ apiKey: key, apiUrl: stack.url });
  });
  afterAll(() => stack?.close());

  test("text, bytes, blob, several files; relative paths start at the home", async () => {
    const info = await sbx.files.write("/home/user/notes/a.txt", "first words");
    expect(info).toMatchObject({ name: "a.txt", path: "/home/user/notes/a.txt", type: "file" });
    expect(await sbx.files.read("/home/user/notes/a.txt")).toBe("first words");

    const bytes = new Uint8Array(256).map((_, i) => i);
    await sbx.files.write("data/bytes.bin", bytes);
    expect(await sbx.files.read("/home/user/data/bytes.bin", { format: "bytes" })).toEqual(bytes);
    const blob = await sbx.files.read("data/bytes.bin", { format: "blob" });
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    await sbx.files.write("data/from-blob.txt", new Blob(["blob body"]));
    expect(await sbx.files.read("data/from-blob.txt")).toBe("blob body");

    const written = await sbx.files.write([
      { path: "/home/user/multi/x.txt", data: "X" },
      { path: "/home/user/multi/y.txt", data: new TextEncoder().encode("Y") },
    ]);
    expect(written.map((w) => w.path)).toEqual([
      "/home/user/multi/x.txt",
      "/home/user/multi/y.txt",
    ]);

    await expect(sbx.files.read("/home/user/none.txt")).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sbx.files.read("")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test("a 50 MiB stream goes up and comes back whole", async () => {
    const size = 50 * 1024 * 1024;
    const block = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 251);
    const sent = createHash("sha256");
    let left = size;
    const upload = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left === 0) return controller.close();
        left -= block.length;
        sent.update(block);
        controller.enqueue(block);
      },
    });
    await sbx.files.write("/tmp/big.bin", upload);
    expect((await sbx.files.getInfo("/tmp/big.bin")).size).toBe(size);

    const received = createHash("sha256");
    let count = 0;
    const stream = await sbx.files.read("/tmp/big.bin", { format: "stream" });
    for await (const chunk of stream) {
      received.update(chunk);
      count += chunk.length;
    }
    expect(count).toBe(size);
    expect(received.digest("hex")).toBe(sent.digest("hex"));
    await sbx.files.remove("/tmp/big.bin");
  });

  test("list, exists, getInfo, makeDir, rename, remove", async () => {
    expect(await sbx.files.makeDir("/home/user/tree/sub")).toBe(true);
    expect(await sbx.files.makeDir("/home/user/tree/sub")).toBe(false);
    await sbx.files.write("/home/user/tree/sub/deep.txt", "deep");
    await sbx.files.write("/home/user/tree/top.txt", "top");
    expect((await sbx.files.list("/home/user/tree")).map((e) => [e.name, e.type])).toEqual([
      ["sub", "dir"],
      ["top.txt", "file"],
    ]);
    expect((await sbx.files.list("/home/user/tree", { depth: 2 })).map((e) => e.path)).toEqual([
      "/home/user/tree/sub",
      "/home/user/tree/sub/deep.txt",
      "/home/user/tree/top.txt",
    ]);
    expect(await sbx.files.exists("/home/user/tree/top.txt")).toBe(true);
    expect(await sbx.files.exists("/home/user/tree/nothing")).toBe(false);
    const info = await sbx.files.getInfo("/home/user/tree/top.txt");
    expect(info).toMatchObject({ name: "top.txt", type: "file", size: 3, owner: "user" });
    expect(info.modifiedTime).toBeInstanceOf(Date);

    const moved = await sbx.files.rename("/home/user/tree/top.txt", "/home/user/tree/moved.txt");
    expect(moved.path).toBe("/home/user/tree/moved.txt");
    await sbx.files.remove("/home/user/tree/sub");
    expect((await sbx.files.list("/home/user/tree")).map((e) => e.name)).toEqual(["moved.txt"]);
    await expect(sbx.files.getInfo("/home/user/tree/sub")).rejects.toBeInstanceOf(NotFoundError);
  });

  test("watchDir sees writes, recursively when asked, until stop()", async () => {
    await sbx.files.makeDir("/home/user/watched/inner");
    const events: FilesystemEvent[] = [];
    let exited = false;
    const watcher = await sbx.files.watchDir(
      "/home/user/watched",
      (e) => {
        events.push(e);
      },
      {
        recursive: true,
        onExit: () => {
          exited = true;
        },
      },
    );
    await sbx.files.write("/home/user/watched/inner/note.txt", "hello");
    await waitFor(
      () => events.some((e) => e.name === "inner/note.txt" && e.type === "write"),
      15_000,
      "a write event for inner/note.txt",
    );
    await watcher.stop();
    expect(exited).toBe(true);
  });
});
