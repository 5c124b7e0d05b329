import { describe, expect, test } from "vitest";
import { routeOf } from "./proxy-routing.js";

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers });

describe("which requests the proxy takes", () => {
  test.each([
    ["API paths are the API's", req("/v1/sandboxes/sb-1/exec"), null],
    [
      "E2B header, envd port by default",
      req("/health", { "e2b-sandbox-id": "sb-12345678" }),
      { kind: "sandbox", via: "header", sandboxId: "sb-12345678", port: 49983 },
    ],
    [
      "E2B header with a port",
      req("/x", { "e2b-sandbox-id": "abc", "e2b-sandbox-port": "8080" }),
      { kind: "sandbox", via: "header", sandboxId: "abc", port: 8080 },
    ],
    [
      "E2B header with a bad port",
      req("/x", { "e2b-sandbox-id": "abc", "e2b-sandbox-port": "99999" }),
      { kind: "invalid", style: "e2b", status: 400 },
    ],
    [
      "E2B header even on an API path",
      req("/v1/sandboxes", { "e2b-sandbox-id": "abc" }),
      { kind: "sandbox", sandboxId: "abc" },
    ],
    [
      "ports prefix, stripped",
      req("/v1/sandboxes/sb-1/ports/8080/a/b?c=d"),
      { kind: "port", sandboxId: "sb-1", port: 8080, url: "/a/b?c=d" },
    ],
    [
      "ports prefix without a path",
      req("/v1/sandboxes/sb-1/ports/3000"),
      { kind: "port", port: 3000, url: "/" },
    ],
    [
      "ports prefix with only a query",
      req("/v1/sandboxes/sb-1/ports/3000?x=1"),
      { kind: "port", port: 3000, url: "/?x=1" },
    ],
    [
      "ports prefix with port 0",
      req("/v1/sandboxes/sb-1/ports/0/"),
      { kind: "invalid", style: "wrenn", status: 400 },
    ],
    [
      "ports prefix with a name",
      req("/v1/sandboxes/sb-1/ports/http/"),
      { kind: "invalid", style: "wrenn", status: 400 },
    ],
    [
      "signed /files",
      req("/files?path=%2Fa&signature=v1_x"),
      { kind: "signed", signature: "v1_x" },
    ],
    ["unsigned /files is the API's (404)", req("/files?path=%2Fa"), null],
    [
      "/files with envd's token and no sandbox id (e2b 2.7-2.15)",
      req("/files?path=%2Fa&username=user", { "x-access-token": "tok" }),
      { kind: "token", token: "tok" },
    ],
    ["/health with envd's token", req("/health", { "x-access-token": "tok" }), { kind: "token" }],
    ["a token elsewhere is the API's", req("/v2/sandboxes", { "x-access-token": "tok" }), null],
    [
      "a malformed escape in the ports prefix",
      req("/v1/sandboxes/%E0%A4%A/ports/80/"),
      { kind: "invalid", status: 400 },
    ],
    ["/filesystem is not /files", req("/filesx?signature=v1_x"), null],
  ])("%s", (_name, request, expected) => {
    const route = routeOf(request);
    if (expected === null) expect(route).toBeNull();
    else expect(route).toMatchObject(expected);
  });

  test("host names under the domain, with or without a port; other names are the API's", () => {
    const domain = "sbx.example.com";
    expect(routeOf(req("/p?q=1", { host: "8080-sb-1a2b3c4d.sbx.example.com" }), domain)).toEqual({
      kind: "sandbox",
      via: "host",
      sandboxId: "sb-1a2b3c4d",
      port: 8080,
    });
    expect(
      routeOf(req("/", { host: "49983-sb-1a2b3c4d.SBX.example.com:3000" }), "sbx.example.com:3000"),
    ).toMatchObject({ port: 49983 });
    expect(routeOf(req("/v1/sandboxes", { host: "api.sbx.example.com" }), domain)).toBeNull();
    expect(routeOf(req("/", { host: "8080-sb-1.other.com" }), domain)).toBeNull();
    // Without a configured domain, host names mean nothing.
    expect(routeOf(req("/", { host: "8080-sb-1a2b3c4d.sbx.example.com" }))).toBeNull();
    // The host wins over a header.
    expect(
      routeOf(
        req("/", { host: "80-sb-1a2b3c4d.sbx.example.com", "e2b-sandbox-id": "other" }),
        domain,
      ),
    ).toMatchObject({ sandboxId: "sb-1a2b3c4d", port: 80 });
  });
});
