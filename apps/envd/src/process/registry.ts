import type { ManagedProcess } from "./managed-process.js";

// Ended processes stay connectable this long (replay + end event) but leave List at once.
export const ENDED_RETENTION_MS = 60_000;

export type Selector = { kind: "pid"; pid: number } | { kind: "tag"; tag: string };

export class ProcessRegistry {
  readonly #byPid = new Map<number, ManagedProcess>();

  add(proc: ManagedProcess): void {
    this.#byPid.set(proc.pid, proc);
    const forgetLater = () => {
      setTimeout(() => {
        if (this.#byPid.get(proc.pid) === proc) this.#byPid.delete(proc.pid);
      }, ENDED_RETENTION_MS).unref();
    };
    // A short command can be over before it is registered (its end was caught at launch).
    if (proc.ended) forgetLater();
    else proc.onEnd = forgetLater;
  }

  running(): ManagedProcess[] {
    return [...this.#byPid.values()].filter((p) => !p.ended);
  }

  /** A running process, or an ended one still retained when `includeEnded` is set. */
  find(selector: Selector, includeEnded: boolean): ManagedProcess | undefined {
    const candidates = [...this.#byPid.values()].filter((p) => includeEnded || !p.ended);
    if (selector.kind === "pid") return candidates.find((p) => p.pid === selector.pid);
    // A running process wins over an ended one carrying the same tag.
    return (
      candidates.find((p) => p.tag === selector.tag && !p.ended) ??
      candidates.find((p) => p.tag === selector.tag)
    );
  }

  all(): ManagedProcess[] {
    return [...this.#byPid.values()];
  }
}
