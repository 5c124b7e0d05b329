import { CommandError, runCommand } from "./command.js";

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
      if (err instanceof CommandError) return;
      if (!missingReported) {
        missingReported = true;
        warn(`cannot run conntrack (apt-get install conntrack): ${String(err)}`);
      }
    });
  await Promise.all([run("-s"), run("-d")]);
}
