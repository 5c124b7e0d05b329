// A response body that ends the moment its request's signal aborts, whatever the runtime does.
// Deno (2.9) sometimes leaves a pending read of a fetch body unsettled after the request's
// signal aborts, so a stream's consumer waits forever: WatchHandle.stop() hung in CI this way,
// and the command streams' watchdog relies on the same abort. Node and Bun settle the read; for
// them this changes nothing but one pass-through per chunk.

/** Statuses whose Response may not carry a body (the constructor throws). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** `response` with a body that errors with the signal's reason as soon as `signal` aborts. */
export function abortableResponse(response: Response, signal: AbortSignal | null | undefined) {
  const body = response.body;
  if (!signal || !body || NULL_BODY_STATUS.has(response.status)) return response;
  const reader = body.getReader();
  let onAbort: (() => void) | undefined;
  const release = () => {
    if (onAbort) signal.removeEventListener("abort", onAbort);
    onAbort = undefined;
  };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      onAbort = () => {
        release();
        controller.error(signal.reason);
        // Not awaited: the runtime's cancel may itself never settle (the bug this works round).
        reader.cancel(signal.reason).catch(() => {});
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      try {
        const next = await reader.read();
        if (signal.aborted) return;
        if (next.done) {
          release();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        release();
        if (!signal.aborted) controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  return new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
