import { ArtifactStoreError } from "../artifacts/artifact-store.js";
import { AgentError } from "../sandboxes/errors.js";
import type { TemplateRef } from "../sandboxes/template-snapshots.js";
import { missingCpuFeatures } from "./cpu-features.js";

/**
 * The checks a checkpoint from another host gets before it is restored here (a hibernated
 * sandbox, a snapshot from the shared store), one place so both refuse alike. `what` names it
 * ("sandbox sb-...", "snapshot snap-..."); `retry` says where to try instead.
 */
export function refuseMissingCpuFeatures(
  what: string,
  recorded: readonly string[] | undefined,
  have: readonly string[],
  retry: string,
): void {
  const missing = missingCpuFeatures(recorded ?? [], have);
  if (missing.length === 0) return;
  throw new AgentError(
    "failed_precondition",
    `${what} was checkpointed on a CPU with features this host lacks (${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}); ${retry} on a host with the same CPU`,
    "cpu_features_mismatch",
  );
}

/**
 * This host's ref of the template version the checkpoint overlays (its rootfs path is this
 * host's, not the writer's), or a refusal naming the version this host lacks.
 */
export async function localTemplateOf(
  what: string,
  wanted: Pick<TemplateRef, "name" | "version">,
  templateRef: (name: string) => Promise<TemplateRef | undefined>,
): Promise<TemplateRef> {
  const template = await templateRef(wanted.name);
  if (template?.version !== wanted.version) {
    throw new AgentError(
      "failed_precondition",
      `${what} overlays template ${wanted.name} version ${wanted.version}, which this host does not have`,
      "snapshot_incompatible",
    );
  }
  return template;
}

/**
 * A store's refusal as the agent answers it: not_found as the caller's own (a sandbox or
 * snapshot that is not there), anything else 503 store_unavailable (retry later).
 */
export function fromStoreError(err: unknown, notFound: (message: string) => AgentError): never {
  if (!(err instanceof ArtifactStoreError)) throw err;
  if (err.reason === "not_found") throw notFound(err.message);
  throw new AgentError("unavailable", err.message, "store_unavailable");
}
