import { join } from "node:path";
import { Readable } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { rpcClients } from "./testing/rpc-clients.js";

// Hostile and malformed input: each case gets the right error and envd keeps serving.

let world: EnvdWorld;
let envd: RunningEnvd;
let dir: string;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  dir = await world.scratchDir("envd-hostile-", envd.defaultUser);
  await world.writeFile(join(dir, "file.txt"), "x");
  await world.symlink(join(dir, "loop-a"), join(dir, "loop-b"));
  await world.symlink(join(dir, "loop-b"), join(dir, "loop-a"));
});

afterAll(async () => {
  await world?.close();
});

async function rpcCode(call: () => unknown): Promise<Code | "ok"> {
  try {
    const result = await call();
    if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
      for await (const _ of result as AsyncIterable<unknown>) {
        // drain
      }
    }
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

const pid = (value: number) => ({ selector: { case: "pid" as const, value } });

describe("hostile RPC input", () => {
  const fs = () => rpcClients(envd.url, "connect-binary").filesystem;
  const proc = () => rpcClients(envd.url, "connect-binary").process;
  const cases: [string, () => unknown, Code | "ok"][] = [
    ["path with a NUL byte", () => fs().stat({ path: "/tmp/a\0b" }), Code.InvalidArgument],
    [
      "path with U+FFFD (invalid UTF-8)",
      () => fs().stat({ path: "/tmp/\uFFFD" }),
      Code.InvalidArgument,
    ],
    ["another user's home (~other)", () => fs().stat({ path: "~nobody/x" }), Code.InvalidArgument],
    [
      "ListDir on a file",
      () => fs().listDir({ path: join(dir, "file.txt") }),
      Code.InvalidArgument,
    ],
    [
      "ListDir on a symlink loop",
      () => fs().listDir({ path: join(dir, "loop-a") }),
      Code.FailedPrecondition,
    ],
    ["Stat of a missing path", () => fs().stat({ path: join(dir, "nope") }), Code.NotFound],
    [
      "MakeDir over a file",
      () => fs().makeDir({ path: join(dir, "file.txt") }),
      Code.InvalidArgument,
    ],
    [
      "MakeDir below a file",
      () => fs().makeDir({ path: join(dir, "file.txt/sub") }),
      Code.InvalidArgument,
    ],
    [
      "Move of a missing source",
      () => fs().move({ source: join(dir, "nope"), destination: join(dir, "n2") }),
      Code.NotFound,
    ],
    ["watch a file", () => fs().watchDir({ path: join(dir, "file.txt") }), Code.InvalidArgument],
    ["unknown watcher id", () => fs().getWatcherEvents({ watcherId: "w-nope" }), Code.NotFound],
    [
      "SendInput to an unknown pid",
      () =>
        proc().sendInput({
          process: pid(4_000_001),
          input: { input: { case: "stdin", value: new Uint8Array([1]) } },
        }),
      Code.NotFound,
    ],
    [
      "SendSignal to an unknown pid",
      () => proc().sendSignal({ process: pid(4_000_001), signal: 9 }),
      Code.NotFound,
    ],
    ["Update of an unknown pid", () => proc().update({ process: pid(4_000_001) }), Code.NotFound],
    [
      "CloseStdin of an unknown pid",
      () => proc().closeStdin({ process: pid(4_000_001) }),
      Code.NotFound,
    ],
    [
      "Connect to an unknown tag",
      () => proc().connect({ process: { selector: { case: "tag", value: "nope" } } }),
      Code.NotFound,
    ],
    ["no process selector", () => proc().sendSignal({ signal: 9 }), Code.InvalidArgument],
    ["Start without a command", () => proc().start({ process: { cmd: "" } }), Code.InvalidArgument],
    [
      "command with a NUL byte",
      () => proc().start({ process: { cmd: "/bin/echo", args: ["a\0b"] } }),
      Code.InvalidArgument,
    ],
    [
      "env name with '='",
      () => proc().start({ process: { cmd: "/bin/true", envs: { "A=B": "1" } } }),
      Code.InvalidArgument,
    ],
    [
      "cwd that is a file",
      () => proc().start({ process: { cmd: "/bin/true", cwd: join(dir, "file.txt") } }),
      Code.InvalidArgument,
    ],
    [
      "relative .. path resolves lexically",
      () => fs().stat({ path: "../../../../../../../../tmp" }),
      "ok",
    ],
  ];
  test.each(cases)("%s", async (_name, call, expected) => {
    expect(await rpcCode(call)).toBe(expected);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });

  test("an unknown user on RPC is unauthenticated", async () => {
    const client = rpcClients(envd.url, "connect-json", {
      authorization: `Basic ${Buffer.from("no-such-user-z:").toString("base64")}`,
    });
    const error = await client.filesystem.stat({ path: "/" }).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unauthenticated);
    expect(ConnectError.from(error).rawMessage).toContain("no-such-user-z");
  });
});

