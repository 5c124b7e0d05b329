// bench/sdk-overhead's TypeScript side: @wrenn/sdk beside the same calls made raw with fetch,
// alternating one and the other on one sandbox, in the bench's own process.
import { API_KEY_HEADER, ENVD_ACCESS_TOKEN_HEADER, ENVD_PORT } from "@wrenn/contract";
import { Sandbox } from "@wrenn/sdk";

export interface Target {
  apiUrl: string;
  apiKey: string;
  sandboxId: string;
  envdAccessToken: string;
}

export type Side = Record<"exec" | "upload" | "download", { sdk: number[]; raw: number[] }>;

const PATH = "/tmp/bench-overhead-ts.bin";

async function pair(
  runs: number,
  sdk: () => Promise<unknown>,
  raw: () => Promise<unknown>,
): Promise<{ sdk: number[]; raw: number[] }> {
  const out = { sdk: [] as number[], raw: [] as number[] };
  await sdk();
  await raw(); // one of each to warm up
  for (let i = 0; i < runs; i++) {
    for (const [name, call] of [
      ["sdk", sdk],
      ["raw", raw],
    ] as const) {
      const t = performance.now();
      await call();
      out[name].push(performance.now() - t);
    }
  }
  return out;
}

/** Reads a body to its end, keeping only its size and (for small answers) its text. */
async function drain(
  body: ReadableStream<Uint8Array> | null,
): Promise<{ n: number; head: string }> {
  let n = 0;
  let head = "";
  const decoder = new TextDecoder();
  for await (const chunk of body ?? []) {
    n += chunk.length;
    if (head.length < 65_536) head += decoder.decode(chunk, { stream: true });
  }
  return { n, head };
}

export async function tsSide(t: Target, runs: number, transfers: number, size: number) {
  const sbx = new Sandbox(t, { apiKey: t.apiKey, apiUrl: t.apiUrl, requestTimeoutMs: 600_000 });
  const base = `${t.apiUrl}/v1/sandboxes/${encodeURIComponent(t.sandboxId)}/ports/${ENVD_PORT}`;
  const headers = { [API_KEY_HEADER]: t.apiKey, [ENVD_ACCESS_TOKEN_HEADER]: t.envdAccessToken };
  const data = new Uint8Array(size).map((_, i) => i % 256);
  const files = `${base}/files?${new URLSearchParams({ path: PATH })}`;

  const raw = async (url: string, init: RequestInit) => {
    const r = await fetch(url, { ...init, headers: { ...headers, ...init.headers } });
    const body = await drain(r.body);
    if (r.status !== 200) throw new Error(`${url}: ${r.status} ${body.head.slice(0, 200)}`);
    return body;
  };
  const message = new TextEncoder().encode(
    JSON.stringify({ process: { cmd: "/bin/bash", args: ["-l", "-c", "true"] } }),
  );
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);

  const side: Side = {
    exec: await pair(
      runs,
      () => sbx.commands.run("true"),
      async () => {
        const { head } = await raw(`${base}/process.Process/Start`, {
          method: "POST",
          body: frame,
          headers: {
            "content-type": "application/connect+json",
            "connect-protocol-version": "1",
          },
        });
        if (!head.includes('"end"')) throw new Error(`no end event: ${head.slice(0, 200)}`);
      },
    ),
    upload: await pair(
      transfers,
      () => sbx.files.write(PATH, data),
      () =>
        raw(files, {
          method: "POST",
          body: data,
          headers: { "content-type": "application/octet-stream" },
        }),
    ),
    download: await pair(
      transfers,
      async () => {
        const n = (await drain(await sbx.files.read(PATH, { format: "stream" }))).n;
        if (n !== size) throw new Error(`short download: ${n}`);
      },
      async () => {
        const { n } = await raw(files, { method: "GET" });
        if (n !== size) throw new Error(`short download: ${n}`);
      },
    ),
  };
  return side;
}
