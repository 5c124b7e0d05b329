import {
  ConnectionError,
  NotFoundError,
  PermissionDeniedError,
  SandboxNotFoundError,
  UnexpectedResponseError,
} from "@wrenn/sdk";
import { describe, expect, test } from "vitest";
import { EXIT } from "../exit-codes.js";
import { toCliError } from "./error-exit.js";

describe("toCliError on mount refusals", () => {
  // `wrenn run` copies the directory in only when the key may not mount at all; a directory
  // outside the agent's mount roots is not something a copy should paper over silently.
  test("a key that may not mount and a directory that may not be mounted say different things", () => {
    const role = toCliError(
      new PermissionDeniedError("mounts_not_allowed", "no mounts", { status: 403 }),
    );
    const root = toCliError(
      new PermissionDeniedError("mount_not_allowed", "outside", { status: 403 }),
    );
    expect(role.exitCode).toBe(EXIT.auth);
    expect(root.exitCode).toBe(EXIT.auth);
    expect(role.message).toContain("admin API key");
    expect(root.message).toContain("WRENN_MOUNT_ROOTS");
    expect(root.message).not.toContain("admin API key");
  });
});

describe("toCliError on the SDK's errors", () => {
  test("the server's contract code is kept on the CLI's error", () => {
    const e = toCliError(
      new SandboxNotFoundError("sandbox_not_found", "sandbox sb-1 not found", { status: 404 }),
    );
    expect(e).toMatchObject({
      exitCode: EXIT.notFound,
      code: "sandbox_not_found",
      message: "sandbox sb-1 not found",
    });
    expect(toCliError(new PermissionDeniedError("forbidden", "admins only")).code).toBe(
      "forbidden",
    );
  });

  test("an unreachable API is exit 5 with the SDK's message, which says what to check", () => {
    const e = toCliError(new ConnectionError("unreachable", "cannot reach it; wrenn up"), {
      apiUrl: "http://127.0.0.1:9",
      urlSource: "WRENN_API_URL",
    });
    expect(e).toMatchObject({ exitCode: EXIT.unreachable, message: "cannot reach it; wrenn up" });
  });

  test("an answer the SDK could not read still exits by its status", () => {
    expect(toCliError(new UnexpectedResponseError("http_404", "?", { status: 404 })).exitCode).toBe(
      EXIT.notFound,
    );
    expect(toCliError(new NotFoundError("template_not_found", "no")).exitCode).toBe(EXIT.notFound);
  });

  test("anything else is exit 1 with its own message", () => {
    expect(toCliError(new Error("boom"))).toMatchObject({ exitCode: EXIT.error, message: "boom" });
  });
});
