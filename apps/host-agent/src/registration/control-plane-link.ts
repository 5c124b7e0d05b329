import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import type {
  HostCredentials,
  HostHeartbeatBody,
  RegisteredHostCredentials,
} from "@wrenn/contract";
import type { Logger } from "pino";
import { loadCredentials, type StoredCredentials, saveCredentials } from "./host-credentials.js";

export interface LinkOptions {
  /** The control plane to join (WRENN_CONTROL_PLANE_URL). */
  controlPlaneUrl: string;
  /** One-time token an admin created (WRENN_REGISTRATION_TOKEN); unused once registered. */
  registrationToken: string;
  /** PEM certificates trusted for an https control plane beside the system's (WRENN_CONTROL_PLANE_CA). */
  controlPlaneCa?: string;
  /** Where the control plane reaches this agent. */
  advertiseUrl: string;
  dataDir: string;
  log: Logger;
  /**
   * How long the agent goes on without the control plane (no heartbeat accepted: unreachable,
   * or its credentials refused) before it pauses its sandboxes (WRENN_CONTROL_PLANE_GRACE_S).
   */
  graceMs?: number;
  /**
   * Pauses every running sandbox; called at each failed heartbeat once the grace period is
   * over (it pauses what still runs), until a heartbeat is accepted again.
   */
  onGraceExpired?: () => Promise<void>;
}

