import type { Logger } from "pino";
import type { Queryable } from "../db/database.js";
import {
  type AuditEvent,
  type AuditRecord,
  insertAuditEvent,
  listAuditEvents,
} from "../store/audit-store.js";
import { invalidRequest, ServiceError } from "./errors.js";
import type { Principal } from "./sandbox-types.js";
import { storable } from "./text-rules.js";

export interface AuditQuery {
  sandboxId?: string;
  /** An event id from a previous page: only older events. */
  beforeId?: string;
  limit?: number;
}

const AUDIT_LIMIT = { min: 1, max: 501, default: 50 } as const;

/** Records who did what. A failed write is logged, never turned into a failed operation. */
export class AuditLog {
  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
  ) {}

  async record(event: AuditEvent): Promise<void> {
    try {
      // Details hold what a client sent (paths, commands): made storable, never refused.
      await insertAuditEvent(this.db, storable(event));
    } catch (error) {
      this.logger.error(
        { err: error, action: event.action, sandboxId: event.sandboxId },
        "audit event lost",
      );
    }
  }

  /** Every owner's trail, newest first: admins only. */
  async list(principal: Principal, query: AuditQuery = {}): Promise<AuditRecord[]> {
    if (principal.role !== "admin") {
      throw new ServiceError("forbidden", "reading the audit log needs an admin API key");
    }
    return this.query(query);
  }

  /**
   * One sandbox's trail, newest first. The caller has checked that the principal may see the
   * sandbox (SandboxService.get), which is what makes this owner-scoped.
   */
  trailOf(sandboxId: string, query: Omit<AuditQuery, "sandboxId"> = {}): Promise<AuditRecord[]> {
    return this.query({ ...query, sandboxId });
  }

  private async query(query: AuditQuery): Promise<AuditRecord[]> {
    const limit = query.limit ?? AUDIT_LIMIT.default;
    if (!Number.isInteger(limit) || limit < AUDIT_LIMIT.min || limit > AUDIT_LIMIT.max) {
      throw invalidRequest(
        `limit must be an integer from ${AUDIT_LIMIT.min} to ${AUDIT_LIMIT.max}`,
      );
    }
    if (query.beforeId !== undefined && !/^[1-9][0-9]{0,18}$/.test(query.beforeId)) {
      throw invalidRequest("before must be an audit event id");
    }
    return listAuditEvents(this.db, { ...query, limit });
  }
}
