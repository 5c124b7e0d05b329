// E2B's lifecycle.autoResume: a request through the proxy to a paused sandbox that asked for it
// resumes the sandbox first, then goes through, as if it had never paused (E2B's edge proxy
// calls its API's resume the same way). Only the proxy wakes sandboxes: /v1's own exec, files and
// terminal still answer 409 for a paused one, which says what to do.
import { findSandbox } from "../store/sandbox-store.js";
import { ServiceError } from "./errors.js";
import { endpoint } from "./sandbox-queries.js";
import type { ServiceCore } from "./sandbox-service-core.js";
import type { SandboxEndpoint } from "./sandbox-service-types.js";
import { resumeSandbox } from "./sandbox-transitions.js";
import { ownerScope, type Principal } from "./sandbox-types.js";

/** One resume per sandbox however many requests arrive while it is paused. */
const waking = new Map<string, Promise<unknown>>();

/**
 * endpoint(), but a paused (or pausing) sandbox with autoResume is resumed first. A request
 * for a sandbox without it, or one that is gone, gets endpoint()'s own refusal.
 */
export async function endpointWaking(
  core: ServiceCore,
  principal: Principal | null,
  id: string,
): Promise<SandboxEndpoint> {
  try {
    return await endpoint(core, principal, id);
  } catch (error) {
    if (!(error instanceof ServiceError) || error.code !== "sandbox_not_running") throw error;
    const row = await findSandbox(
      core.options.db,
      id,
      principal ? ownerScope(principal) : undefined,
    );
    if (!row?.autoResume) throw error;
    let wake = waking.get(id);
    if (!wake) {
      const owner: Principal = {
        keyId: row.apiKeyId,
        ownerId: row.ownerId,
        role: "user",
        name: "auto-resume",
      };
      wake = resumeSandbox(core, owner, id, { actor: { actor: "system" } }).finally(() =>
        waking.delete(id),
      );
      waking.set(id, wake);
    }
    await wake;
    return endpoint(core, principal, id);
  }
}
