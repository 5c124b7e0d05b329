// Tags of an owner's template (E2B's Template.assignTags/removeTags/getTags). A template here
// is one row per NAME:TAG; a tag assigned from NAME:SRC is a row of its own that names the
// same build (host template and build id) as SRC did then, so rebuilding SRC later leaves the
// tag on the old build, as in E2B. A build is deleted from its host when no row names it.
import { randomBytes } from "node:crypto";
import { checkTemplateBuildName } from "@wrenn/contract";
import type { Database } from "../db/database.js";
import {
  assignTag,
  deleteTemplateRow,
  findTemplate,
  findTemplateById,
  listTemplatesNamed,
  type TemplateRecord,
} from "../store/template-store.js";
import { ServiceError, validated } from "./errors.js";
import type { Principal } from "./sandbox-types.js";
import type { TemplateService } from "./template-service.js";

export class TemplateTags {
  constructor(
    private readonly db: Database,
    private readonly templates: TemplateService,
  ) {}

  /** Names `target`'s (NAME:TAG) build with `tags` too; its build id and the tags. */
  async assign(
    principal: Principal,
    target: string,
    tags: string[],
  ): Promise<{ buildID: string; tags: string[] }> {
    const source = await this.templates.find(principal, target);
    // The tag names the build the record is about, so that build must be the good one.
    if (source.status === "building") {
      throw new ServiceError(
        "template_building",
        `template ${source.name}:${source.tag} is being built; tag it when the build is ready`,
      );
    }
    if (source.status !== "ready" || !source.hostTemplate) {
      throw new ServiceError(
        "template_not_found",
        `template ${source.name}:${source.tag} has no ready build to tag (its last build failed: ${source.errorMessage ?? source.errorCode}); build it again first`,
      );
    }
    const wanted = [...new Set(tags)].filter((t) => t !== source.tag);
    // Checked before anything changes: a tag being built is refused, and nothing is assigned.
    for (const tag of wanted) {
      const row = await findTemplate(this.db, principal.ownerId, source.name, tag);
      if (row?.status === "building") {
        throw new ServiceError(
          "template_building",
          `template ${source.name}:${tag} is being built; assign the tag when its build has ended`,
        );
      }
    }
    for (const tag of wanted) {
      const done = await assignTag(this.db, source, tag, `tpl-${randomBytes(4).toString("hex")}`);
      if (!done) {
        throw new ServiceError(
          "template_building",
          `template ${source.name}:${tag} is being built`,
        );
      }
      // The build the tag named before goes if nothing else names it (nor runs from it).
      if (done.previousHostTemplate) {
        await this.templates
          .releaseHostTemplate({ ...done.row, hostTemplate: done.previousHostTemplate })
          .catch(() => {});
      }
    }
    return { buildID: source.buildId, tags: [...new Set(tags)] };
  }

  /** Removes `tags` of template `name`; all of them exist, or nothing is removed. */
  async remove(principal: Principal, name: string, tags: string[]): Promise<void> {
    const rows: TemplateRecord[] = [];
    for (const tag of new Set(tags)) {
      const row = await findTemplate(this.db, principal.ownerId, name, tag);
      if (!row) throw new ServiceError("template_not_found", `template ${name}:${tag} not found`);
      if (row.status === "building") {
        throw new ServiceError("template_building", `template ${name}:${tag} is being built`);
      }
      rows.push(row);
    }
    for (const row of rows) {
      await this.templates.releaseHostTemplate(row);
      await deleteTemplateRow(this.db, row.id);
    }
  }

  /** Every tag of the template `idOrName` (a template id, NAME or NAME:TAG) is part of. */
  async list(principal: Principal, idOrName: string): Promise<TemplateRecord[]> {
    const name = await this.nameOf(principal, idOrName);
    const rows = await listTemplatesNamed(this.db, principal.ownerId, name);
    if (rows.length === 0) {
      throw new ServiceError("template_not_found", `template ${idOrName} not found`);
    }
    return rows;
  }

  /** The template `idOrName` names: an id's row, or NAME[:TAG]'s row (E2B takes either). */
  async resolve(principal: Principal, idOrName: string): Promise<TemplateRecord> {
    const byId = await findTemplateById(this.db, principal.ownerId, idOrName);
    return byId ?? this.templates.find(principal, idOrName);
  }

  private async nameOf(principal: Principal, idOrName: string): Promise<string> {
    const byId = await findTemplateById(this.db, principal.ownerId, idOrName);
    if (byId) return byId.name;
    return validated(() => checkTemplateBuildName(idOrName)).name;
  }
}
