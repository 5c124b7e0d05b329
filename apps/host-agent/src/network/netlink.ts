import { readdir, stat } from "node:fs/promises";
import { CommandError, runCommand } from "../command/run-command.js";
import { NETNS_DIR, type SandboxNames } from "./naming.js";

/** The guest side of every pair; runsc's netstack takes over the interface by this name. */
export const GUEST_IF = "eth0";

export interface LinkAddresses {
  readonly hostIp: string;
  readonly guestIp: string;
  readonly prefixLen: number;
  /** Unset: the kernel's default (1500). */
  readonly mtu?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function guestLines(a: LinkAddresses, replace: boolean): string[] {
  const verb = replace ? "replace" : "add";
  return [
    `addr ${verb} ${a.guestIp}/${a.prefixLen} dev ${GUEST_IF}`,
    `link set ${GUEST_IF} up`,
    "link set lo up",
    `route ${verb} default via ${a.hostIp} dev ${GUEST_IF}`,
  ];
}

/**
 * Two `ip -batch` runs (one netlink session each) instead of a process per step: iproute2
 * takes no per-line namespace option, so the work inside the namespace is a second batch run
 * with `-n`. Names and addresses are validated and formatted by us, so the batch text
 * cannot carry anything but these commands.
 */
export async function createLinks(n: SandboxNames, a: LinkAddresses): Promise<void> {
  const mtu = a.mtu === undefined ? "" : ` mtu ${a.mtu}`;
  const root = [
    `netns add ${n.netns}`,
    `link add ${n.hostIf}${mtu} type veth peer name ${GUEST_IF}${mtu} netns ${n.netns}`,
    // No IPv6 link-local address on the host side: the sandbox gets nothing to talk to.
    `link set ${n.hostIf} addrgenmode none`,
    `addr add ${a.hostIp}/${a.prefixLen} dev ${n.hostIf}`,
    `link set ${n.hostIf} up`,
  ];
  await runCommand("ip", ["-batch", "-"], { input: `${root.join("\n")}\n` });
  await runCommand("ip", ["-n", n.netns, "-batch", "-"], {
    input: `${guestLines(a, false).join("\n")}\n`,
  });
}

/**
 * runsc removes eth0's address when its netstack takes the interface over; a later
 * `runsc restore` into the same namespace needs it back. `replace` makes this idempotent.
 */
export async function restoreGuestAddress(n: SandboxNames, a: LinkAddresses): Promise<void> {
  await runCommand("ip", ["-n", n.netns, "-batch", "-"], {
    input: `${guestLines(a, true).join("\n")}\n`,
  });
}

/**
 * Idempotent: removes whichever of the given veth (by its host side) and namespace still
 * exist. The host side is deleted explicitly because the kernel frees a namespace (and the
 * peer in it) lazily: waiting here means a teardown leaves nothing behind once it returns.
 */
export async function removeLinks(n: { hostIf?: string; netns?: string }): Promise<void> {
  const paths = {
    link: n.hostIf === undefined ? null : `/sys/class/net/${n.hostIf}`,
    netns: n.netns === undefined ? null : `${NETNS_DIR}/${n.netns}`,
  };
  const present = async () =>
    Promise.all([
      paths.link !== null && exists(paths.link),
      paths.netns !== null && exists(paths.netns),
    ]);
  const [hasLink, hasNetns] = await present();
  const lines: string[] = [];
  if (hasLink) lines.push(`link del ${n.hostIf}`);
  if (hasNetns) lines.push(`netns del ${n.netns}`);
  if (lines.length === 0) return;
  try {
    await runCommand("ip", ["-batch", "-"], { input: `${lines.join("\n")}\n` });
  } catch (err) {
    // A concurrent removal (or the kernel reaping the peer) may win the race; what matters
    // is that nothing is left.
    if ((await present()).some(Boolean)) throw err;
  }
}

/** Both the namespace and the host side of the pair are there. */
export async function linksExist(n: SandboxNames): Promise<boolean> {
  const [link, netns] = await Promise.all([
    exists(`/sys/class/net/${n.hostIf}`),
    exists(n.netnsPath),
  ]);
  return link && netns;
}

export async function netnsExists(n: SandboxNames): Promise<boolean> {
  return exists(n.netnsPath);
}

export async function listNetns(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch {
    return [];
  }
}

export async function listRootLinks(): Promise<string[]> {
  return readdir("/sys/class/net");
}

/**
 * Interfaces of the root namespace, other than `ownIf`, that carry a route inside `cidr`. The
 * kernel accepts the same address on a second interface without a word and keeps routing
 * through the first one: a new sandbox given a /30 that another interface still holds (a
 * leaked sandbox of a killed agent, another agent's pool) would have its traffic, the
 * control plane's access token included, delivered to someone else's sandbox.
 */
export async function routedElsewhere(cidr: string, ownIf: string): Promise<string[]> {
  const out = await runCommand("ip", ["-j", "-4", "route", "show", "root", cidr]);
  const routes = JSON.parse(out.trim() || "[]") as { dev?: string }[];
  return [...new Set(routes.flatMap((r) => (r.dev && r.dev !== ownIf ? [r.dev] : [])))];
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof CommandError && /File exists/i.test(err.output);
}
