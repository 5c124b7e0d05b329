import { CommandError, runCommand } from "../command/run-command.js";

let missingReported = false;

/**
 * Deletes the host's conntrack entries to and from an address (or CIDR). A sandbox leaving its
 * address must not pass its flows on: established entries would let the previous owner's
 * peers through the next owner's `ct state established` rules, and its TIME_WAIT entries would
 * look like the next owner's (see closing-connections.ts). `conntrack` exits 1 when there was
 * nothing to delete, which is fine.
 */
export async function forgetFlows(
  address: string,
  warn: (message: string) => void = () => {},
): Promise<void> {
  const run = (direction: "-s" | "-d") =>
    runCommand("conntrack", ["-D", "-f", "ipv4", direction, address]).catch((err: unknown) => {
      if (err instanceof CommandError && err.started) return;
      if (!missingReported) {
        missingReported = true;
        warn(`cannot run conntrack (apt-get install conntrack): ${String(err)}`);
      }
    });
  await Promise.all([run("-s"), run("-d")]);
}

/**
 * The destinations of the flows a sandbox opened ("tcp 6 ... src=<guest> dst=<peer> ... src=<peer>
 * dst=<host> ..."). Flows redirected to the egress proxy (their reply comes from the host, not
 * from the destination) are left out: the proxy decides about those by name (EgressProxy.cut).
 */
export function flowDestinations(conntrackList: string, guestIp: string): string[] {
  const out = new Set<string>();
  for (const line of conntrackList.split("\n")) {
    const [src, replySrc] = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    const dst = /\bdst=(\S+)/.exec(line)?.[1];
    if (src === guestIp && dst && (replySrc === undefined || replySrc === dst)) out.add(dst);
  }
  return [...out];
}

/**
 * After a policy change: forgets the flows the sandbox opened to destinations the new policy
 * forbids, so their peers' packets no longer reach it (and the peers get a reset from the
 * host); the sandbox's own next packet on them meets the policy's reject (a TCP reset). Flows
 * the new policy still allows are left alone: forgetting them would re-NAT them.
 */
export async function cutForbiddenFlows(
  guestIp: string,
  allowed: (destination: string) => boolean,
  warn: (message: string) => void = () => {},
): Promise<string[]> {
  let listing: string;
  try {
    listing = await runCommand("conntrack", ["-L", "-f", "ipv4", "-s", guestIp]);
  } catch (err) {
    if (!(err instanceof CommandError && err.started) && !missingReported) {
      missingReported = true;
      warn(`cannot run conntrack (apt-get install conntrack): ${String(err)}`);
    }
    return [];
  }
  const cut = flowDestinations(listing, guestIp).filter((d) => !allowed(d));
  await Promise.all(
    cut.map((d) =>
      // --reply-src: the flows that went to d itself, not those redirected to the proxy.
      runCommand("conntrack", ["-D", "-f", "ipv4", "-s", guestIp, "-d", d, "-r", d]).catch(
        () => {},
      ),
    ),
  );
  return cut;
}
