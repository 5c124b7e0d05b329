import { execInSandbox } from "./sandbox-exec.js";
import { waitFor } from "./wait.js";

/**
 * A process of the sandbox writing a counter to /home/user/counter five times a second,
 * detached from envd: a checkpoint that kept it goes on counting from where it was, a new one
 * would start again at 1.
 */
export const COUNTER_PROCESS =
  "setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > /home/user/counter; sleep 0.2; done' " +
  "</dev/null >/dev/null 2>&1 &";

/** The counter's value in a sandbox of the agent at agentUrl. */
export async function counterOf(agentUrl: string, id: string, token: string): Promise<number> {
  const r = await execInSandbox(agentUrl, id, "cat /home/user/counter", { token });
  return Number(r.stdout.trim());
}

/** Waits until the counter is above `after` (its writer alive and counting); returns it. */
export async function countingPast(
  agentUrl: string,
  id: string,
  token: string,
  after: number,
): Promise<number> {
  let seen = after;
  await waitFor(
    async () => {
      seen = await counterOf(agentUrl, id, token);
      return seen > after;
    },
    60_000,
    `the counter of ${id} to pass ${after}`,
  );
  return seen;
}
