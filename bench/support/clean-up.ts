/**
 * Runs a bench's clean-up steps in order, each even if an earlier one failed, and never throws:
 * a clean-up failure (an agent slow to stop on a loaded machine, say) must not hide the error
 * the bench itself ended with, nor stop the next step. Failures are printed to stderr.
 */
export async function cleanUp(steps: Record<string, () => Promise<unknown>>): Promise<void> {
  for (const [what, step] of Object.entries(steps)) {
    await step().catch((err: unknown) => {
      const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
      console.error(`(clean-up: ${what} failed: ${message})`);
    });
  }
}
