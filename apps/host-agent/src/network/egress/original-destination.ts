import { runCommand } from "../../command/run-command.js";

/**
 * Where a connection redirected to the egress proxy's tunnel port was going. `redirect`
 * rewrites the destination to the host; the original one lives on in the connection's
 * conntrack entry (Node has no getsockopt for SO_ORIGINAL_DST), found by the sandbox's
 * address and source port and by the port it was redirected to. Undefined when there is no
 * such entry (the connection is already gone): the caller refuses the connection.
 */
export async function originalDestination(
  guestIp: string,
  guestPort: number,
  proxyPort: number,
): Promise<{ address: string; port: number } | undefined> {
  const out = await runCommand("conntrack", [
    ...["-L", "-f", "ipv4", "-p", "tcp", "--orig-src", guestIp],
    ...["--sport", String(guestPort), "--reply-port-src", String(proxyPort)],
  ]).catch(() => "");
  return parseOriginalDestination(out, guestIp, guestPort);
}

/** The original tuple's destination of the one line whose source is the sandbox's. */
export function parseOriginalDestination(
  list: string,
  guestIp: string,
  guestPort: number,
): { address: string; port: number } | undefined {
  for (const line of list.split("\n")) {
    const src = /\bsrc=(\S+)/.exec(line)?.[1];
    const sport = /\bsport=(\d+)/.exec(line)?.[1];
    const dst = /\bdst=(\S+)/.exec(line)?.[1];
    const dport = /\bdport=(\d+)/.exec(line)?.[1];
    if (src === guestIp && Number(sport) === guestPort && dst && dport) {
      return { address: dst, port: Number(dport) };
    }
  }
  return undefined;
}
