import type { ApiDeps } from "../api/api-deps.js";
import type { AuditLog } from "../service/audit-log.js";
import type { Principal } from "../service/sandbox-types.js";
import type { Fleet } from "./fleet/fleet.js";
import type { MetricsHistory } from "./metrics/metrics-history.js";
import type { LoggedOutSessions, SessionClaims, SessionSigner } from "./session/session-token.js";

export interface AdminOptions {
  /** WRENN_SECRET_KEY (or the data dir's): sessions are signed with a key derived from it. */
  secretKey: Buffer;
  /** How long a session lasts from login (default 8 hours). */
  sessionTtlMs?: number;
}

export type AdminDeps = ApiDeps & AdminOptions & { audit: AuditLog };

/** What every admin route shares. */
export interface AdminContext {
  deps: AdminDeps;
  fleet: Fleet;
  metrics: MetricsHistory;
  signer: SessionSigner;
  loggedOut: LoggedOutSessions;
  sessionTtlMs: number;
}

export interface AdminSession {
  claims: SessionClaims;
  principal: Principal;
  csrfToken: string;
}

declare module "fastify" {
  interface FastifyRequest {
    adminSession: AdminSession | null;
  }
}
