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
import {
  findHost,
  hostIdAtUrl,
  hostWasDeleted,
  insertRegisteredHost,
} from "../store/host-store.js";
import {
  insertRefreshToken,
  insertRegistrationToken,
  lockRefreshToken,
  revokeHostRefreshTokens,
  rotateRefreshToken,
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

  constructor(private readonly options: HostEnrollmentOptions) {
    this.lifetimes = { ...HOST_TOKEN_LIFETIMES, ...options.lifetimes };
  }

  async createToken(
    principal: Principal,
    expiresInSeconds = this.lifetimes.registrationSeconds,
  ): Promise<{ id: string; token: string; expiresAt: Date }> {
    this.options.keys.requireAdmin(principal);
    const token = secret("wrht_");
    const id = `hrt-${randomBytes(4).toString("hex")}`;
    const expiresAt = await insertRegistrationToken(this.options.db, {
      id,
      tokenHash: hashApiKey(token),
      createdBy: principal.keyId || null,
      expiresInSeconds,
    });
    this.options.logger.info(
      { id, by: principal.keyId, expiresAt },
      "host registration token created",
    );
    return { id, token, expiresAt };
  }

  /** Spends the token and creates the host; a refused token creates nothing. */
  async register(token: string, url: string): Promise<RegisteredHostCredentials> {
    const hostId = newHostId();
    const agentToken = secret("wrha_");
    const credentials = await this.options.db.transaction(async (tx) => {
      if (!(await spendRegistrationToken(tx, hashApiKey(token), hostId))) {
        throw new ServiceError("invalid_registration_token");
      }
      const taken = await hostIdAtUrl(tx, url);
      if (taken) {
        throw new ServiceError(
          "already_exists",
          `host ${taken} is already registered at ${url}; delete it first, or give this agent another address`,
        );
      }
      await insertRegisteredHost(tx, hostId, url, this.options.cipher.seal(agentToken));
      return this.issue(tx, hostId);
    });
    await this.options.registry.sync();
    this.options.logger.info({ hostId, url }, "host registered");
    return { ...credentials, agentToken };
  }

  /**
   * New credentials for a refresh token, which is spent. The agent keeps the new one only once
   * this answer reaches it and is written, so a spent token still works for refreshGraceSeconds
   * after it was first spent (an answer lost on the way, or an agent that crashed before its
   * write, must not lock the host out). Each such use revokes what the earlier one issued, so
   * a host never holds more than one live refresh token: a kept copy cannot mint chains of its
   * own. Any other use of a revoked token is a replay: the host's whole token family is revoked
   * (the host must register again) and the answer is invalid_refresh_token.
   */
  async refresh(hostId: string, refreshToken: string): Promise<HostCredentials> {
    const hash = hashApiKey(refreshToken);
    const outcome = await this.options.db.transaction(async (tx) => {
      const state = await lockRefreshToken(tx, hostId, hash, this.lifetimes.refreshGraceSeconds);
      if (state === null) return "unknown" as const;
      if (state === "replay") {
        // Committed before the refusal: the family stays revoked.
        await revokeHostRefreshTokens(tx, hostId);
        return "replay" as const;
      }
      const credentials = await this.issue(tx, hostId);
      await rotateRefreshToken(tx, hostId, hash, hashApiKey(credentials.refreshToken));
      return credentials;
    });
    if (outcome === "replay") {
      this.options.logger.warn(
        { hostId },
        "refresh token replayed: the host's refresh tokens revoked",
      );
      throw new ServiceError(
        "invalid_refresh_token",
        `refresh token of host ${hostId} was already used; all of this host's refresh tokens are revoked, register it again`,
      );
    }
    if (outcome === "unknown") {
      if (await hostWasDeleted(this.options.db, hostId)) throw hostDeleted(hostId);
      throw new ServiceError("invalid_refresh_token");
    }
    return outcome;
  }

  /** The host a heartbeat's Authorization header speaks for (invalid_host_token otherwise). */
  async authenticate(authorization: string | string[] | undefined): Promise<string> {
    const value = typeof authorization === "string" ? authorization : "";
    const match = /^Bearer ([A-Za-z0-9_.-]{1,2000})$/.exec(value);
    const hostId = match?.[1] ? this.options.jwt.verify(match[1]) : null;
    if (!hostId) throw new ServiceError("invalid_host_token");
    const host = await findHost(this.options.db, hostId);
    if (!host && (await hostWasDeleted(this.options.db, hostId))) throw hostDeleted(hostId);
    if (host?.kind !== "registered") {
      throw new ServiceError("invalid_host_token", `host ${hostId} is not registered`);
    }
    return hostId;
  }

  async heartbeat(hostId: string, body: HostHeartbeatBody): Promise<void> {
    await this.options.monitor.observe(hostId, {
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
    const { jwt, expiresAt } = this.options.jwt.sign(hostId, this.lifetimes.jwtSeconds);
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