describe("malformed protocol bytes", () => {
  const post = (path: string, contentType: string, body: Uint8Array | string) =>
    fetch(`${envd.url}${path}`, { method: "POST", headers: { "content-type": contentType }, body });

  test.each([
    ["malformed JSON", "/filesystem.Filesystem/Stat", "application/json", "{not json", 400],
    [
      "JSON of the wrong shape",
      "/filesystem.Filesystem/Stat",
      "application/json",
      '{"path":42}',
      400,
    ],
    // field 1 (path), length 2, bytes "/" 0xFF: not UTF-8
    [
      "protobuf string that is not UTF-8",
      "/filesystem.Filesystem/Stat",
      "application/proto",
      new Uint8Array([0x0a, 0x02, 0x2f, 0xff]),
      400,
    ],
    ["unknown method", "/filesystem.Filesystem/Nope", "application/json", "{}", 404],
  ] as const)("%s", async (_name, path, type, body, status) => {
    const res = await post(path, type, typeof body === "string" ? body : new Uint8Array(body));
    expect(res.status).toBe(status);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });

  // connect-es answers undecodable binary with `internal` (connect-go says invalid_argument).
  test("garbage protobuf gets a parse error", async () => {
    const res = await post(
      "/filesystem.Filesystem/Stat",
      "application/proto",
      new Uint8Array([0xff, 0xff, 0xff]),
    );
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("internal");
    expect(body.message).toMatch(/parse binary/);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });

  test("a stream envelope claiming 4 GiB is refused", async () => {
    const envelope = Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    const res = await post("/process.Process/Start", "application/connect+json", envelope);
    const text = await res.text();
    expect(text).toMatch(/resource_exhausted|invalid_argument/);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });
});

