import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, test } from "vitest";
import { errorFromBody, errorFromEnvd } from "./error-mapping.js";
import {
  AuthenticationError,
  ConnectionError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  PermissionDeniedError,
  RateLimitError,
  SandboxNotFoundError,
  SandboxNotRunningError,
  ServerError,
  UnexpectedResponseError,
} from "./errors.js";

describe("errorFromBody: every body shape the server sends becomes a typed error", () => {
  test("Wrenn's /v1 shape keeps the server's code and message", () => {
    const e = errorFromBody(
      404,
      '{"error":{"code":"sandbox_not_found","message":"sandbox sb-1 not found"}}',
    );
    expect(e).toBeInstanceOf(SandboxNotFoundError);
    expect(e).toMatchObject({
      code: "sandbox_not_found",
      message: "sandbox sb-1 not found",
      status: 404,
    });
    expect(
      errorFromBody(401, '{"error":{"code":"invalid_api_key","message":"no"}}'),
    ).toBeInstanceOf(AuthenticationError);
    expect(
      errorFromBody(409, '{"error":{"code":"sandbox_not_running","message":"paused"}}'),
    ).toBeInstanceOf(SandboxNotRunningError);
    expect(
      errorFromBody(400, '{"error":{"code":"invalid_request","message":"bad"}}'),
    ).toBeInstanceOf(InvalidArgumentError);
  });

  test("the code decides the class (from the contract's registry); the status only for unknown codes", () => {
    // A proxy in between may rewrite the status; the code still says what happened.
    const mount = errorFromBody(400, '{"error":{"code":"mount_not_allowed","message":"no"}}');
    expect(mount).toBeInstanceOf(PermissionDeniedError);
    expect(mount).toMatchObject({ status: 400, retryable: false });
    const busy = errorFromBody(502, '{"error":{"code":"no_capacity","message":"full"}}');
    expect(busy).toMatchObject({ retryable: true });
    expect(
      errorFromBody(403, '{"error":{"code":"a_code_from_the_future","message":"?"}}'),
    ).toBeInstanceOf(PermissionDeniedError);
  });

  test("429 carries Retry-After", () => {
    const e = errorFromBody(429, '{"error":{"code":"rate_limited","message":"slow down"}}', "7");
    expect(e).toBeInstanceOf(RateLimitError);
    expect((e as RateLimitError).retryAfterSeconds).toBe(7);
  });

  test("envd's and the proxy's E2B shape ({code:int, message})", () => {
    expect(errorFromBody(404, '{"code":404,"message":"no such file"}')).toBeInstanceOf(
      FileNotFoundError,
    );
    expect(errorFromBody(507, '{"code":507,"message":"disk full"}')).toBeInstanceOf(
      NotEnoughSpaceError,
    );
    const gone = errorFromBody(
      502,
      '{"message":"The sandbox was not found","sandboxId":"x","code":502}',
    );
    expect(gone).toBeInstanceOf(SandboxNotRunningError);
  });

  test("bodies that are not ours say so", () => {
    expect(errorFromBody(404, "<html>nginx</html>")).toBeInstanceOf(UnexpectedResponseError);
    expect(errorFromBody(503, "")).toBeInstanceOf(ServerError);
  });
});

describe("errorFromEnvd", () => {
  test("Connect codes map to the same classes; network failures to ConnectionError", () => {
    expect(errorFromEnvd(new ConnectError("missing", Code.NotFound), "file")).toBeInstanceOf(
      FileNotFoundError,
    );
    const net = errorFromEnvd(
      new ConnectError("x", Code.Unknown, undefined, undefined, new TypeError("fetch failed")),
    );
    expect(net).toBeInstanceOf(ConnectionError);
  });
});
