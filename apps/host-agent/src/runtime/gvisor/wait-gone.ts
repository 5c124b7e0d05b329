import { readFile } from "node:fs/promises";

/** Until every pid has exited (a zombie has: only its parent's wait is left), or ms pass. */
export async function waitGone(pids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    const states = await Promise.all(
      left.map((pid) => readFile(`/proc/${pid}/stat`, "utf8").catch(() => "")),
    );
    left = left.filter((_, i) => {
      const state = states[i]?.slice(
        states[i].lastIndexOf(")") + 2,
        states[i].lastIndexOf(")") + 3,
      );
      return state !== undefined && state !== "" && state !== "Z" && state !== "X";
    });
    if (left.length > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
