import { invalidInput } from "../errors/error-codes.js";

/**
 * A template build step, in E2B's wire format (`TemplateStep` of its builder): one of RUN,
 * COPY, ENV, WORKDIR, USER with string arguments. COPY args are [src, dest, user|'', mode|''],
 * RUN [cmd, user?], ENV [k1, v1, k2, v2, ...], WORKDIR [dir], USER [name].
 * The same shape comes from the E2B SDK's `Template()` and from the CLI's Dockerfile parser.
 */
export interface TemplateStep {
  type: TemplateStepType;
  args: string[];
  /** COPY: the sha256 (hex) the files were uploaded under. */
  filesHash?: string;
}

export const TEMPLATE_STEP_TYPES = ["RUN", "COPY", "ENV", "WORKDIR", "USER"] as const;
export type TemplateStepType = (typeof TEMPLATE_STEP_TYPES)[number];

export const TEMPLATE_STEP_LIMITS = {
  steps: 200,
  argLength: 65_536,
  args: 512,
  /** An uploaded COPY context (bytes, as uploaded: gzip or plain tar). */
  filesBytes: 256 * 1024 * 1024,
  /** What one COPY context may unpack to (a gzip bomb stops here, not in the agent's memory). */
  unpackedBytes: 1024 * 1024 * 1024,
  /** How long one RUN step may take. */
  runStepMs: 30 * 60_000,
  /** How long create waits for a template's ready command to succeed. */
  readyWaitMs: 120_000,
} as const;

const FILES_HASH = /^[0-9a-f]{64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$/;
const MODE = /^[0-7]{3,4}$/;

/** A path inside the uploaded context: relative, and never leaving it through `..`. */
export function checkContextPath(src: string, what = "COPY source"): string {
  const parts = src.split("/").filter((p) => p !== "" && p !== ".");
  if (src.startsWith("/") || parts.includes("..") || src.includes("\0") || parts.length === 0) {
    throw invalidInput(
      `${what} ${JSON.stringify(src)} must be a relative path inside the build context (no '..', not absolute)`,
    );
  }
  return parts.join("/");
}

/** Absolute path in the template (WORKDIR, COPY destination); relative ones resolve in `cwd`. */
function absolutePath(value: string, cwd: string, what: string): string {
  if (value === "" || value.includes("\0") || value.length > 4096) {
    throw invalidInput(`${what} must be a path`);
  }
  return value.startsWith("/") ? value : `${cwd.replace(/\/$/, "")}/${value}`;
}

/**
 * Validates a list of steps as sent by a client; returns them normalised. Refuses an unknown
 * type by name, wrong argument counts, a COPY without its files' hash or with a source outside
 * the context, and bad variable or user names.
 */
export function checkTemplateSteps(value: unknown): TemplateStep[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidInput("steps must be an array");
  if (value.length > TEMPLATE_STEP_LIMITS.steps) {
    throw invalidInput(`at most ${TEMPLATE_STEP_LIMITS.steps} steps`);
  }
  let cwd = "/";
  return value.map((raw, i): TemplateStep => {
    const n = i + 1;
    const s = raw as { type?: unknown; args?: unknown; filesHash?: unknown };
    if (typeof s !== "object" || s === null) throw invalidInput(`step ${n} must be an object`);
    const type = s.type;
    if (typeof type !== "string" || !(TEMPLATE_STEP_TYPES as readonly string[]).includes(type)) {
      throw invalidInput(
        `step ${n}: unsupported step type ${JSON.stringify(type)} (supported: ${TEMPLATE_STEP_TYPES.join(", ")})`,
      );
    }
    const args = s.args ?? [];
    if (
      !Array.isArray(args) ||
      args.length > TEMPLATE_STEP_LIMITS.args ||
      args.some((a) => typeof a !== "string" || a.length > TEMPLATE_STEP_LIMITS.argLength)
    ) {
      throw invalidInput(`step ${n} (${type}): args must be an array of strings`);
    }
    const a = args as string[];
    const need = (min: number, max: number) => {
      if (a.length < min || a.length > max) {
        throw invalidInput(`step ${n} (${type}) takes ${min}..${max} arguments, got ${a.length}`);
      }
    };
    const user = (u: string | undefined) => {
      if (u !== undefined && u !== "" && !USER_NAME.test(u)) {
        throw invalidInput(`step ${n} (${type}): invalid user ${JSON.stringify(u)}`);
      }
    };
    switch (type as TemplateStepType) {
      case "RUN":
        need(1, 2);
        if ((a[0] ?? "").trim() === "") throw invalidInput(`step ${n} (RUN): empty command`);
        user(a[1]);
        return { type: "RUN", args: a };
      case "COPY": {
        need(2, 4);
        checkContextPath(a[0] as string);
        absolutePath(a[1] as string, cwd, `step ${n} (COPY) destination`);
        user(a[2]);
        if (a[3] && !MODE.test(a[3])) {
          throw invalidInput(`step ${n} (COPY): mode must be octal such as 0644`);
        }
        if (typeof s.filesHash !== "string" || !FILES_HASH.test(s.filesHash)) {
          throw invalidInput(
            `step ${n} (COPY): filesHash must be the sha256 of the uploaded files`,
          );
        }
        return { type: "COPY", args: a, filesHash: s.filesHash };
      }
      case "ENV":
        if (a.length === 0 || a.length % 2 !== 0) {
          throw invalidInput(`step ${n} (ENV) takes name, value pairs`);
        }
        for (let k = 0; k < a.length; k += 2) {
          if (!ENV_NAME.test(a[k] as string)) {
            throw invalidInput(`step ${n} (ENV): invalid variable name ${JSON.stringify(a[k])}`);
          }
        }
        return { type: "ENV", args: a };
      case "WORKDIR":
        need(1, 1);
        cwd = absolutePath(a[0] as string, cwd, `step ${n} (WORKDIR)`);
        return { type: "WORKDIR", args: [cwd] };
      case "USER":
        need(1, 1);
        if (!a[0]) throw invalidInput(`step ${n} (USER): empty user`);
        user(a[0]);
        return { type: "USER", args: a };
    }
    throw invalidInput(`step ${n}: unsupported step type ${type}`);
  });
}

/**
 * The build log's marker for a step whose cached layer was reused (as Docker prints it):
 * a progress message of such a step starts with it, e.g. `CACHED [2/5] RUN make`.
 */
export const TEMPLATE_CACHED_MARKER = "CACHED";

/**
 * A step's canonical form, the part of its layer's cache key that comes from the step itself:
 * its type and arguments, and for COPY a sha256 of the files it copies, computed by the agent
 * from what they unpack to (paths, modes, contents; never the client's word for them, nor the
 * archive's bytes). Same form, same parent layer and same user/workdir/env ⇒ same layer.
 */
export function canonicalTemplateStep(step: TemplateStep, filesDigest?: string): string {
  return JSON.stringify([step.type, step.args, step.type === "COPY" ? (filesDigest ?? "") : ""]);
}
