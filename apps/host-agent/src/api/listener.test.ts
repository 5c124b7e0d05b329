import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import type { Forwarder } from "./forwarder.js";
import { startListener } from "./listener.js";

const log = pino({ level: "silent" });
// The token check runs before any route, so no forwarder is reached in these tests.
const forwarder = {} as Forwarder;
const routes = () => {};

describe("agent listener", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("refuses to listen beyond loopback without a token", async () => {
    await expect(
      startListener({ listen: "0.0.0.0:0", routes, forwarder, metrics: new Registry(), log }),
    ).rejects.toThrow(/without a token/);
  });

  it("demands the token on every route when one is set", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      token: "s3cret-token",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    const url = `http://${l.address}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(401);
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: "Bearer wrong-token!" } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${url}/healthz`, { headers: { authorization: "Bearer s3cret-token" } })).status,
    ).toBe(204);
    // Forwarded requests carry it in their own header: Authorization belongs to the sandbox.
    const fwd = await fetch(`${url}/healthz`, { headers: { "wrenn-agent-token": "s3cret-token" } });
    expect(fwd.status).toBe(204);
  });

  it("serves without a token on loopback", async () => {
    const l = await startListener({
      listen: "127.0.0.1:0",
      routes,
      forwarder,
      metrics: new Registry(),
      log,
    });
    close = l.close;
    expect((await fetch(`http://${l.address}/healthz`)).status).toBe(204);
  });
});
