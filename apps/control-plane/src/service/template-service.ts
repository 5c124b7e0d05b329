import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  type CreateTemplateBody,
  checkImageRef,
  checkTemplateBuildName,
  checkTemplateSteps,
  LIMITS,
  type Template,
  type TemplateBuild,
} from "@wrenn/contract";
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import { HostError } from "../hosts/host-client.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import { findHost } from "../store/host-store.js";
import {
  beginBuild,
  deleteTemplateRow,
  findTemplate,
  findTemplateById,
  finishBuild,
  hostTemplateNamed,
  listTemplates,
  readLogs,
  sizeMbOf,
  type TemplateRecord,
} from "../store/template-store.js";
import { ServiceError, validated } from "./errors.js";
import { enforceBuildStorageOfKey } from "./quota.js";
import { fromHostError } from "./sandbox-service.js";
import { ownerScope, type Principal } from "./sandbox-types.js";
import { buildLogWriter } from "./template-build-log.js";
import { BuildStops, stoppedError } from "./template-build-stops.js";
import { BuildSweep } from "./template-build-sweep.js";
import { TemplateFiles } from "./template-files.js";
import { TemplateReservations } from "./template-reservations.js";
import { TemplateTags } from "./template-tags.js";
import { type TemplateUsage, templateUsage } from "./template-usage.js";

/** How long create waits for the image to be found before answering 202 (then: async). */
const RESOLVE_WAIT_MS = 120_000;
const DEFAULT_BUILD = { vcpus: 2, memoryMb: 1024 };

/** The operator's defaults: WRENN_TEMPLATE_BUILD_TIMEOUT_S and WRENN_TEMPLATE_BUILDS_PER_OWNER. */
export const DEFAULT_TEMPLATE_BUILD_LIMITS = { timeoutSeconds: 3600, perOwner: 2 };
/** How long cancel waits for the host to stop the build before answering. */
const CANCEL_WAIT_MS = 60_000;

/** The host agent's names for builds from images; never valid as a template a caller names. */
const HOST_TEMPLATE_NAME = /^t-[0-9a-f]{8}$/;
export const isHostTemplateName = (name: string) => HOST_TEMPLATE_NAME.test(name);
const newHostTemplateName = () => `t-${randomBytes(4).toString("hex")}`;

/** A build as the E2B builder and the CLI's Dockerfile send it: a base, steps, start/ready. */
export type TemplateBuildRequest = Omit<CreateTemplateBody, "fromImage" | "steps"> & {
  fromImage?: string;
  fromTemplate?: string;
  steps?: unknown;
  startCmd?: string;
  readyCmd?: string;
  /** COPY steps' uploaded files by hash. */
  files?: Map<string, Buffer>;
  /** The template's id when the caller picked it (E2B's two-step create, then build). */
  id?: string;
  /** The build's id when the caller was given it (E2B's POST /v3/templates). */
  buildId?: string;
};

export interface TemplateServiceOptions {
  db: Database;
  scheduler: Scheduler;
  registry: HostRegistry;
  logger: Logger;
  /** Where COPY steps' uploads are kept (template-files.ts). */
  filesDir: string;
  /** A build's time limit and how many one owner may run at once. */
  limits?: { timeoutSeconds: number; perOwner: number };
  /** This control plane's id, kept on the builds it follows (see template-build-sweep.ts). */
  follower?: string;
}

/**
 * Templates an owner builds from OCI images. The host agent does the build (it is root: skopeo,
 * umoci); this service keeps the owner's names, the build's status, step and logs, and maps
 * `name[:tag]` to the agent's template when a sandbox is created from it.
 */
export class TemplateService {
  /** Builds running in this process, for tests and shutdown. */
  private readonly running = new Map<string, Promise<void>>();

