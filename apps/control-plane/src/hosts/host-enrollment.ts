import { randomBytes } from "node:crypto";
import {
  errorMessage,
  HOST_TOKEN_LIFETIMES,
  type HostCredentials,
  type HostHeartbeatBody,
  type RegisteredHostCredentials,
} from "@wrenn/contract";
import type { Logger } from "pino";
import { hashApiKey } from "../auth/api-key.js";
import type { Database } from "../db/database.js";
import type { TokenCipher } from "../secrets/token-cipher.js";
import type { ApiKeyService } from "../service/api-key-service.js";
import { ServiceError } from "../service/errors.js";
import type { Principal } from "../service/sandbox-types.js";
import { findHost, hostWasDeleted, insertRegisteredHost } from "../store/host-store.js";
import {
  insertRefreshToken,
  insertRegistrationToken,
  refreshTokenValid,
  revokeRefreshToken,
  spendRegistrationToken,
} from "../store/host-token-store.js";
import type { HostJwt } from "./host-jwt.js";
import type { HostMonitor } from "./host-monitor.js";
import type { HostRegistry } from "./host-registry.js";

export interface HostTokenLifetimes {
  registrationSeconds: number;
  jwtSeconds: number;
  refreshSeconds: number;
  /** How long a rotated-away refresh token still works (see HOST_TOKEN_LIFETIMES). */
  refreshGraceSeconds: number;
}

export interface HostEnrollmentOptions {
  db: Database;
  keys: ApiKeyService;
  cipher: TokenCipher;
  jwt: HostJwt;
  registry: HostRegistry;
  monitor: HostMonitor;
  logger: Logger;
  lifetimes?: Partial<HostTokenLifetimes>;
}

const hostDeleted = (id: string) =>
  new ServiceError("host_deleted", errorMessage("host_deleted", { id }));
const secret = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`;
const newHostId = () => `host-${randomBytes(4).toString("hex")}`;

/**
 * How hosts join and stay trusted: an admin's one-time registration token buys a host id, a JWT
 * for its heartbeats, a refresh token, and the bearer token the control plane calls it with
 * (one per host, never a shared static one). Only hashes of the tokens the control plane
 * receives are stored; the one it sends is sealed with the secret key.
 */
export class HostEnrollment {
  private readonly lifetimes: HostTokenLifetimes;

  constructor(private readonly o: HostEnrollmentOptions) {
    this.lifetimes = { ...HOST_TOKEN_LIFETIMES, ...o.lifetimes };
  }

  async createToken(
    principal: Principal,
    expiresInSeconds = this.lifetimes.registrationSeconds,
  ): Promise<{ id: string; token: string; expiresAt: Date }> {
    this.o.keys.requireAdmin(principal);
    const token = secret("wrht_");
    const id = `hrt-${randomBytes(4).toString("hex")}`;
    const expiresAt = await insertRegistrationToken(this.o.db, {
      id,
      tokenHash: hashApiKey(token),
      createdBy: principal.keyId || null,
      expiresInSeconds,
    });
    this.o.logger.info({ id, by: principal.keyId, expiresAt }, "host registration token created");
    return { id, token, expiresAt };
  }

  /** Spends the token and creates the host; a refused token creates nothing. */
  async register(token: string, url: string): Promise<RegisteredHostCredentials> {
    const hostId = newHostId();
    const agentToken = secret("wrha_");
    const credentials = await this.o.db.transaction(async (tx) => {
      if (!(await spendRegistrationToken(tx, hashApiKey(token), hostId))) {
        throw new ServiceError("invalid_registration_token");
      }
      const taken = await tx.query<{ id: string }>("SELECT id FROM hosts WHERE url = $1", [url]);
      if (taken.rows[0]) {
        throw new ServiceError(
          "already_exists",
          `host ${taken.rows[0].id} is already registered at ${url}; delete it first, or give this agent another address`,
        );
      }
      await insertRegisteredHost(tx, hostId, url, this.o.cipher.seal(agentToken));
      return this.issue(tx, hostId);
    });
    await this.o.registry.sync();
    this.o.logger.info({ hostId, url }, "host registered");
    return { ...credentials, agentToken };
  }

  /**
   * New credentials for a refresh token, which is spent: the new refresh token is stored, then
   * the old one revoked. The agent keeps the new one only once this answer reaches it and is
   * written, so the old one still works for refreshGraceSeconds after it was first rotated
   * away (an answer lost on the way, or an agent that crashed before its write, must not lock
   * the host out); after that it is a replay, and refused.
   */
  async refresh(hostId: string, refreshToken: string): Promise<HostCredentials> {
    const hash = hashApiKey(refreshToken);
    if (!(await refreshTokenValid(this.o.db, hostId, hash, this.lifetimes.refreshGraceSeconds))) {
      if (await hostWasDeleted(this.o.db, hostId)) throw hostDeleted(hostId);
      throw new ServiceError("invalid_refresh_token");
    }
    const credentials = await this.issue(this.o.db, hostId);
    // Already revoked by a rotation within the grace window: its revocation time stays.
    await revokeRefreshToken(this.o.db, hash);
    return credentials;
  }

  /** The host a heartbeat's Authorization header speaks for (invalid_host_token otherwise). */
  async authenticate(authorization: string | string[] | undefined): Promise<string> {
    const value = typeof authorization === "string" ? authorization : "";
    const match = /^Bearer ([A-Za-z0-9_.-]{1,2000})$/.exec(value);
    const hostId = match?.[1] ? this.o.jwt.verify(match[1]) : null;
    if (!hostId) throw new ServiceError("invalid_host_token");
    const host = await findHost(this.o.db, hostId);
    if (!host && (await hostWasDeleted(this.o.db, hostId))) throw hostDeleted(hostId);
    if (host?.kind !== "registered") {
      throw new ServiceError("invalid_host_token", `host ${hostId} is not registered`);
    }
    return hostId;
  }

  async heartbeat(hostId: string, body: HostHeartbeatBody): Promise<void> {
    await this.o.monitor.observe(hostId, {
      agentHostId: hostId,
      hostname: body.hostname,
      version: body.version,
      instanceId: body.instanceId,
      runtimes: body.runtimes,
      capacityTotal: body.capacity.total,
      capacityUsed: body.capacity.used,
      sandboxesByState: body.sandboxesByState,
      templates: body.templates,
      stateVersion: body.stateVersion,
      startedAt: new Date(body.startedAt),
    });
  }

  private async issue(
    q: Parameters<typeof insertRefreshToken>[0],
    hostId: string,
  ): Promise<HostCredentials> {
    const { jwt, expiresAt } = this.o.jwt.sign(hostId, this.lifetimes.jwtSeconds);
    const refreshToken = secret("wrhr_");
    const refreshExpiresAt = await insertRefreshToken(
      q,
      hostId,
      hashApiKey(refreshToken),
      this.lifetimes.refreshSeconds,
    );
    return {
      hostId,
      jwt,
      jwtExpiresAt: expiresAt.toISOString(),
      refreshToken,
      refreshExpiresAt: refreshExpiresAt.toISOString(),
    };
  }
}
