import { BootPath } from "@wrenn/proto/hostagent";
import type { AgentProcess } from "../../tests/harness/agent-process.js";
import { waitFor } from "../../tests/harness/wait.js";

/**
 * Waits until `agent` creates from the base template's checkpoint: an agent takes that
 * checkpoint in the background after it starts, and creates before it boot cold, which would
 * mix two boot paths into one figure. Each probe sandbox is destroyed.
 */
export async function untilTemplateRestore(
  agent: AgentProcess,
  sandboxId: () => string,
): Promise<void> {
  await waitFor(async () => {
    const id = sandboxId();
    const { sandbox } = await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await agent.client.destroySandbox({ sandboxId: id });
    return sandbox?.bootPath === BootPath.TEMPLATE_RESTORE;
  }, 120_000);
}
