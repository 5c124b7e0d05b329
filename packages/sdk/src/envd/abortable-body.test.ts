import { describe, expect, test } from "vitest";
import { abortableResponse } from "./abortable-body.js";

// A body whose pending read never settles, as Deno's fetch body sometimes does after an abort.
function stuckBody(first: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(new TextEncoder().encode(first));
        return;
      }
      return new Promise<void>(() => {});
    },
  });
}

describe("abortableResponse", () => {
  test("a read pending when the signal aborts rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const response = abortableResponse(new Response(stuckBody("one")), controller.signal);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("one");
    const pending = reader.read();
    const reason = new Error("stopped by the caller");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  test("passes every byte through and ends when the body ends", async () => {
    const controller = new AbortController();
    const parts = ["a", "bc", "def"];
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = parts.shift();
        if (next === undefined) c.close();
        else c.enqueue(new TextEncoder().encode(next));
      },
    });
    const response = abortableResponse(
      new Response(body, { status: 200, headers: { "x-a": "1" } }),
      controller.signal,
    );
    expect(response.headers.get("x-a")).toBe("1");
    expect(await response.text()).toBe("abcdef");
  });

  test("an already aborted signal ends the body at once", async () => {
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    const response = abortableResponse(new Response(stuckBody("x")), controller.signal);
    await expect(response.text()).rejects.toThrow("gone");
  });

  test("a response without a body or signal is returned as it is", () => {
    const empty = new Response(null, { status: 204 });
    expect(abortableResponse(empty, new AbortController().signal)).toBe(empty);
    const plain = new Response("x");
    expect(abortableResponse(plain, undefined)).toBe(plain);
  });
});
