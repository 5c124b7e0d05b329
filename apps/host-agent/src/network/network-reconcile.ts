import { runCommand } from "../command/run-command.js";
import type { AllocationStore, SlotRecord } from "./allocation-store.js";
import type { Backstops } from "./backstop.js";
import { type Firewall, readFirewallState } from "./firewall.js";
import { parseIpv4 } from "./ipv4.js";
import type { NetworkLogger } from "./logger.js";
import { keyFromChain, keyFromHostIf, keyOf, namesFor, sandboxIdFromNetns } from "./naming.js";
import { listNetns, listRootLinks, removeLinks } from "./netlink.js";
import type { NetworkPolicy } from "./policy.js";
import { PREFIX_LEN, SLOT_SIZE, type SlotLayout } from "./slot-layout.js";

export interface ReconcileReport {
  /** Known sandboxes whose allocation was kept. */
  readonly kept: string[];
  /** Known sandboxes whose allocation was rebuilt from the live interface's address. */
  readonly adopted: string[];
  /** Known sandboxes that have an allocation but no namespace (setup never finished). */
  readonly incomplete: string[];
  /** Unknown sandboxes whose leftovers (any of netns, veth, rules, allocation) were removed. */
  readonly removed: string[];
}

/** What reconcile needs of the manager: its store, rules and layout. */
export interface ReconcileDeps {
  readonly layout: SlotLayout;
  readonly store: AllocationStore;
  readonly firewall: Firewall;
  readonly backstops: Backstops;
  readonly log: NetworkLogger;
  storedPolicy(record: SlotRecord): NetworkPolicy;
  syncForwarding(force: boolean): Promise<void>;
}

/**
 * The start-of-agent sweep, apart from the manager because it runs once, under the manager's
 * whole-table lock, and reads the host (namespaces, links, rules) rather than the store alone.
 * `known` and `knownKeys` are validated by the caller (ids, and one key per sandbox).
 */
export async function reconcileNetworks(
  deps: ReconcileDeps,
  known: Set<string>,
  knownKeys: Map<string, string>,
): Promise<ReconcileReport> {
  const { store, firewall, log } = deps;
  const prefix = deps.layout.prefix;
  await store.load();
  const [netnsNames, linkNames, fw] = await Promise.all([
    listNetns(),
    listRootLinks(),
    readFirewallState(firewall.config.table),
  ]);
  // Leaks are found by what is ours by name, and matched to sandboxes by key (the 8 hex
  // digits), since interface and chain names carry only the key.
  const liveNetns = new Set(
    netnsNames.map((n) => sandboxIdFromNetns(prefix, n)).filter((id) => id !== null),
  );
  const liveLinkKeys = new Set(
    linkNames.map((n) => keyFromHostIf(prefix, n)).filter((k) => k !== null),
  );
  const leakedIds = new Set([
    ...store
      .list()
      .map((r) => r.sandboxId)
      .filter((id) => !known.has(id)),
    ...[...liveNetns].filter((id) => !known.has(id)),
  ]);
  // A link is another sandbox's while its key is known, even if the id differs.
  const leakedLinkKeys = [...liveLinkKeys].filter((k) => !knownKeys.has(k));
  await inBatches([...leakedIds], 8, async (id) => {
    const names = namesFor(prefix, id);
    const key = keyOf(id);
    await removeLinks(knownKeys.has(key) ? { netns: names.netns } : names);
    await store.release(id);
  });
  await inBatches(leakedLinkKeys, 8, (key) => removeLinks({ hostIf: `${prefix}${key}` }));
  await store.dropUnreadable();
  // Leaked rules need no step of their own: the rebuild below leaves them out.
  const leakedKeys = new Set([...leakedIds].map(keyOf));
  const removed = [
    ...leakedIds,
    ...[
      ...leakedLinkKeys.map((k) => [k, `${prefix}${k}`] as const),
      ...fw.egress.map((i) => [keyFromHostIf(prefix, i), i] as const),
      ...fw.chains.map((c) => [keyFromChain(c), c] as const),
    ]
      .filter(([k]) => k !== null && !knownKeys.has(k) && !leakedKeys.has(k))
      .map(([, label]) => label),
  ];
  const uniqueRemoved = [...new Set(removed)].sort();

  const adopted: string[] = [];
  for (const id of known) {
    if (store.get(id) || !liveLinkKeys.has(keyOf(id))) continue;
    if (await adopt(deps, id)) adopted.push(id);
    else log.warn({ sandboxId: id }, "known sandbox has a veth but no usable address");
  }
  const records = store.list();
  await firewall.rebuild(
    records.map((r) => ({ entry: deps.layout.entry(r), policy: deps.storedPolicy(r) })),
  );
  await deps.syncForwarding(true);
  // Every kept sandbox's backstop written again: an adopted one (or one whose agent died
  // before writing it) gets it, and all of them get this agent's configuration. A namespace
  // that cannot take it (the leftover of an interrupted `ip netns add`: the runtime sets it
  // up again) must not stop the agent; the periodic verification retries what failed.
  await deps.backstops
    .refresh(
      records.map((r) => ({ ...deps.layout.describe(r), policy: deps.storedPolicy(r) })),
      true,
    )
    .catch((err: unknown) =>
      log.error({ err: (err as Error).message }, "some sandbox backstops could not be written"),
    );

  const report: ReconcileReport = {
    kept: records.map((r) => r.sandboxId).sort(),
    adopted,
    incomplete: records
      .filter((r) => !liveNetns.has(r.sandboxId))
      .map((r) => r.sandboxId)
      .sort(),
    removed: uniqueRemoved,
  };
  log.info(
    {
      kept: report.kept.length,
      adopted,
      incomplete: report.incomplete,
      removed: uniqueRemoved,
    },
    "network reconciled",
  );
  return report;
}

/**
 * A known sandbox with a live veth but no allocation record (state dir lost): derive its
 * slot from the host side's address, so it keeps its address and gets its rules back.
 * Its policy is unknown, so it gets none (no egress) until setPolicy.
 */
async function adopt(deps: ReconcileDeps, sandboxId: string): Promise<boolean> {
  const names = namesFor(deps.layout.prefix, sandboxId);
  let out: string;
  try {
    out = await runCommand("ip", ["-j", "-4", "addr", "show", "dev", names.hostIf]);
  } catch {
    return false;
  }
  const parsed = JSON.parse(out) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const local = parsed[0]?.addr_info?.find((a) => a.prefixlen === PREFIX_LEN)?.local;
  if (!local) return false;
  const offset = parseIpv4(local) - deps.layout.poolCidr.base - 1;
  if (offset < 0 || offset % SLOT_SIZE !== 0) return false;
  const record = await deps.store.claimIndex(sandboxId, offset / SLOT_SIZE);
  if (record) deps.log.warn({ sandboxId, hostIp: local }, "adopted network without a record");
  return record !== null;
}

/** `fn` on every item, `size` at a time: bounded concurrency for per-sandbox commands. */
export async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}
