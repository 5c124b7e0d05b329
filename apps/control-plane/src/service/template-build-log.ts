import type { TemplateLogEntry } from "@wrenn/contract";
import type { Database } from "../db/database.js";
import { appendLogs } from "../store/template-store.js";

/** Log lines of one build, written in batches (a pull can print many). */
export function buildLogWriter(db: Database, id: string) {
  let pending: TemplateLogEntry[] = [];
  let chain = Promise.resolve();
  let step = "queued";
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    const at = step;
    chain = chain
      .then(() => (batch.length > 0 || at ? appendLogs(db, id, at, batch) : undefined))
      .catch(() => {});
    return chain;
  };
  return {
    get step() {
      return step;
    },
    add(s: string, message: string) {
      step = s;
      pending.push({ timestamp: new Date().toISOString(), level: "info", step: s, message });
      timer ??= setTimeout(flush, 250);
    },
    flush,
  };
}
