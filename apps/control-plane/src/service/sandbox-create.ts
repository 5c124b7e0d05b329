import { errorMessage } from "@wrenn/contract";
import { type AgentSandbox, HostError } from "../hosts/host-client.js";
import { generateEnvdToken } from "../secrets/token-cipher.js";
import { lockKey } from "../store/api-key-store.js";
import type { AuditEvent } from "../store/audit-store.js";
import {
  deleteRefusedSandbox,
  insertSandbox,
  NameTakenError,
  toSandbox,
  updateSandbox,
} from "../store/sandbox-store.js";
import { sealEgressProxy } from "./egress-proxy-seal.js";
import { ServiceError, sandboxNotFound } from "./errors.js";
import { fromHostError, refusalCode } from "./host-refusal.js";
import { newSandboxId } from "./ids.js";
import { enforceCreateRate, enforcePools } from "./quota.js";
import { type CreateSandboxInput, normalizeCreate } from "./sandbox-input.js";
import { describe, SEMVER, type ServiceCore } from "./sandbox-service-core.js";
import type { OwnedSandbox, Principal } from "./sandbox-types.js";
import { resolveEgressRules } from "./secret-resolver.js";
import { snapshotPlacement, snapshotSourceFor } from "./snapshot-service.js";

// Create: validation, quota, placement on a host and the agent call, with the row reporting each
// step. Apart because it is the one operation that makes a row.

// ---------------------------------------------------------------- create

export async function createSandbox(
  core: ServiceCore,
  principal: Principal,
  input: CreateSandboxInput,
): Promise<OwnedSandbox> {
  // A snapshot (given, or named as the template) fixes template and sizes, and the host while
  // it is not on the shared store.
  const snap =
    input.fromSnapshot ??
    (await snapshotSourceFor(core.options.db, core.options.registry, principal, input.template));
  const normalized = normalizeCreate(
    snap ? { ...input, template: snap.template, resources: snap.resources } : input,
    core.options.defaults,
  );
  // One of the owner's own templates (from an image) runs as the host's name for it.
  const own = snap
    ? undefined
    : await core.options.templates?.resolve(principal, normalized.template);
  const spec = own ? { ...normalized, template: own } : normalized;
  // A host directory is the host's own data: only an admin may ask for one.
  if (spec.mounts.length > 0 && principal.role !== "admin") {
    throw new ServiceError(
      "mounts_not_allowed",
      "only an admin API key may mount host directories",
    );
  }
  // Placeholders are filled in before anything is made: a missing secret creates nothing.
  const rules = await resolveEgressRules(core.secrets, principal.ownerId, spec.network.rules);
  const began = performance.now();
  const placement = await core.options.scheduler.place({
    template: spec.template,
    resources: spec.resources,
    ...(snap ? snapshotPlacement(snap) : {}),
  });
  const token = generateEnvdToken();
  const row = await core.options.db
    .transaction(async (tx) => {
      const key = await lockKey(tx, principal.keyId);
      if (!key || key.revokedAt)
        throw new ServiceError("invalid_api_key", "the API key was revoked");
      await enforceCreateRate(tx, key);
      await enforcePools(tx, key, spec.resources, { storage: true });
      for (let attempt = 0; attempt < 5; attempt++) {
        const inserted = await insertSandbox(tx, {
          id: newSandboxId(),
          name: spec.name,
          ownerId: principal.ownerId,
          apiKeyId: principal.keyId,
          template: spec.template,
          state: "starting",
          resources: spec.resources,
          metadata: spec.metadata,
          envVarNames: Object.keys(spec.envVars),
          allowInternet: spec.allowInternet,
          network: { ...spec.network, ...sealEgressProxy(spec.egressProxy, core.options.cipher) },
          autoPause: spec.autoPause,
          autoResume: spec.autoResume,
          timeoutSeconds: spec.timeoutSeconds,
          envdTokenSealed: core.options.cipher.seal(token),
          hostId: placement.hostId,
          opDeadlineSeconds: core.deadlines.start,
        });
        if (inserted) return inserted;
      }
      throw new Error("could not draw a free sandbox id");
    })
    .catch((error: unknown) => {
      if (error instanceof NameTakenError) {
        throw new ServiceError(
          "sandbox_name_taken",
          `${errorMessage("sandbox_name_taken", { name: error.sandboxName })}; pick another name, or destroy that sandbox first`,
        );
      }
      throw error;
    });

  const auditBase: AuditEvent = {
    ...core.actorFields({ actor: "api", principal }),
    action: "sandbox.create",
    sandboxId: row.id,
    outcome: "ok",
  };
  let agent: AgentSandbox;
  try {
    agent = await placement.client.createSandbox({
      sandboxId: row.id,
      template: spec.template,
      vcpus: spec.resources.vcpus,
      memoryMb: spec.resources.memoryMb,
      diskMb: spec.resources.diskMb,
      envVars: spec.envVars,
      metadata: spec.metadata,
      allowInternet: spec.allowInternet,
      allowOut: spec.network.allowOut,
      denyOut: spec.network.denyOut,
      ...(spec.egressProxy ? { egressProxy: spec.egressProxy } : {}),
      ...(rules ? { rules } : {}),
      envdAccessToken: token,
      mounts: spec.mounts,
      ...(snap ? { fromSnapshot: snap.id } : {}),
    });
    if (!SEMVER.test(agent.envdVersion)) {
      throw new HostError(
        "internal",
        `envd version ${JSON.stringify(agent.envdVersion)} is not semver`,
      );
    }
  } catch (error) {
    const refused = error instanceof HostError ? refusalCode(error) : undefined;
    // A refusal means the sandbox never existed: its row goes (the audit event below keeps
    // the reason). Any other failure may have left something on the host, so the row stays,
    // marked failed, for the owner and reconciliation to see.
    if (refused) await deleteRefusedSandbox(core.options.db, row.id);
    else {
      await updateSandbox(
        core.options.db,
        { id: row.id, states: ["starting"] },
        {
          state: "error",
          error: describe(error).slice(0, 1000),
          errorReason: "failed",
          opDeadlineSeconds: null,
        },
      );
      // The agent may have got far enough to leave something behind. (A refusal created
      // nothing, and for already_exists the id on the host is not this sandbox's.)
      await placement.client.destroySandbox(row.id).catch(() => {});
    }
    await core.options.audit.record({
      ...auditBase,
      outcome: "error",
      durationMs: performance.now() - began,
      detail: {
        template: spec.template,
        error: describe(error),
        ...(refused ? { refused } : {}),
      },
    });
    if (error instanceof HostError) {
      throw error.kind === "not_found" && !refused
        ? new ServiceError(
            "template_not_found",
            `the host does not have template ${spec.template}: ${error.message}`,
          )
        : fromHostError(error, "create the sandbox");
    }
    throw error;
  }

  const running = await updateSandbox(
    core.options.db,
    { id: row.id, states: ["starting"] },
    { state: "running", envdVersion: agent.envdVersion, opDeadlineSeconds: null },
  );
  if (!running) {
    // Destroyed while it was starting: the destroy may have reached the agent first.
    await placement.client.destroySandbox(row.id).catch(() => {});
    throw sandboxNotFound(row.id);
  }
  await core.options.audit.record({
    ...auditBase,
    durationMs: performance.now() - began,
    detail: { template: spec.template, resources: spec.resources, hostId: placement.hostId },
  });
  return { ...toSandbox(running), envdAccessToken: token };
}
