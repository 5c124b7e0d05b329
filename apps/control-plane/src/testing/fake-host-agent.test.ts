import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { runAgentCreateCases, tableMismatches } from "@wrenn/contract/testing";
import { HostAgentService } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FakeHostAgent } from "./fake-host-agent.js";

// The same table runs against the real wrenn-agent in tests/host-agent/create-contract.test.ts.
describe("the fake agent refuses and accepts creates exactly as wrenn-agent does", () => {
  const agent = new FakeHostAgent();
  beforeAll(() => agent.start());
  afterAll(() => agent.stop());

  test("the shared create table", async () => {
    const client = createClient(
      HostAgentService,
      createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1" }),
    );
    let next = 0;
    const results = await runAgentCreateCases(
      (request) => client.createSandbox(request),
      () => `sb-fa${(next++).toString(16).padStart(6, "0")}`,
    );
    expect(tableMismatches(results)).toEqual([]);
    // What the fake holds is what the agent would: the checked, trimmed request.
    const limits = agent.sandboxes.get(results[1]!.sandboxId)!;
    expect(limits.template).toBe("base");
    expect(limits.allowOut).toEqual([
      "10.0.0.0/8",
      "1.1.1.1/32",
      "0.0.0.0/0",
      "example.com",
      "*.example.org",
    ]);
  });
});
