import { once } from "node:events";
import { createServer } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { readClientHello } from "./client-hello.js";
import { FirstBytes } from "./first-bytes.js";
import { readHttpHost } from "./http-host.js";

/** A ClientHello record with the given extensions (type, data), as a client would send it. */
function hello(extensions: [number, Buffer][], recordSplit?: number): Buffer {
  const ext = Buffer.concat(
    extensions.map(([type, data]) => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(type, 0);
      h.writeUInt16BE(data.length, 2);
      return Buffer.concat([h, data]);
    }),
  );
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(ext.length);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32),
    Buffer.from([0]), // session id
    Buffer.from([0, 2, 0x13, 0x01]), // one cipher suite
    Buffer.from([1, 0]), // null compression
    extLen,
    ext,
  ]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  const record = (part: Buffer) => {
    const h = Buffer.from([0x16, 3, 1, 0, 0]);
    h.writeUInt16BE(part.length, 3);
    return Buffer.concat([h, part]);
  };
  if (recordSplit === undefined) return record(hs);
  return Buffer.concat([record(hs.subarray(0, recordSplit)), record(hs.subarray(recordSplit))]);
}

function sni(...names: string[]): Buffer {
  const entries = Buffer.concat(
    names.map((n) => {
      const h = Buffer.from([0, 0, 0]);
      h.writeUInt16BE(n.length, 1);
      return Buffer.concat([h, Buffer.from(n, "latin1")]);
    }),
  );
  const len = Buffer.alloc(2);
  len.writeUInt16BE(entries.length);
  return Buffer.concat([len, entries]);
}

describe("readClientHello", () => {
  it("reads the server name of a real ClientHello (Node's TLS client), fed a byte at a time", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const first = new Promise<Buffer>((resolve) => {
      server.once("connection", (s) => {
        let buf = Buffer.alloc(0);
        s.on("data", (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (readClientHello(buf).kind !== "more") {
            resolve(buf);
            s.destroy();
          }
        });
      });
    });
    const client = tlsConnect({ host: "127.0.0.1", port, servername: "Api.Example.com" });
    client.on("error", () => {});
    const bytes = await first;
    client.destroy();
    server.close();
    for (let i = 1; i < bytes.length; i++) {
      expect(readClientHello(bytes.subarray(0, i)).kind).toBe("more");
    }
    expect(readClientHello(bytes)).toEqual({ kind: "name", name: "Api.Example.com" });
  });

  it("reassembles a ClientHello split over two records", () => {
    expect(readClientHello(hello([[0, sni("a.test")]], 20))).toEqual({
      kind: "name",
      name: "a.test",
    });
  });

  it("refuses what hides or lacks the name: ECH, no SNI, two names, not TLS", () => {
    const refused = (b: Buffer) => readClientHello(b);
    expect(
      refused(
        hello([
          [0xfe0d, Buffer.alloc(8)],
          [0, sni("public.test")],
        ]),
      ),
    ).toMatchObject({
      kind: "refuse",
      why: expect.stringMatching(/ECH/),
    });
    expect(refused(hello([[0x000a, Buffer.alloc(4)]]))).toMatchObject({
      kind: "refuse",
      why: expect.stringMatching(/no server name/),
    });
    expect(refused(hello([[0, sni("a.test", "b.test")]]))).toMatchObject({ kind: "refuse" });
    expect(refused(hello([[0, sni("a\u0000.test")]]))).toMatchObject({ kind: "refuse" });
    expect(refused(Buffer.from("GET / HTTP/1.1\r\n"))).toMatchObject({ kind: "refuse" });
    // A length that runs past the extensions is malformed, never read out of bounds.
    const broken = hello([[0, sni("a.test")]]);
    broken.writeUInt16BE(0xffff, broken.length - sni("a.test").length - 2);
    expect(refused(broken)).toMatchObject({ kind: "refuse" });
  });
});

describe("readHttpHost", () => {
  const head = (s: string) => readHttpHost(Buffer.from(s));
  it("reads the Host header, without its port", () => {
    expect(head("GET / HTTP/1.1\r\nHost: a.test:8080\r\nX: y\r\n\r\n")).toEqual({
      kind: "name",
      name: "a.test",
    });
    expect(head("GET / HTTP/1.1\r\nhOsT:  b.test \r\n\r\nbody")).toEqual({
      kind: "name",
      name: "b.test",
    });
    expect(head("GET / HTTP/1.1\r\nHost: a.te").kind).toBe("more");
  });

  it("refuses two Host headers, none, a malformed one, and what is not HTTP/1", () => {
    for (const s of [
      "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
      "SSH-2.0-OpenSSH_9.2\r\n",
      "\u0016\u0003\u0001 binary\r\n",
    ]) {
      expect(head(s).kind).toBe("refuse");
    }
  });
});

describe("FirstBytes (what the proxy reads before deciding)", () => {
  it("a ClientHello dribbled a byte at a time: the name once complete, every byte passed on", () => {
    const bytes = Buffer.concat([hello([[0, sni("a.test")]], 20), Buffer.from("early data")]);
    const first = new FirstBytes("tls");
    for (let i = 0; i < bytes.length; i++) {
      const v = first.push(bytes.subarray(i, i + 1));
      if (v.kind === "more") continue;
      expect(v).toEqual({ kind: "name", name: "a.test", head: bytes.subarray(0, i + 1) });
      expect(i).toBe(bytes.length - "early data".length - 1);
      return;
    }
    throw new Error("never decided");
  });

  it("a request head in odd pieces, the blank line split across them; a body past the buffer kept", () => {
    const head = "GET / HTTP/1.1\r\nHost: b.test\r\n\r";
    const first = new FirstBytes("http");
    expect(first.push(Buffer.from(head.slice(0, 7))).kind).toBe("more");
    expect(first.push(Buffer.from(head.slice(7))).kind).toBe("more");
    const rest = Buffer.concat([Buffer.from("\n"), Buffer.alloc(20_000, 0x61)]);
    const v = first.push(rest);
    expect(v).toMatchObject({ kind: "name", name: "b.test" });
    expect(v.kind === "name" && v.head.equals(Buffer.concat([Buffer.from(head), rest]))).toBe(true);
  });

  it("refuses at once what is not TLS or HTTP, and a head that never ends", () => {
    expect(new FirstBytes("tls").push(Buffer.from("G")).kind).toBe("refuse");
    expect(new FirstBytes("http").push(Buffer.from("SSH-2.0-x\r\n")).kind).toBe("refuse");
    const endless = new FirstBytes("http");
    expect(endless.push(Buffer.from("GET / HTTP/1.1\r\n")).kind).toBe("more");
    let v = endless.push(Buffer.from("X: y\r\n"));
    for (let i = 0; i < 4000 && v.kind === "more"; i++) v = endless.push(Buffer.from("X: y\r\n"));
    expect(v.kind).toBe("refuse");
  });
});
