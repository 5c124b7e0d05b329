import { readFile } from "node:fs/promises";
import path from "node:path";

/** The parts of an OCI image config (config.config) a template keeps. */
export interface OciImageConfig {
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The config of the image tagged `tag` in an OCI layout skopeo wrote: index.json → manifest →
 * config blob. Digests are checked before they become paths (the layout came from a registry).
 */
export async function readImageConfig(layout: string, tag: string): Promise<OciImageConfig> {
  const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as {
    manifests?: Array<{ digest?: string; annotations?: Record<string, string> }>;
  };
  const entry =
    index.manifests?.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag) ??
    index.manifests?.[0];
  const manifest = JSON.parse(await blob(layout, entry?.digest)) as {
    config?: { digest?: string };
  };
  const config = JSON.parse(await blob(layout, manifest.config?.digest)) as {
    config?: OciImageConfig;
  };
  const c = config.config ?? {};
  return {
    Env: Array.isArray(c.Env) ? c.Env.filter((e) => typeof e === "string") : [],
    WorkingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : "",
    User: typeof c.User === "string" ? c.User : "",
  };
}

async function blob(layout: string, digest: string | undefined): Promise<string> {
  if (!digest || !DIGEST.test(digest)) throw new Error(`OCI layout: bad digest ${digest}`);
  return readFile(path.join(layout, "blobs", "sha256", digest.slice("sha256:".length)), "utf8");
}
