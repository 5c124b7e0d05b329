import { describe, expect, it } from "vitest";
import { agentConfigFromEnv } from "./agent-config.js";

/** A host whose /etc/resolv.conf names systemd-resolved, with its upstream list beside it. */
const RESOLVED_HOST: Record<string, string> = {
  "/etc/resolv.conf": "nameserver 127.0.0.53\noptions edns0\n",
  "/run/systemd/resolve/resolv.conf": "nameserver 192.0.2.10\nnameserver 192.0.2.11\n",
};

function read(file: string): string {
  const text = RESOLVED_HOST[file];
  if (text === undefined) throw new Error(`ENOENT: ${file}`);
  return text;
}

describe("the egress proxy's name servers", () => {
  it("the sandboxes' forwarded DNS never goes to the host's loopback resolver; the proxy's own may", () => {
    const c = agentConfigFromEnv({}, read);
    expect(c.egressForwardDns).toEqual(["192.0.2.10", "192.0.2.11"]);
    expect(c.sandboxDns).toEqual(["192.0.2.10", "192.0.2.11"]);
    expect(c.egressDns).toEqual(["127.0.0.53"]);
  });

  it("WRENN_EGRESS_DNS wins for both, loopback or not", () => {
    const c = agentConfigFromEnv({ WRENN_EGRESS_DNS: "127.0.0.1, 192.0.2.20" }, read);
    expect(c.egressForwardDns).toEqual(["127.0.0.1", "192.0.2.20"]);
    expect(c.egressDns).toEqual(["127.0.0.1", "192.0.2.20"]);
  });
});
