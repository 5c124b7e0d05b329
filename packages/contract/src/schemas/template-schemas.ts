// Templates an owner builds from OCI images (/v1/templates).
import { type Static, Type } from "typebox";
import { IMAGE_REF_PATTERN, LIMITS, TEMPLATE_BUILD_NAME_PATTERN } from "../limits.js";
import { TEMPLATE_STEP_LIMITS } from "../validators/template-steps.js";
import { DateTime, Nullable } from "./shared.js";

export const TEMPLATE_BUILD_STATUSES = ["building", "ready", "error"] as const;
export type TemplateBuildStatus = (typeof TEMPLATE_BUILD_STATUSES)[number];

export const CreateTemplateBody = Type.Object(
  {
    name: Type.String({
      pattern: TEMPLATE_BUILD_NAME_PATTERN,
      description: "NAME or NAME:TAG (tag default: latest)",
    }),
    fromImage: Type.Optional(
      Type.String({ maxLength: LIMITS.imageRefLength, pattern: IMAGE_REF_PATTERN }),
    ),
    fromTemplate: Type.Optional(
      Type.String({
        pattern: TEMPLATE_BUILD_NAME_PATTERN,
        description: "Build on one of your templates (or the host's base) instead of an image",
      }),
    ),
    steps: Type.Optional(
      Type.Array(
        Type.Object(
          {
            type: Type.String({ description: "RUN, COPY, ENV, WORKDIR or USER" }),
            args: Type.Array(Type.String()),
            filesHash: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: TEMPLATE_STEP_LIMITS.steps,
          description:
            "E2B's TemplateStep list, run in order on the base; COPY names files uploaded through POST /v1/templates/files/{hash}",
        },
      ),
    ),
    startCmd: Type.Optional(Type.String({ maxLength: 65_536 })),
    readyCmd: Type.Optional(Type.String({ maxLength: 65_536 })),
    force: Type.Optional(
      Type.Boolean({
        description:
          "Reuse no cached layer: pull the image and run every step again (the CLI's --no-cache, E2B's skipCache)",
      }),
    ),
    registry: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1, maxLength: 256 }),
          password: Type.String({ minLength: 1, maxLength: 4096 }),
        },
        {
          additionalProperties: false,
          description: "Credentials for the image's registry; never stored",
        },
      ),
    ),
    cpuCount: Type.Optional(Type.Integer({ minimum: LIMITS.vcpus.min, maximum: LIMITS.vcpus.max })),
    memoryMB: Type.Optional(
      Type.Integer({ minimum: LIMITS.memoryMb.min, maximum: LIMITS.memoryMb.max }),
    ),
  },
  // What /docs fills in for "Try it out" (the build pulls the image from its registry).
  {
    additionalProperties: false,
    examples: [{ name: "python:3.12", fromImage: "python:3.12-slim" }],
  },
);
export type CreateTemplateBody = Static<typeof CreateTemplateBody>;

export const TemplateLogEntry = Type.Object({
  timestamp: DateTime,
  level: Type.Union([Type.Literal("info"), Type.Literal("error")]),
  step: Type.String(),
  message: Type.String(),
});
export type TemplateLogEntry = Static<typeof TemplateLogEntry>;

export const Template = Type.Object({
  templateId: Type.String(),
  name: Type.String(),
  tag: Type.String(),
  fromImage: Type.String(),
  status: Type.Union([Type.Literal("building"), Type.Literal("ready"), Type.Literal("error")]),
  /** The build step running now (or the last one run). */
  step: Nullable(Type.String()),
  cpuCount: Type.Integer(),
  memoryMB: Type.Integer(),
  /** Whether sandboxes can be created from it (a rebuild that failed keeps the last good one). */
  usable: Type.Boolean(),
  /**
   * MiB its usable build takes on its host's disk (rounded up), counted against the owner's
   * storage pool; null while no build succeeded.
   */
  sizeMB: Nullable(Type.Integer()),
  error: Nullable(
    Type.Object({ code: Type.String(), message: Type.String(), step: Nullable(Type.String()) }),
  ),
  createdAt: DateTime,
  updatedAt: DateTime,
});
export type Template = Static<typeof Template>;

export const TemplateList = Type.Object({ templates: Type.Array(Template) });

export const TemplateNameParams = Type.Object({
  name: Type.String({ pattern: TEMPLATE_BUILD_NAME_PATTERN }),
});

export const TemplateBuildQuery = Type.Object({
  logsOffset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});

export const TemplateBuild = Type.Object({
  template: Template,
  logs: Type.Array(TemplateLogEntry),
  /** logsOffset for the next call. */
  nextLogsOffset: Type.Integer(),
});
export type TemplateBuild = Static<typeof TemplateBuild>;

export const TemplateFileParams = Type.Object({ hash: Type.String({ pattern: "^[0-9a-f]{64}$" }) });

/** Whether files of this hash are uploaded already; if not, where to PUT them (signed, 30 min). */
export const TemplateFileLink = Type.Object({
  present: Type.Boolean(),
  url: Type.Optional(Type.String()),
});
export type TemplateFileLink = Static<typeof TemplateFileLink>;
