import { execFile } from "node:child_process";
import { join } from "node:path";
import { Sandbox, WrennError } from "@wrenn/sdk";
import { describe, expect, test } from "vitest";
import { repoRoot } from "../harness/paths.js";

// Where a sandbox's port is reached (E2B's getHost / get_host): through the control plane's
// wildcard domain when it has one, else through the API's own /v1/sandboxes/{id}/ports/{port}.
// The TypeScript, Python and Go SDKs must give the same host for the same settings. Nothing
// is sent anywhere: these are names only.
const cases = [
  { apiUrl: "http://127.0.0.1:3000", domain: "", id: "sb-1234abcd", port: 8080 },
  { apiUrl: "https://API.example.test/wrenn/", domain: "", id: "sb-1234abcd", port: 443 },
  { apiUrl: "http://example.test:80", domain: "", id: "sb-1234abcd", port: 3000 },
  { apiUrl: "http://127.0.0.1:3000", domain: "sbx.example.test", id: "sb-1234abcd", port: 3000 },
  { apiUrl: "https://example.test", domain: "sbx.example.test", id: "sb-00c0ffee", port: 49983 },
  { apiUrl: "http://127.0.0.1:3000", domain: "", id: "sb-1234abcd", port: 0 },
  { apiUrl: "http://127.0.0.1:3000", domain: "sbx.example.test", id: "sb-1234abcd", port: 70000 },
];

function withInput(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string) {
  return new Promise<string>((resolve, reject) => {
    const child = execFile(file, args, { env, cwd }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
    child.stdin?.end(JSON.stringify(cases));
  });
}

describe("port hosts: one answer in every SDK", () => {
  test("getHost / get_host / GetHost agree, with and without a wildcard domain", async () => {
    const ts = cases.map((c) => {
      const sbx = new Sandbox(
        { sandboxId: c.id, envdAccessToken: "token" },
        { apiKey: "k", apiUrl: c.apiUrl, domain: c.domain || undefined },
      );
      try {
        return { host: sbx.getHost(c.port), url: sbx.getUrl(c.port) };
      } catch (e) {
        if (!(e instanceof WrennError)) throw e;
        return { error: e.code };
      }
    });
    // Not vacuous: both ways, and the bounds.
    expect(ts[0]).toEqual({
      host: "127.0.0.1:3000/v1/sandboxes/sb-1234abcd/ports/8080",
      url: "http://127.0.0.1:3000/v1/sandboxes/sb-1234abcd/ports/8080",
    });
    expect(ts[3]).toEqual({
      host: "3000-sb-1234abcd.sbx.example.test",
      url: "http://3000-sb-1234abcd.sbx.example.test",
    });
    expect(ts[5]).toEqual({ error: "invalid_port" });

    // The environment's WRENN_DOMAIN would change every answer: the cases say the domain.
    const { WRENN_DOMAIN: _unused, ...env } = process.env;
    const py = await withInput("python3", [join(repoRoot, "tests/sdk-scenario/port_hosts.py")], {
      ...env,
      PYTHONPATH: join(repoRoot, "sdks/python"),
    });
    expect(JSON.parse(py)).toEqual(ts);
    const go = await withInput(
      "go",
      ["run", "./porthosts"],
      { ...env, GOPROXY: "off", GOFLAGS: "-mod=mod" },
      join(repoRoot, "tests/sdk-scenario/go"),
    );
    expect(JSON.parse(go)).toEqual(ts.map((t) => ("host" in t ? { host: t.host } : t)));
  });
});