  readonly files: TemplateFiles;
  /** E2B's tags: more names for one build. */
  readonly tags: TemplateTags;
  /** E2B's builds asked for (POST /v3/templates) and started later. */
  readonly reservations: TemplateReservations;
  /** Heartbeats of the builds this process follows; closes builds a dead one left. */
  readonly sweep: BuildSweep;
  private readonly limits: { timeoutSeconds: number; perOwner: number };
  private readonly stops: BuildStops;

  constructor(private readonly options: TemplateServiceOptions) {
    this.files = new TemplateFiles(options.filesDir);
    this.tags = new TemplateTags(options.db, this);
    this.reservations = new TemplateReservations(options.db, this);
    this.sweep = new BuildSweep({
      db: options.db,
      logger: options.logger,
      followed: () => this.stops.followed(),
    });
    this.limits = options.limits ?? DEFAULT_TEMPLATE_BUILD_LIMITS;
    this.stops = new BuildStops(this.limits.timeoutSeconds);
  }

  async create(principal: Principal, body: TemplateBuildRequest): Promise<Template> {
    const { name, tag } = validated(() => checkTemplateBuildName(body.name));
    const steps = validated(() => checkTemplateSteps(body.steps));
    // The base: an image, or a template (the owner's own name for it, or one of the host's).
    let image = "";
    let fromTemplate = "";
    if (body.fromTemplate) {
      fromTemplate = (await this.resolve(principal, body.fromTemplate)) ?? body.fromTemplate;
    } else {
      image = validated(() => checkImageRef(body.fromImage));
    }
    const uploads =
      body.files ??
      (await this.files.load(
        principal.ownerId,
        steps.flatMap((st) => (st.filesHash ? [st.filesHash] : [])),
      ));
    const hostSteps = steps.map((st, i) => {
      if (st.type !== "COPY") return { type: st.type, args: st.args };
      const files = uploads.get(st.filesHash as string);
      if (!files) {
        throw new ServiceError(
          "template_files_missing",
          `step ${i + 1} (COPY ${st.args[0]}): no files were uploaded under hash ${st.filesHash}`,
        );
      }
      return { type: st.type, args: st.args, files };
    });
    const placement = await this.options.scheduler.placeBuild({
      ...(fromTemplate ? { fromTemplate } : {}),
      memoryMb: body.memoryMB ?? DEFAULT_BUILD.memoryMb,
    });
    const hostTemplate = newHostTemplateName();
    const baseMb = fromTemplate ? await this.hostTemplateMb(placement.hostId, fromTemplate) : 0;
    const row = await this.options.db.transaction(async (tx) => {
      await enforceBuildStorageOfKey(tx, principal.keyId, baseMb);
      return beginBuild(tx, {
        id: body.id ?? `tpl-${randomBytes(4).toString("hex")}`,
        ownerId: principal.ownerId,
        name,
        tag,
        fromImage: image || `template:${body.fromTemplate}`,
        vcpus: body.cpuCount ?? DEFAULT_BUILD.vcpus,
        memoryMb: body.memoryMB ?? DEFAULT_BUILD.memoryMb,
        hostId: placement.hostId,
        buildingHostTemplate: hostTemplate,
        buildId: body.buildId ?? randomUUID(),
        follower: this.options.follower ?? "",
        maxBuilding: this.limits.perOwner,
      });
    });
    if (!row) {
      const existing = await findTemplate(this.options.db, principal.ownerId, name, tag);
      if (existing?.status === "building") {
        throw new ServiceError("template_building", `template ${name}:${tag} is being built`);
      }
      throw new ServiceError(
        "too_many_template_builds",
        `you have ${this.limits.perOwner} template builds running already (WRENN_TEMPLATE_BUILDS_PER_OWNER); wait for one or cancel it: wrenn template cancel NAME`,
      );
    }
    const signal = this.stops.begin(row.id);
    const template = `${name}:${tag}`;

    // The build runs on; create answers once the image was found in its registry (so a wrong
    // name, credentials or registry is a 4xx here) or the build ended.
    let resolved!: () => void;
    const found = new Promise<void>((r) => {
      resolved = r;
    });
    const log = buildLogWriter(this.options.db, row.id);
    const build = placement.client
      .buildTemplateFromImage(
        {
          name: hostTemplate,
          image,
          fromTemplate,
          steps: hostSteps,
          startCmd: body.startCmd ?? "",
          readyCmd: body.readyCmd ?? "",
          force: body.force === true,
          // Layers are shared between this owner's builds only; the agent gets a hash, not
          // the owner id.
          cacheScope: createHash("sha256").update(principal.ownerId).digest("hex"),
          ...(body.registry
            ? { username: body.registry.username, password: body.registry.password }
            : {}),
        },
        (step, message) => {
          if (step !== "resolve" && step !== "wait") resolved();
          log.add(step, message);
        },
        signal,
      )
      .then(
        (built) => ({ ok: true as const, sizeBytes: built.sizeBytes }),
        (error: unknown) => ({ ok: false as const, error }),
      )
      // A stopped build's record says why it was stopped, whatever the host answered.
      .then((result) => {
        const stopped = this.stops.end(row.id, template);
        return stopped ? { ok: false as const, error: stopped } : result;
      });
    const outcome = await Promise.race([
      build,
      found.then(() => undefined),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), RESOLVE_WAIT_MS).unref()),
    ]);
    if (outcome && !outcome.ok) {
      const failure = this.describeFailure(outcome.error, "build the template");
      await log.flush();
      // Refused before anything was built: the request changes nothing. A stopped build keeps
      // its record, which says who or what stopped it.
      const stopped =
        failure.code === "template_build_cancelled" || failure.code === "template_build_timed_out";
      if (row.hostTemplate === null && !stopped) await deleteTemplateRow(this.options.db, row.id);
      else
        await finishBuild(this.options.db, row.id, {
          ok: false,
          code: failure.code,
          message: failure.message,
          step: "base",
        });
      throw failure;
    }
    const finishing = build.then(async (result) => {
      await log.flush();
      if (result.ok) {
        // Before the build reads as ready: a create right after it must find the template.
        await this.options.scheduler.templatesChanged(placement.hostId).catch(() => {});
        // Kept even when it ends over the owner's storage pool (its size was not known
        // before): the pool then refuses the next build or create (quota.ts).
        await finishBuild(this.options.db, row.id, {
          ok: true,
          hostTemplate,
          sizeBytes: result.sizeBytes,
        });
        // The previous build goes when nothing uses it any more (no sandbox, no other tag);
        // if something does, it stays.
        if (row.hostTemplate && !(await hostTemplateNamed(this.options.db, row.hostTemplate))) {
          await placement.client.deleteTemplate(row.hostTemplate).catch(() => {});
        }
      } else {
        const failure = this.describeFailure(result.error, "build the template");
        await finishBuild(this.options.db, row.id, {
          ok: false,
          code: failure.code,
          message: failure.message,
          step: log.step,
        });
      }
    });
    const tracked = finishing
      .catch((error: unknown) =>
        this.options.logger.error(
          { err: String(error), template: row.id },
          "template build record failed",
        ),
      )
      .finally(() => this.running.delete(row.id));
    this.running.set(row.id, tracked);
    return templateView((await findTemplate(this.options.db, principal.ownerId, name, tag)) ?? row);
  }

  /** The caller's template named `name[:tag]`, if any (E2B's alias check). */
  async findByName(principal: Principal, nameTag: string): Promise<Template | undefined> {
    const { name, tag } = validated(() => checkTemplateBuildName(nameTag));
    const row = await findTemplate(this.options.db, principal.ownerId, name, tag);
    return row ? templateView(row) : undefined;
  }

  /** The caller's template `templateID` whose build is `buildID` (the one its record keeps). */
  async getBuild(
    principal: Principal,
    templateID: string,
    buildID: string,
  ): Promise<TemplateRecord> {
    const row = await this.getById(principal, templateID);
    if (row.buildId !== buildID) {
      throw new ServiceError(
        "template_not_found",
        `build ${buildID} of template ${templateID} not found (its build is ${row.buildId})`,
      );
    }
    return row;
  }

  async getById(principal: Principal, templateID: string): Promise<TemplateRecord> {
    const row = await findTemplateById(this.options.db, principal.ownerId, templateID);
    if (!row) throw new ServiceError("template_not_found", `template ${templateID} not found`);
    return row;
  }

  async list(principal: Principal): Promise<Template[]> {
    return (await listTemplates(this.options.db, principal.ownerId)).map(templateView);
  }

  /** Every owner's template records for the admin UI's session (ownerScope); else the caller's. */
  listReached(principal: Principal): Promise<TemplateRecord[]> {
    return listTemplates(this.options.db, ownerScope(principal));
  }

  /** The caller's template records, as kept (E2B's listings map them to their shapes). */
  records(principal: Principal): Promise<TemplateRecord[]> {
    return listTemplates(this.options.db, principal.ownerId);
  }

  /** Sandboxes made from each row's build, and the build's envd version and size. */
  usage(principal: Principal, rows: TemplateRecord[]): Promise<Map<string, TemplateUsage>> {
    return templateUsage(this.options.db, this.options.registry, principal.ownerId, rows);
  }

  /** Every log line the build of `row` kept (at most LIMITS.templateBuildLogLines). */
  async allLogs(row: TemplateRecord) {
    return (await readLogs(this.options.db, row.id, 0, LIMITS.templateBuildLogLines)).logs;
  }

  async get(principal: Principal, nameTag: string): Promise<Template> {
    return templateView(await this.find(principal, nameTag));
  }

  async build(
    principal: Principal,
    nameTag: string,
    offset = 0,
    limit = 100,
    ownerId = principal.ownerId,
  ): Promise<TemplateBuild> {
    const row = await this.find(principal, nameTag, ownerId);
    const { logs, total } = await readLogs(this.options.db, row.id, offset, limit);
    return {
      template: templateView(row),
      logs,
      nextLogsOffset: Math.min(total, offset + logs.length),
    };
  }

  /**
   * Stops the running build of `name[:tag]` and answers once it has ended (at most
   * CANCEL_WAIT_MS), with the template as the build left it: status error,
   * template_build_cancelled. The host kills the running step; nothing of the build stays.
   * A build this process does not follow (its control plane restarted, so nothing follows it
   * and the host has stopped it) is recorded as cancelled at once.
   */
  async cancel(principal: Principal, nameTag: string): Promise<Template> {
    const row = await this.find(principal, nameTag);
    const template = `${row.name}:${row.tag}`;
    if (row.status !== "building") {
      throw new ServiceError(
        "template_not_building",
        `template ${template} has no build running (its status is ${row.status})`,
      );
    }
    if (this.stops.stop(row.id, "cancelled")) {
      const ended = this.running.get(row.id);
      if (ended) {
        await Promise.race([ended, new Promise((r) => setTimeout(r, CANCEL_WAIT_MS).unref())]);
      }
    } else {
      const failure = stoppedError("cancelled", template, this.limits.timeoutSeconds);
      await finishBuild(this.options.db, row.id, {
        ok: false,
        code: failure.code,
        message: failure.message,
        step: row.step,
      });
    }
    return this.get(principal, nameTag);
  }

  /** Deletes `name[:tag]` of `ownerId` (the caller's own unless it reaches every owner). */
  async delete(principal: Principal, nameTag: string, ownerId = principal.ownerId): Promise<void> {
    const row = await this.find(principal, nameTag, ownerId);
    if (row.status === "building") {
      throw new ServiceError("template_building", `template ${row.name}:${row.tag} is being built`);
    }
    await this.releaseHostTemplate(row);
    await deleteTemplateRow(this.options.db, row.id);
  }

  /**
   * Deletes `row`'s build on its host unless another of the owner's rows (a tag) names it too;
   * template_in_use when sandboxes still run from it. The row itself stays (the caller's).
   */
  async releaseHostTemplate(
    row: Pick<TemplateRecord, "id" | "name" | "tag" | "hostId" | "hostTemplate">,
  ): Promise<void> {
    if (!row.hostTemplate || !row.hostId) return;
    if (await hostTemplateNamed(this.options.db, row.hostTemplate, row.id)) return;
    try {
      await this.options.registry.client(row.hostId).deleteTemplate(row.hostTemplate);
    } catch (error) {
      if (error instanceof HostError && error.code === "template_in_use") {
        throw new ServiceError(
          "template_in_use",
          `template ${row.name}:${row.tag} is used by sandboxes: ${error.message.replace(/^.*sandboxes: /, "")}`,
        );
      }
      throw error instanceof HostError ? fromHostError(error, "delete the template") : error;
    }
  }

  /**
   * The agent's template for a sandbox created from `name[:tag]` of this owner; undefined when
   * the owner has no such template (it may be one of the host's own, such as base).
   */
  async resolve(principal: Principal, template: string): Promise<string | undefined> {
    let parsed: { name: string; tag: string };
    try {
      parsed = checkTemplateBuildName(template);
    } catch {
      return undefined;
    }
    const row = await findTemplate(this.options.db, principal.ownerId, parsed.name, parsed.tag);
    if (!row) {
      // The host's name of someone's build is reached only through its owner's name for it.
      if (isHostTemplateName(template)) {
        throw new ServiceError("template_not_found", `template ${template} not found`);
      }
      return undefined;
    }
    if (!row.hostTemplate) {
      throw new ServiceError(
        "template_not_found",
        row.status === "building"
          ? `template ${row.name}:${row.tag} is still being built`
          : `template ${row.name}:${row.tag} has no successful build${row.errorMessage ? `: ${row.errorMessage}` : ""}`,
      );
    }
    return row.hostTemplate;
  }

  /** Waits for builds this process runs (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all(this.running.values());
  }

  /**
   * Template `name[:tag]` of `ownerId` (the caller's own by default); template_not_found when
   * there is none, or when it is another owner's and the caller does not reach every owner.
   */
  async find(
    principal: Principal,
    nameTag: string,
    ownerId = principal.ownerId,
  ): Promise<TemplateRecord> {
    const { name, tag } = validated(() => checkTemplateBuildName(nameTag));
    const scope = ownerScope(principal);
    const row =
      scope === undefined || scope === ownerId
        ? await findTemplate(this.options.db, ownerId, name, tag)
        : undefined;
    if (!row) throw new ServiceError("template_not_found", `template ${name}:${tag} not found`);
    return row;
  }

  /** MiB the host's template `name` takes, as the host last reported; 0 when unknown. */
  private async hostTemplateMb(hostId: string, name: string): Promise<number> {
    const host = await findHost(this.options.db, hostId);
    return sizeMbOf(host?.templates.find((t) => t.name === name)?.sizeBytes ?? null) ?? 0;
  }

  private describeFailure(error: unknown, operation: string): ServiceError {
    if (error instanceof ServiceError) return error;
    if (error instanceof HostError) return fromHostError(error, operation);
    return new ServiceError("internal_error", String(error));
  }
}

export function templateView(row: TemplateRecord): Template {
  return {
    templateId: row.id,
    name: row.name,
    tag: row.tag,
    fromImage: row.fromImage,
    status: row.status,
    step: row.step,
    cpuCount: row.vcpus,
    memoryMB: row.memoryMb,
    usable: row.hostTemplate !== null,
    sizeMB: row.hostTemplate ? sizeMbOf(row.sizeBytes) : null,
    error:
      row.status === "error" && row.errorCode
        ? { code: row.errorCode, message: row.errorMessage ?? "", step: row.errorStep }
        : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
