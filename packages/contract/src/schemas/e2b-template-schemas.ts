// E2B's template routes beyond the build itself (E2B-extensions.md §6): list, get with builds,
// update, tags, build logs; request shapes as e2b-dev/E2B's js-sdk sends them
// (src/api/schema.gen.ts: AssignTemplateTagsRequest, DeleteTemplateTagsRequest,
// TemplateUpdateRequest, the logs route's query).
import { Type } from "typebox";
import { TEMPLATE_BUILD_NAME_PATTERN } from "../limits.js";
import { DateTime, Nullable } from "./shared.js";

/** A tag alone (the part after ':' of NAME:TAG). */
export const TEMPLATE_TAG_PATTERN = "^[A-Za-z0-9_.-]{1,64}$";
/** Tags one call may assign or remove. */
export const TEMPLATE_TAGS_PER_CALL = 32;
/** The most log lines one call of the logs routes answers (E2B's limit). */
export const TEMPLATE_LOGS_PAGE = 100;

const Tags = Type.Array(Type.String({ pattern: TEMPLATE_TAG_PATTERN }), {
  minItems: 1,
  maxItems: TEMPLATE_TAGS_PER_CALL,
});

/** POST /templates/tags: name the build of `target` (NAME:TAG) with `tags` too. */
export const AssignTemplateTagsBody = Type.Object({
  target: Type.String({ pattern: TEMPLATE_BUILD_NAME_PATTERN }),
  tags: Tags,
});

/** DELETE /templates/tags: remove `tags` of template `name`. */
export const DeleteTemplateTagsBody = Type.Object({
  name: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$" }),
  tags: Tags,
});

/** PATCH /v2/templates/{id} (and the deprecated PATCH /templates/{id}). */
export const TemplateUpdateBody = Type.Object({ public: Type.Optional(Type.Boolean()) });

/** GET /templates/{id}/builds/{buildID}/logs. */
export const TemplateBuildLogsQuery = Type.Object({
  /** Milliseconds since the epoch: lines at or after it (forward) or at or before (backward). */
  cursor: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: TEMPLATE_LOGS_PAGE })),
  direction: Type.Optional(Type.Union([Type.Literal("forward"), Type.Literal("backward")])),
  level: Type.Optional(
    Type.Union([
      Type.Literal("debug"),
      Type.Literal("info"),
      Type.Literal("warn"),
      Type.Literal("error"),
    ]),
  ),
  source: Type.Optional(Type.Union([Type.Literal("temporary"), Type.Literal("persistent")])),
});

/** GET /v2/templates and GET /templates/{id}: E2B's pagination (one page holds them all here). */
export const TemplatePageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  nextToken: Type.Optional(Type.String({ maxLength: 256 })),
  teamID: Type.Optional(Type.String({ maxLength: 256 })),
});

export const TemplateIdParams = Type.Object({
  templateID: Type.String({ minLength: 1, maxLength: 128 }),
});
export const TemplateBuildParams = Type.Object({
  templateID: Type.String({ minLength: 1, maxLength: 128 }),
  buildID: Type.String({ minLength: 1, maxLength: 64 }),
});

// ---- answers, as E2B's SDK and CLI read them

const E2bBuildStatus = Type.Union([
  Type.Literal("building"),
  Type.Literal("waiting"),
  Type.Literal("ready"),
  Type.Literal("error"),
]);

/** One build of a template (E2B's TemplateBuild). */
export const E2bTemplateBuild = Type.Object({
  buildID: Type.String(),
  status: E2bBuildStatus,
  cpuCount: Type.Integer(),
  memoryMB: Type.Integer(),
  diskSizeMB: Type.Optional(Type.Integer()),
  envdVersion: Type.Optional(Type.String()),
  createdAt: DateTime,
  updatedAt: DateTime,
  finishedAt: Type.Optional(DateTime),
});

const TemplateCommon = {
  templateID: Type.String(),
  /** NAME:TAG: the name sandboxes are created from. */
  names: Type.Array(Type.String()),
  /** Deprecated by E2B: the names without tags. */
  aliases: Type.Array(Type.String()),
  public: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime,
  lastSpawnedAt: Nullable(DateTime),
  spawnCount: Type.Integer(),
};

/** GET /v2/templates' items (E2B's Template). */
export const E2bTemplate = Type.Object({
  ...TemplateCommon,
  buildID: Type.String(),
  buildStatus: E2bBuildStatus,
  buildCount: Type.Integer(),
  cpuCount: Type.Integer(),
  memoryMB: Type.Integer(),
  diskSizeMB: Type.Integer(),
  envdVersion: Type.String(),
  createdBy: Type.Null(),
});

/** GET /templates/{id} (E2B's TemplateWithBuilds). */
export const E2bTemplateWithBuilds = Type.Object({
  ...TemplateCommon,
  builds: Type.Array(E2bTemplateBuild),
});

export const E2bTemplateUpdated = Type.Object({ names: Type.Array(Type.String()) });

export const E2bTemplateTag = Type.Object({
  tag: Type.String(),
  buildID: Type.String(),
  createdAt: DateTime,
});

export const E2bAssignedTemplateTags = Type.Object({
  buildID: Type.String(),
  tags: Type.Array(Type.String()),
});

export const E2bBuildLogEntry = Type.Object({
  timestamp: DateTime,
  level: Type.Union([
    Type.Literal("debug"),
    Type.Literal("info"),
    Type.Literal("warn"),
    Type.Literal("error"),
  ]),
  message: Type.String(),
  step: Type.Optional(Type.String()),
});

export const E2bTemplateBuildLogs = Type.Object({ logs: Type.Array(E2bBuildLogEntry) });
