import { readFile } from "node:fs/promises";

/**
 * TCP connections of a sandbox that may still hold an endpoint inside it without any file
 * descriptor, so the sandbox's own /proc/net/tcp does not list them: mostly TIME_WAIT after
 * the sandbox closed first (a server answering and hanging up). This runsc panics when it
 * saves such an endpoint, and a failed save kills the sandbox; the host's conntrack table still
 * sees every one of these flows, so the agent asks it before a checkpoint.
 */
export interface ConntrackSnapshot {
  /** /proc/net/nf_conntrack */
  conntrack: string;
  /** The host's /proc/net/tcp: a TIME_WAIT held on the host side means the sandbox's is gone. */
  hostTcp: string;
  /** nf_conntrack_tcp_timeout_time_wait: how long conntrack keeps a TIME_WAIT flow. */
  conntrackTimeWaitS: number;
}

/** netstack keeps TIME_WAIT 60 s; a margin for the clocks of two stacks. */
const NETSTACK_TIME_WAIT_S = 65;
const CLOSING = new Set(["FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSING"]);

interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

interface Flow extends Tuple {
  state: string;
  remainingS: number;
  /** The reply direction: after a DNAT (a workspace's WireGuard tunnel), the guest is here. */
  reply?: Tuple;
}

function parseFlow(line: string): Flow | undefined {
  const f = line.trim().split(/\s+/);
  // "ipv4 2 tcp 6 <timeout> <STATE> src=.. dst=.. sport=.. dport=.. src=.. dst=.. ..." (the
  // original direction, then the reply's)
  if (f[0] !== "ipv4" || f[2] !== "tcp") return undefined;
  const values = (name: string) =>
    f.filter((x) => x.startsWith(`${name}=`)).map((x) => x.slice(name.length + 1));
  const [src, replySrc] = values("src");
  const [dst, replyDst] = values("dst");
  const [sport, replySport] = values("sport").map(Number);
  const [dport, replyDport] = values("dport").map(Number);
  const remainingS = Number(f[4]);
  if (!src || !dst || !Number.isInteger(sport) || !Number.isInteger(dport)) return undefined;
  const reply =
    replySrc && replyDst && Number.isInteger(replySport) && Number.isInteger(replyDport)
      ? { src: replySrc, dst: replyDst, sport: replySport as number, dport: replyDport as number }
      : undefined;
  return {
    state: f[5] ?? "",
    remainingS,
    src,
    dst,
    sport: sport as number,
    dport: dport as number,
    reply,
  };
}

/** "0100007F:1F90" (little-endian hex, as /proc/net/tcp writes IPv4) → "127.0.0.1:8080". */
function hexEndpoint(hex: string): string {
  const [ip = "", port = ""] = hex.split(":");
  const bytes = (ip.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).reverse();
  return `${bytes.join(".")}:${Number.parseInt(port, 16)}`;
}

function hostTimeWaits(hostTcp: string): Set<string> {
  const out = new Set<string>();
  for (const line of hostTcp.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "06" && f[1] && f[2]) out.add(`${hexEndpoint(f[1])}>${hexEndpoint(f[2])}`);
  }
  return out;
}

/** Descriptions ("TIME_WAIT port 8080") of the flows that make a checkpoint unsafe now. */
export function closingConnections(guestIp: string, snap: ConntrackSnapshot): string[] {
  const heldByHost = hostTimeWaits(snap.hostTcp);
  const out: string[] = [];
  for (const line of snap.conntrack.split("\n")) {
    const flow = parseFlow(line);
    if (!flow || !CLOSING.has(flow.state)) continue;
    // Inbound: to the guest's address, or DNAT-ed to it (then only the reply names the guest).
    const guestPort =
      flow.dst === guestIp
        ? flow.dport
        : flow.src === guestIp
          ? flow.sport
          : flow.reply?.src === guestIp
            ? flow.reply.sport
            : undefined;
    if (guestPort === undefined) continue;
    if (flow.state === "TIME_WAIT") {
      // The side that closed first waits; if that was the host, the sandbox's end is closed.
      if (heldByHost.has(`${flow.src}:${flow.sport}>${flow.dst}:${flow.dport}`)) continue;
      const elapsedS = snap.conntrackTimeWaitS - flow.remainingS;
      if (elapsedS >= NETSTACK_TIME_WAIT_S) continue;
    }
    out.push(`${flow.state} port ${guestPort}`);
  }
  return out;
}

/** Reads the host's tables; a host without conntrack has no such flows to report. */
export async function readConntrackSnapshot(): Promise<ConntrackSnapshot> {
  const read = (file: string) => readFile(file, "utf8").catch(() => "");
  const [conntrack, hostTcp, timeWait] = await Promise.all([
    read("/proc/net/nf_conntrack"),
    read("/proc/net/tcp"),
    read("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait"),
  ]);
  return { conntrack, hostTcp, conntrackTimeWaitS: Number(timeWait.trim()) || 120 };
}
