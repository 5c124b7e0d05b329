import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { AgentError } from "../sandboxes/errors.js";

/** A closed range of UDP ports (WRENN_WG_PORTS, "51820-51899"). */
export interface PortRange {
  first: number;
  last: number;
}

/** Parses "FIRST-LAST" (or one port); says what is wrong so the admin can fix it. */
export function parsePortRange(name: string, raw: string): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(raw.trim());
  const first = Number(m?.[1]);
  const last = Number(m?.[2] ?? m?.[1]);
  if (!m || first < 1 || last > 65535 || first > last) {
    throw new Error(`${name} must be a UDP port range FIRST-LAST within 1-65535 (got "${raw}")`);
  }
  return { first, last };
}

/**
 * The host's WireGuard UDP ports, one per workspace sandbox, persisted in one JSON file (written
 * whole to a temp file and renamed, so a crash leaves the old or the new assignment, never half
 * of one): a restarted agent gives every workspace the port it had, which its user's client
 * config names. A sandbox never holds two ports; a port never serves two sandboxes. Calls are
 * serialized, so concurrent claims never pick the same port.
 */
export class WireguardPorts {
  private assigned: Map<string, number> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly range: PortRange,
  ) {}

  /** The sandbox's port: the one it has, else the lowest free one in the range. */
  claim(sandboxId: string): Promise<number> {
    return this.serial(async (assigned) => {
      const held = assigned.get(sandboxId);
      if (held !== undefined) return held;
      const used = new Set(assigned.values());
      for (let port = this.range.first; port <= this.range.last; port++) {
        if (used.has(port)) continue;
        assigned.set(sandboxId, port);
        await this.save(assigned);
        return port;
      }
      throw new AgentError(
        "resource_exhausted",
        `every WireGuard port of this host (${this.range.first}-${this.range.last}) is taken; destroy a workspace or widen WRENN_WG_PORTS`,
        "workspace_ports_exhausted",
      );
    });
  }

  /** Frees the sandbox's port; one it does not hold is not an error. */
  release(sandboxId: string): Promise<void> {
    return this.serial(async (assigned) => {
      if (assigned.delete(sandboxId)) await this.save(assigned);
    });
  }

  portOf(sandboxId: string): Promise<number | undefined> {
    return this.serial(async (assigned) => assigned.get(sandboxId));
  }

  /** What is known without waiting (everything, once the file was read). */
  peek(sandboxId: string): number | undefined {
    return this.assigned?.get(sandboxId);
  }

  all(): Promise<Map<string, number>> {
    return this.serial(async (assigned) => new Map(assigned));
  }

  private serial<T>(fn: (assigned: Map<string, number>) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => fn(await this.load()));
    this.queue = run.catch(() => {});
    return run;
  }

  private async load(): Promise<Map<string, number>> {
    if (this.assigned) return this.assigned;
    let raw: string | undefined;
    try {
      raw = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const parsed: unknown = raw === undefined ? {} : JSON.parse(raw);
    const assigned = new Map<string, number>();
    for (const [id, port] of Object.entries(parsed as Record<string, unknown>)) {
      // Ports outside today's range stay assigned: their clients' configs still name them.
      if (Number.isInteger(port)) assigned.set(id, port as number);
    }
    this.assigned = assigned;
    return assigned;
  }

  private async save(assigned: Map<string, number>): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.tmp`;
    await writeFile(temp, `${JSON.stringify(Object.fromEntries(assigned))}\n`, { mode: 0o600 });
    await rename(temp, this.file);
  }
}
