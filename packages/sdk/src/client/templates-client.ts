// /v1/templates: templates the caller's owner builds from OCI images.
import type {
  CreateTemplateBody,
  Template,
  TemplateBuild,
  TemplateFileLink,
} from "@wrenn/contract";
import type { ApiClient } from "../api-client.js";
import { enc, wireObject } from "./wire-object.js";

export class TemplatesClient {
  constructor(private readonly api: ApiClient) {}

  /** Starts a build; answers once the image is found (status `building`). */
  async create(body: CreateTemplateBody): Promise<Template> {
    const started = await this.api.json({ method: "POST", path: "/v1/templates", body });
    return wireObject<Template>(started, "template");
  }

  async list(): Promise<Template[]> {
    const body = await this.api.json({ path: "/v1/templates" });
    return wireObject<{ templates: Template[] }>(body, "templates", ["templates"]).templates;
  }

  /** One template, by NAME or NAME:TAG. */
  async get(nameTag: string): Promise<Template> {
    const body = await this.api.json({ path: `/v1/templates/${enc(nameTag)}` });
    return wireObject<Template>(body, "template");
  }

  /** The template with its build log from `logsOffset` on (`nextLogsOffset` continues it). */
  async build(
    nameTag: string,
    query: { logsOffset?: number; limit?: number } = {},
  ): Promise<TemplateBuild> {
    const body = await this.api.json({ path: `/v1/templates/${enc(nameTag)}/build`, query });
    return wireObject<TemplateBuild>(body, "templateBuild", ["logs"]);
  }

  /**
   * Cancels its running build and answers once the build has ended, with the template
   * (status `error`, code `template_build_cancelled`); ConflictError `template_not_building`
   * when none runs.
   */
  async cancel(nameTag: string): Promise<Template> {
    const body = await this.api.json({
      method: "POST",
      path: `/v1/templates/${enc(nameTag)}/cancel`,
    });
    return wireObject<Template>(body, "template");
  }

  /** Deletes it (ConflictError `template_in_use` while a sandbox uses it). */
  async delete(nameTag: string): Promise<void> {
    await this.api.json({ method: "DELETE", path: `/v1/templates/${enc(nameTag)}` });
  }

  /**
   * Where to upload a build step's files (a tar) named by `hash`: a signed URL to PUT them
   * to, or `present` when the server already has them.
   */
  async fileLink(hash: string): Promise<TemplateFileLink> {
    const body = await this.api.json({ method: "POST", path: `/v1/templates/files/${enc(hash)}` });
    return wireObject<TemplateFileLink>(body, "templateFileLink");
  }
}
