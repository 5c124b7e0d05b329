import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { ContractError, parseDockerfile } from "@wrenn/contract";
import { NotFoundError } from "@wrenn/sdk";
import type { CommandContext } from "../command-context.js";
import { CliError } from "../exit-codes.js";

const run = promisify(execFile);

/** What `wrenn template build -f Dockerfile [CONTEXT]` sends to POST /v1/templates. */
export interface DockerfileBuild {
  fromImage?: string;
  fromTemplate?: string;
  steps: Array<{ type: string; args: string[]; filesHash?: string }>;
  startCmd?: string;
}

/**
 * Parses the Dockerfile into the contract's steps, uploads each COPY's files from the context
 * (a tar of the source, keyed by a hash of it: unchanged files are not sent again), and says
 * whether FROM names one of your templates (or base) or an image.
 */
export async function dockerfileBuild(
  ctx: CommandContext,
  file: string,
  contextDir: string,
): Promise<DockerfileBuild> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: ReturnType<typeof parseDockerfile>;
  try {
    parsed = parseDockerfile(text);
  } catch (err) {
    if (err instanceof ContractError) throw new CliError(`${file}: ${err.message}`);
    throw err;
  }
  if (!(await stat(contextDir).catch(() => undefined))?.isDirectory()) {
    throw new CliError(`the build context ${contextDir} is not a directory`);
  }
  const steps: DockerfileBuild["steps"] = [];
  for (const step of parsed.steps) {
    if (step.type !== "COPY") {
      steps.push(step);
      continue;
    }
    const src = step.args[0] as string;
    // Deterministic bytes (names sorted, times and owners zeroed): the hash is a cache key.
    const tar = await run(
      "tar",
      [
        "-C",
        contextDir,
        "--sort=name",
        "--mtime=@0",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "-cf",
        "-",
        "--",
        src,
      ],
      { encoding: "buffer", maxBuffer: 1 << 30 },
    ).catch((err: Error) => {
      throw new CliError(`COPY ${src}: cannot read it from ${contextDir}: ${err.message}`);
    });
    const hash = createHash("sha256")
      .update(`COPY ${src} ${step.args[1]}`)
      .update(tar.stdout)
      .digest("hex");
    const link = await ctx.client().templates.fileLink(hash);
    if (!link.present && link.url) {
      const res = await fetch(link.url, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: tar.stdout,
      });
      if (!res.ok) throw new CliError(`uploading COPY ${src} failed: HTTP ${res.status}`);
    }
    steps.push({ ...step, filesHash: hash });
  }
  const fromTemplate = await isTemplate(ctx, parsed.from);
  return {
    ...(fromTemplate ? { fromTemplate: parsed.from } : { fromImage: parsed.from }),
    steps,
    ...(parsed.startCmd ? { startCmd: parsed.startCmd } : {}),
  };
}

/** FROM base, or FROM one of your templates; anything else is an image reference. */
async function isTemplate(ctx: CommandContext, from: string): Promise<boolean> {
  if (from === "base") return true;
  if (from.includes("/")) return false;
  return ctx
    .client()
    .templates.get(from)
    .then(
      () => true,
      (error: unknown) => {
        // Not one of the caller's templates: an image. Anything else (no server, no key) is
        // the caller's to see.
        if (error instanceof NotFoundError) return false;
        throw error;
      },
    );
}
