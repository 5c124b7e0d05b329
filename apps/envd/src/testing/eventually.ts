// Polls until `check` returns a value (not undefined) or throws its last error after the
// limit. A limit to stop waiting, never a timing assertion.
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  limitMs = 10_000,
): Promise<T> {
  const stopAt = Date.now() + limitMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > stopAt) {
      throw lastError ?? new Error("condition not reached");
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
