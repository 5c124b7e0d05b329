// E2B's two-step build: POST /v3/templates gives a template id and a build id before any build
// runs (the client uploads COPY files meanwhile), then POST /v2/templates/{id}/builds/{bid}
// starts it with the steps. This keeps what was asked in between; the builds themselves are
// the TemplateService's, as /v1/templates' are.
import { randomBytes, randomUUID } from "node:crypto";
import { checkTemplateBuildName } from "@wrenn/contract";
import type { Database } from "../db/database.js";
import { findTemplate, readLogs } from "../store/template-store.js";
import { ServiceError, validated } from "./errors.js";
import { enforceBuildStorageOfKey } from "./quota.js";
import type { Principal } from "./sandbox-types.js";
import type { TemplateBuildRequest, TemplateService } from "./template-service.js";

/** How long an E2B build reserved by POST /v3/templates waits for its start (uploads first). */
const RESERVATION_TTL_MS = 2 * 3_600_000;

interface Reservation {
  at: number;
  ownerId: string;
  buildID: string;
  name: string;
  cpuCount?: number;
  memoryMB?: number;
}

export class TemplateReservations {
  /** Builds asked for and not started yet, by template id. */
  private readonly reserved = new Map<string, Reservation>();

  constructor(
    private readonly db: Database,
    private readonly templates: TemplateService,
  ) {}

  /**
   * E2B's `POST /v3/templates`: the template's id (kept across rebuilds of one name) and a
   * build id, before any build runs; the build starts with `start`. Refused, keeping nothing,
   * when the caller's storage pool is full already (the build's start checks it again).
   */
  async reserve(
    principal: Principal,
    nameTag: string,
    resources: { cpuCount?: number; memoryMB?: number },
  ): Promise<{ templateID: string; buildID: string; name: string; tag: string }> {
    const { name, tag } = validated(() => checkTemplateBuildName(nameTag));
    const row = await findTemplate(this.db, principal.ownerId, name, tag);
    if (row?.status === "building") {
      throw new ServiceError("template_building", `template ${name}:${tag} is being built`);
    }
    await this.db.transaction((tx) => enforceBuildStorageOfKey(tx, principal.keyId, 0));
    const templateID = row?.id ?? `tpl-${randomBytes(4).toString("hex")}`;
    const buildID = randomUUID();
    // A reservation nobody started (the client went away) is forgotten after a while.
    for (const [id, r] of this.reserved) {
      if (Date.now() - r.at > RESERVATION_TTL_MS) this.reserved.delete(id);
    }
    this.reserved.set(templateID, {
      at: Date.now(),
      ownerId: principal.ownerId,
      buildID,
      name: `${name}:${tag}`,
      ...resources,
    });
    return { templateID, buildID, name, tag };
  }

  /** Starts a build reserved by `reserve` (E2B's `POST /v2/templates/{id}/builds/{bid}`). */
  async start(
    principal: Principal,
    templateID: string,
    buildID: string,
    body: Omit<TemplateBuildRequest, "name" | "id">,
  ): Promise<void> {
    const r = this.reserved.get(templateID);
    if (!r || r.ownerId !== principal.ownerId || r.buildID !== buildID) {
      throw new ServiceError("template_not_found", `build ${buildID} of ${templateID} not found`);
    }
    await this.templates.create(principal, {
      ...body,
      name: r.name,
      id: templateID,
      buildId: buildID,
      ...(r.cpuCount ? { cpuCount: r.cpuCount } : {}),
      ...(r.memoryMB ? { memoryMB: r.memoryMB } : {}),
    });
    this.reserved.delete(templateID);
  }

  /** A build's state by the template's id: waiting (reserved), building, ready or error. */
  async buildStatus(
    principal: Principal,
    templateID: string,
    buildID: string,
    offset: number,
    limit: number,
  ) {
    const r = this.reserved.get(templateID);
    if (r && r.ownerId === principal.ownerId && r.buildID === buildID) {
      return { status: "waiting" as const, logs: [], row: undefined };
    }
    const row = await this.templates.getBuild(principal, templateID, buildID);
    const { logs } = await readLogs(this.db, row.id, offset, limit);
    return { status: row.status, logs, row };
  }

  /** Upload links are for a template being set up (reserved) or one of the caller's. */
  async reservedOrOwned(principal: Principal, templateID: string): Promise<void> {
    const r = this.reserved.get(templateID);
    if (r?.ownerId === principal.ownerId) return;
    await this.templates.getById(principal, templateID);
  }
}
