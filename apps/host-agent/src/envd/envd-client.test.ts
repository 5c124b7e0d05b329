import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, test } from "vitest";
import { EnvdClient } from "./envd-client.js";

// A booting envd may be slow to answer its first requests (Node under ptrace on a busy host).
// Slow is not dead: waitHealthy must wait for an answer within its budget.

let server: Server | undefined;
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
);

/** Answers GET /health with 204, as envd does, each answer `delayMs` after the request. */
async function slowHealth(delayMs: number): Promise<number> {
  server = createServer((req, res) => {
    setTimeout(() => {
      res.statusCode = req.url === "/health" ? 204 : 404;
      res.end();
    }, delayMs);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", () => resolve()));
  return (server.address() as AddressInfo).port;
}

test("an envd that takes 3 s to answer is healthy, not timed out", async () => {
  const client = new EnvdClient("127.0.0.1", await slowHealth(3000));
  try {
    await expect(client.waitHealthy(60_000)).resolves.toBeUndefined();
  } finally {
    client.close();
  }
}, 90_000);

test("an envd that never answers fails at the budget and says so", async () => {
  const client = new EnvdClient("127.0.0.1", await slowHealth(3_600_000));
  try {
    await expect(client.waitHealthy(5000)).rejects.toThrow(/did not become healthy in 5 s/);
  } finally {
    client.close();
  }
}, 90_000);
