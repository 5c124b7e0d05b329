// How a tool's outcome reaches the agent: a JSON text block (what every MCP client shows the
// model) plus the same object as structuredContent. A failure is a tool error (isError) with
// Wrenn's own code and message, so the agent can react to `sandbox_not_found` and friends;
// it never escapes as a crash of the server.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { errorMessage } from "@wrenn/contract";
import { WrennError } from "@wrenn/sdk";

export function ok(value: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(value, null, 2) }],
    structuredContent: value,
  };
}

export function failed(code: string, message: string, extra: Record<string, unknown> = {}) {
  const error = { code, message };
  return {
    isError: true,
    content: [{ type: "text", text: `${code}: ${message}` }],
    structuredContent: { error, ...extra },
  } satisfies CallToolResult;
}

/** Any thrown value as a tool error: the SDK's errors keep the server's code unchanged. */
export function toolError(error: unknown): CallToolResult {
  if (error instanceof WrennError) return failed(error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return failed("internal_error", message || errorMessage("internal_error"));
}

/** Runs a tool body; whatever it throws becomes a tool error. */
export async function guarded(body: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await body();
  } catch (error) {
    return toolError(error);
  }
}
