import { runCommand } from "../command/run-command.js";

/** The chains every table has (firewall.ts builds them); the rest are per sandbox. */
export const BASE_CHAINS = ["prerouting", "input", "forward", "postrouting", "deny_out", "steer"];

/** What one of our tables holds now, for verify, reconcile's report and tests. */
export interface FirewallState {
  readonly exists: boolean;
  /** Host interfaces with an egress verdict (sandboxes with internet access). */
  readonly egress: string[];
  /** The guard's host interfaces allowed out at all (the same sandboxes). */
  readonly internet: string[];
  /** Per-sandbox (regular) chains. */
  readonly chains: string[];
  /** The base chains' rules, serialised without handles: comparable between listings. */
  readonly baseRules: string;
}

interface NftItem {
  chain?: { name: string; hook?: string };
  map?: { name: string; elem?: unknown[] };
  set?: { name: string; elem?: unknown[] };
  rule?: { chain: string; expr: unknown };
}

export async function readFirewallState(table: string): Promise<FirewallState> {
  let out: string;
  try {
    out = await runCommand("nft", ["-j", "list", "table", "inet", table]);
  } catch {
    return { exists: false, egress: [], internet: [], chains: [], baseRules: "" };
  }
  const items = (JSON.parse(out) as { nftables: NftItem[] }).nftables;
  const egress: string[] = [];
  const internet: string[] = [];
  const chains: string[] = [];
  const base: unknown[] = [];
  for (const item of items) {
    if (item.chain && !item.chain.hook && !BASE_CHAINS.includes(item.chain.name)) {
      chains.push(item.chain.name);
    }
    if (item.map?.name === "egress") {
      for (const el of item.map.elem ?? []) if (Array.isArray(el)) egress.push(String(el[0]));
    }
    if (item.set?.name === "internet") {
      for (const el of item.set.elem ?? []) if (typeof el === "string") internet.push(el);
    }
    if (item.rule && BASE_CHAINS.includes(item.rule.chain)) {
      base.push([item.rule.chain, item.rule.expr]);
    }
  }
  return { exists: true, egress, internet, chains, baseRules: JSON.stringify(base) };
}
