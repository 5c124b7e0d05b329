import { describe, expect, it } from "vitest";
import { closingConnections } from "./closing-connections.js";

const guest = "10.224.0.6";
const host = "10.224.0.5";
const ct = (
  timeout: number,
  state: string,
  src: string,
  dst: string,
  sport: number,
  dport: number,
) =>
  `ipv4     2 tcp      6 ${timeout} ${state} src=${src} dst=${dst} sport=${sport} dport=${dport} src=${dst} dst=${src} sport=${dport} dport=${sport} [ASSURED] mark=0 zone=0 use=2`;
// The host's /proc/net/tcp line of a TIME_WAIT socket from host:51000 to guest:8080.
const hostTimeWait =
  "   7: 0500E00A:C738 0600E00A:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000";

describe("closingConnections", () => {
  it("reports a TIME_WAIT the sandbox holds: it closed first, the host did not wait", () => {
    const snap = {
      conntrack: ct(110, "TIME_WAIT", host, guest, 51000, 8080),
      hostTcp: "",
      conntrackTimeWaitS: 120,
    };
    expect(closingConnections(guest, snap)).toEqual(["TIME_WAIT port 8080"]);
  });

  it("ignores a TIME_WAIT the host holds: the sandbox's end is closed", () => {
    const snap = {
      conntrack: ct(110, "TIME_WAIT", host, guest, 51000, 8080),
      hostTcp: `  sl  local_address rem_address   st\n${hostTimeWait}`,
      conntrackTimeWaitS: 120,
    };
    expect(closingConnections(guest, snap)).toEqual([]);
  });

  it("ignores a TIME_WAIT older than netstack's, and other sandboxes' flows", () => {
    const snap = {
      conntrack: [
        ct(40, "TIME_WAIT", host, guest, 51000, 8080),
        ct(110, "TIME_WAIT", "10.224.0.9", "10.224.0.10", 51000, 8080),
        ct(110, "ESTABLISHED", host, guest, 51001, 49983),
        ct(5, "CLOSE", host, guest, 51002, 8080),
      ].join("\n"),
      hostTcp: "",
      conntrackTimeWaitS: 120,
    };
    expect(closingConnections(guest, snap)).toEqual([]);
  });

  it("reports a flow DNAT-ed to the sandbox (a workspace's WireGuard tunnel): the guest is in the reply", () => {
    // The laptop 10.10.0.1 to the tunnel's 10.10.0.2, DNAT-ed to the guest and masqueraded to
    // the veth's host address: the original direction never names the guest.
    const tunnelled = `ipv4     2 tcp      6 100 TIME_WAIT src=10.10.0.1 dst=10.10.0.2 sport=47910 dport=8000 src=${guest} dst=${host} sport=8000 dport=47910 [ASSURED] mark=51820 zone=0 use=2`;
    const snap = { conntrack: tunnelled, hostTcp: "", conntrackTimeWaitS: 120 };
    expect(closingConnections(guest, snap)).toEqual(["TIME_WAIT port 8000"]);
    expect(closingConnections("10.224.0.10", snap)).toEqual([]);
  });

  it("reports the sandbox's own outbound connections while they close", () => {
    const snap = {
      conntrack: [ct(30, "FIN_WAIT", guest, "198.18.7.2", 40000, 80), "garbage line", ""].join(
        "\n",
      ),
      hostTcp: "",
      conntrackTimeWaitS: 120,
    };
    expect(closingConnections(guest, snap)).toEqual(["FIN_WAIT port 40000"]);
  });
});
