import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import { type AuditEvent, insertAuditEvent } from "../store/audit-store.js";

/** Records who did what. A failed write is logged, never turned into a failed operation. */
export class AuditLog {
  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
  ) {}

  async record(event: AuditEvent): Promise<void> {
    try {
      await insertAuditEvent(this.db, event);
    } catch (error) {
      this.logger.error(
        { err: error, action: event.action, sandboxId: event.sandboxId },
        "audit event lost",
      );
    }
  }
}