/** A refusal from the control plane: its status and contract code. */
export class ControlPlaneRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One POST of JSON to the control plane: its status and body text (30 s bound). */
function roundTrip(
  url: string,
  body: string,
  headers: Record<string, string>,
  ca: string | undefined,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const options = {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    timeout: 30_000,
    // Only for an https control plane: its CA beside the system's, never instead of them.
    ...(ca ? { ca: [...rootCertificates, ca] } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(
      target,
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function post<T>(
  url: string,
  body: unknown,
  ca: string | undefined,
  headers: Record<string, string> = {},
): Promise<T | undefined> {
  const response = await roundTrip(url, JSON.stringify(body), headers, ca);
  const text = response.text;
  if (response.status < 200 || response.status > 299) {
    let code = `http_${response.status}`;
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code ?? code;
      message = parsed.error?.message ?? message;
    } catch {}
    throw new ControlPlaneRefusal(response.status, code, `${code}: ${message}`);
  }
  return text ? (JSON.parse(text) as T) : undefined;
}

/**
 * The agent's side of a registered host: registers once (the host id and tokens are kept in the
 * data dir), then heartbeats with its JWT; on 401 or 403 it refreshes (rotating the refresh
 * token) and beats again. The control plane being away is logged and retried, never fatal;
 * away longer than the grace period, the agent pauses its sandboxes (they cannot be managed,
 * and would otherwise run on unaccounted) and keeps retrying.
 */
export class ControlPlaneLink {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** When the control plane last accepted a heartbeat (or the link started). */
  private lastAcceptedAt = Date.now();
  /** Whether the sandboxes were paused for the current outage. */
  private pausedForOutage = false;

  private constructor(
    private readonly options: LinkOptions,
    private credentials: StoredCredentials,
  ) {}

  get hostId(): string {
    return this.credentials.hostId;
  }

  /** The bearer token the control plane calls this agent with. */
  get agentToken(): string {
    return this.credentials.agentToken;
  }

  /** Loads the stored registration, or registers with the token (and stores it). */
  static async open(o: LinkOptions): Promise<ControlPlaneLink> {
    const stored = await loadCredentials(o.dataDir);
    if (stored && stored.controlPlaneUrl === o.controlPlaneUrl) {
      o.log.info({ hostId: stored.hostId }, "registered host; using the stored credentials");
      return new ControlPlaneLink(o, stored);
    }
    if (stored) {
      throw new Error(
        `this agent is registered with ${stored.controlPlaneUrl}, not ${o.controlPlaneUrl}; remove ${o.dataDir}/registration.json to register again`,
      );
    }
    const issued = await post<RegisteredHostCredentials>(
      new URL("/v1/hosts/register", o.controlPlaneUrl).toString(),
      { token: o.registrationToken, url: o.advertiseUrl },
      o.controlPlaneCa,
    );
    if (!issued) throw new Error("the control plane answered the registration with nothing");
    const credentials = { ...issued, controlPlaneUrl: o.controlPlaneUrl };
    await saveCredentials(o.dataDir, credentials);
    o.log.info({ hostId: issued.hostId }, "registered with the control plane");
    return new ControlPlaneLink(o, credentials);
  }

  /** Sends one heartbeat, refreshing the credentials first when they are refused. */
  async beat(body: HostHeartbeatBody): Promise<void> {
    try {
      await this.send(body);
    } catch (err) {
      if (!(err instanceof ControlPlaneRefusal) || (err.status !== 401 && err.status !== 403)) {
        throw err;
      }
      this.options.log.info(
        { code: err.code },
        "heartbeat refused; refreshing the host's credentials",
      );
      await this.refresh();
      await this.send(body);
    }
  }

  /** Rotates the refresh token; the new credentials are on disk before they are used. */
  async refresh(): Promise<void> {
    const fresh = await post<HostCredentials>(
      new URL("/v1/hosts/refresh", this.options.controlPlaneUrl).toString(),
      { hostId: this.credentials.hostId, refreshToken: this.credentials.refreshToken },
      this.options.controlPlaneCa,
    );
    if (!fresh) throw new Error("the control plane answered the refresh with nothing");
    const next = { ...this.credentials, ...fresh };
    await saveCredentials(this.options.dataDir, next);
    this.credentials = next;
  }

  private async send(body: HostHeartbeatBody): Promise<void> {
    await post(
      new URL("/v1/hosts/heartbeat", this.options.controlPlaneUrl).toString(),
      body,
      this.options.controlPlaneCa,
      { authorization: `Bearer ${this.credentials.jwt}` },
    );
  }

  /** Beats every intervalMs (one at a time) until stop(). */
  start(intervalMs: number, report: () => Promise<HostHeartbeatBody>): void {
    const run = () => {
      if (this.beating) return;
      this.beating = report()
        .then((body) => this.beat(body))
        .then(
          () => this.accepted(),
          (err: Error) => this.failed(err),
        )
        .catch((err: Error) =>
          this.options.log.error({ err: err.message }, "pausing the sandboxes failed; retrying"),
        )
        .finally(() => {
          this.beating = undefined;
        });
    };
    run();
    this.timer = setInterval(run, intervalMs);
  }

  private accepted(): void {
    this.lastAcceptedAt = Date.now();
    if (this.pausedForOutage) {
      this.pausedForOutage = false;
      this.options.log.info(
        "the control plane accepts heartbeats again; the sandboxes paused meanwhile stay paused and resume normally",
      );
    }
  }

  private async failed(err: Error): Promise<void> {
    if (err instanceof ControlPlaneRefusal && err.code === "host_deleted") {
      // An admin deleted this host: nothing here will change that, only a new registration.
      this.options.log.error(
        { hostId: this.credentials.hostId, code: err.code },
        `this host was deleted from the control plane; stop the agent, remove ${this.options.dataDir}/registration.json, and start it again with a new WRENN_REGISTRATION_TOKEN (wrenn hosts token)`,
      );
    } else {
      this.options.log.warn({ err: err.message }, "heartbeat to the control plane failed");
    }
    const { graceMs, onGraceExpired } = this.options;
    if (graceMs === undefined || !onGraceExpired) return;
    const silentMs = Date.now() - this.lastAcceptedAt;
    if (silentMs < graceMs) return;
    if (!this.pausedForOutage) {
      this.options.log.error(
        { silentSeconds: Math.round(silentMs / 1000), graceSeconds: graceMs / 1000 },
        "no heartbeat accepted for longer than the grace period; pausing every sandbox (nothing is lost) and retrying",
      );
    }
    this.pausedForOutage = true;
    await onGraceExpired();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
  }
}