describe("hostile /files input", () => {
  const files = (query: string, init?: RequestInit) => fetch(`${envd.url}/files?${query}`, init);
  const enc = encodeURIComponent;

  type GetCase = [string, string | (() => string), number];
  const getCases: GetCase[] = [
    ["path not valid UTF-8", `path=%2Ftmp%2F%FF`, 400],
    ["path with %00", `path=%2Ftmp%2Fa%00b`, 400],
    ["broken percent-encoding", `path=%2`, 400],
    ["a directory", () => `path=${enc(dir)}`, 400],
    ["a missing file", () => `path=${enc(join(dir, "missing"))}`, 404],
    ["an unknown user", () => `path=${enc(join(dir, "file.txt"))}&username=no-such-user-z`, 401],
  ];
  test.each(getCases)("GET %s", async (_name, query, status) => {
    const res = await files(typeof query === "function" ? query() : query);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { code: number; message: string };
    expect(body.code).toBe(status);
    expect(body.message.length).toBeGreaterThan(0);
  });

  test("GET with no acceptable encoding is 406", async () => {
    const res = await files(`path=${enc(join(dir, "file.txt"))}`, {
      headers: { "accept-encoding": "br, identity;q=0" },
    });
    expect(res.status).toBe(406);
  });

  type PostCase = [string, () => string, string, Record<string, string>, string, number];
  const postCases: PostCase[] = [
    [
      "upload onto a directory",
      () => `path=${enc(dir)}`,
      "application/octet-stream",
      {},
      "data",
      400,
    ],
    ["raw upload without path", () => "", "application/octet-stream", {}, "data", 400],
    [
      "unsupported content type",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "text/plain",
      {},
      "data",
      400,
    ],
    [
      "unsupported content encoding",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "application/octet-stream",
      { "content-encoding": "br" },
      "data",
      400,
    ],
    [
      "gzip header on a plain body",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "application/octet-stream",
      { "content-encoding": "gzip" },
      "not gzip at all",
      400,
    ],
    [
      "truncated multipart",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "multipart/form-data; boundary=XyZ",
      {},
      '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
      400,
    ],
    [
      "multipart without boundary",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "multipart/form-data",
      {},
      "x",
      400,
    ],
    [
      "metadata value not ASCII",
      () => `path=${enc(join(dir, "t.txt"))}`,
      "application/octet-stream",
      { "x-metadata-k": "caf\u00e9" },
      "x",
      400,
    ],
    [
      "an unknown user",
      () => `path=${enc(join(dir, "t.txt"))}&username=no-such-user-z`,
      "application/octet-stream",
      {},
      "x",
      401,
    ],
    [
      "a full disk (/dev/full)",
      () => "path=%2Fdev%2Ffull",
      "application/octet-stream",
      {},
      "x".repeat(100_000),
      507,
    ],
  ];
  test.each(postCases)("POST %s", async (_name, query, type, headers, body, status) => {
    const res = await files(query(), {
      method: "POST",
      headers: { "content-type": type, ...headers },
      body,
    });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { code: number }).code).toBe(status);
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });

  test("a 256 MiB upload streams to disk without envd holding it in memory", async () => {
    const target = join(dir, "big.bin");
    // envd's peak memory: the kernel's high-water mark where /proc has it (reset first; gVisor
    // has neither), and the resident size sampled all along the upload anyway. What counts is
    // how much it grew: holding the body would add 256 MiB.
    const field = (status: string, name: string) =>
      Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    await world.sh(`echo 5 > /proc/${envd.pid}/clear_refs`);
    const before = field(await world.procStatus(envd.pid), "VmRSS");
    expect(before).toBeGreaterThan(0);
    let uploading = true;
    let peakBytes = 0;
    let samples = 0;
    const sample = async () => {
      const status = await world.procStatus(envd.pid);
      peakBytes = Math.max(peakBytes, field(status, "VmHWM"), field(status, "VmRSS"));
      samples++;
    };
    const sampler = (async () => {
      while (uploading) {
        await sample();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    const body = Readable.toWeb(
      Readable.from(
        (function* () {
          for (; sent < 256; sent++) yield chunk;
        })(),
      ),
    ) as ReadableStream<Uint8Array>;
    // Its own connection, closed after: the next test's requests never queue behind a
    // streamed upload's (one of them once waited 180 s for an answer, twice under load).
    const own = new Agent({ pipelining: 0 });
    const res = await undiciFetch(`${envd.url}/files?path=${enc(target)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body,
      duplex: "half",
      dispatcher: own,
    }).finally(() => {
      uploading = false;
    });
    await sampler;
    await sample();
    expect(res.status).toBe(200);
    expect((await world.stat(target))?.size).toBe(256 * 1024 * 1024);
    expect(samples).toBeGreaterThanOrEqual(2);
    expect(peakBytes - before).toBeLessThan(128 * 1024 * 1024);
    await own.close();
    await world.remove(target);
  });

  test("an upload that fails halfway leaves its connection able to carry the next request", async () => {
    // One connection, reused. The whole body is sent at once (the kernel's buffers take it),
    // but the write to /dev/full fails on envd's first chunk, with the rest still unread.
    // envd once answered 507 and never read another byte from that connection, so the
    // client's next request on it waited forever.
    const one = new Agent({ connections: 1 });
    try {
      const full = await undiciFetch(`${envd.url}/files?path=%2Fdev%2Ffull`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: Buffer.alloc(1024 * 1024, 7),
        dispatcher: one,
      });
      expect(full.status).toBe(507);
      await full.text();
      const next = await undiciFetch(`${envd.url}/health`, {
        dispatcher: one,
        signal: AbortSignal.timeout(20_000),
      });
      expect(next.status).toBe(204);
    } finally {
      await one.close();
    }
  });

  test("a request Connect cannot take as an RPC gets a JSON reason, not a bare status", async () => {
    const cases: [string, RequestInit, number][] = [
      ["/process.Process/Nope", { method: "POST", body: "{}" }, 404],
      ["/nope.Service/List", { method: "POST", body: "{}" }, 404],
      ["/process.Process/List", { method: "GET" }, 405],
      [
        "/process.Process/List",
        { method: "POST", body: "{}", headers: { "content-type": "text/plain" } },
        415,
      ],
      [
        "/process.Process/List",
        {
          method: "POST",
          body: "{}",
          headers: { "content-type": "application/json; charset=utf-16" },
        },
        415,
      ],
    ];
    for (const [path, init, status] of cases) {
      // Bounded: a request left unanswered fails here, naming itself.
      const res = await fetch(`${envd.url}${path}`, {
        ...init,
        signal: AbortSignal.timeout(60_000),
      }).catch((error: unknown) => {
        throw new Error(`${init.method} ${path}: ${String(error)}`);
      });
      expect(res.status, path).toBe(status);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ code: status, message: expect.any(String) });
    }
    const ok = await fetch(`${envd.url}/process.Process/List`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    expect(ok.status).toBe(200);
  });

  test("/init with garbage is refused, envd keeps serving", async () => {
    for (const body of [
      "{nope",
      "[1,2]",
      '{"envVars":[1]}',
      '{"envVars":{"A":1}}',
      '{"accessToken":5}',
    ]) {
      const res = await fetch(`${envd.url}/init`, { method: "POST", body });
      expect(res.status).toBe(400);
    }
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
  });
});
