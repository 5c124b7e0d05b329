import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ConfigError, loadConfig, parseListen } from "./config.js";

test("listen addresses", () => {
  expect(parseListen("127.0.0.1:3000")).toEqual({ host: "127.0.0.1", port: 3000 });
  expect(parseListen("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
  expect(parseListen("[::1]:3000")).toEqual({ host: "::1", port: 3000 });
  expect(parseListen("localhost:0")).toEqual({ host: "localhost", port: 0 });
  expect(parseListen("3000")).toEqual({ host: "127.0.0.1", port: 3000 });
  for (const bad of ["", "host", "1.2.3.4:", "1.2.3.4:99999", "a b:1"]) {
    expect(() => parseListen(bad), bad).toThrow(ConfigError);
  }
});

test("defaults", () => {
  const config = loadConfig({}, "/srv/wrenn");
  expect(config).toMatchObject({
    host: "127.0.0.1",
    port: 3000,
    dataDir: "/srv/wrenn/.wrenn",
    agentUrl: "http://127.0.0.1:7070",
    backgroundLoops: true,
  });
  expect(config.databaseUrl).toBeUndefined();
  expect(config.apiKey).toBeUndefined();
  expect(config.agentToken).toBeUndefined();
});

test("every documented variable is read", () => {
  const config = loadConfig(
    {
      WRENN_LISTEN: "0.0.0.0:8080",
      WRENN_DATA_DIR: "data",
      DATABASE_URL: "postgres://u@db/wrenn",
      WRENN_API_KEY: "wrn_x",
      WRENN_DOMAIN: "sb.example.com",
      WRENN_AGENT_URL: "http://10.0.0.2:7070",
      WRENN_AGENT_TOKEN: "t",
    },
    "/srv",
  );
  expect(config).toMatchObject({
    host: "0.0.0.0",
    port: 8080,
    dataDir: "/srv/data",
    databaseUrl: "postgres://u@db/wrenn",
    apiKey: "wrn_x",
    domain: "sb.example.com",
    agentUrl: "http://10.0.0.2:7070",
    agentToken: "t",
  });
});

test("WRENN_DEFAULT_INTERNET: Wrenn's default is none; true matches E2B", () => {
  expect(loadConfig({}).defaultInternet).toBe(false);
  expect(loadConfig({ WRENN_DEFAULT_INTERNET: "true" }).defaultInternet).toBe(true);
  expect(loadConfig({ WRENN_DEFAULT_INTERNET: "0" }).defaultInternet).toBe(false);
  expect(() => loadConfig({ WRENN_DEFAULT_INTERNET: "sometimes" })).toThrow(
    /WRENN_DEFAULT_INTERNET must be true or false/,
  );
});

test("WRENN_SECRETS: the secrets API is on unless the operator turns it off", () => {
  expect(loadConfig({}).secrets).toBe(true);
  expect(loadConfig({ WRENN_SECRETS: "off" }).secrets).toBe(false);
  expect(loadConfig({ WRENN_SECRETS: "on" }).secrets).toBe(true);
  expect(() => loadConfig({ WRENN_SECRETS: "maybe" })).toThrow(/WRENN_SECRETS must be/);
});

test("bad values are named", () => {
  expect(() => loadConfig({ WRENN_AGENT_URL: "ftp://x" })).toThrow(/WRENN_AGENT_URL/);
  expect(() => loadConfig({ DATABASE_URL: "mysql://x" })).toThrow(/DATABASE_URL/);
  expect(() => loadConfig({ WRENN_LIFECYCLE_INTERVAL_MS: "-1" })).toThrow(
    /WRENN_LIFECYCLE_INTERVAL_MS/,
  );
});

test("WRENN_AGENT_CA is read at start: a missing file or one without a certificate stops it", () => {
  const dir = mkdtempSync(join(tmpdir(), "wrenn-agent-ca-"));
  try {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    writeFileSync(join(dir, "ca.pem"), pem);
    writeFileSync(join(dir, "key.pem"), "-----BEGIN PRIVATE KEY-----\n");
    expect(loadConfig({ WRENN_AGENT_CA: "ca.pem" }, dir).agentCa).toBe(pem);
    expect(loadConfig({}, dir).agentCa).toBeUndefined();
    expect(() => loadConfig({ WRENN_AGENT_CA: "nope.pem" }, dir)).toThrow(
      /WRENN_AGENT_CA: cannot read nope.pem/,
    );
    expect(() => loadConfig({ WRENN_AGENT_CA: "key.pem" }, dir)).toThrow(
      /WRENN_AGENT_CA: key.pem holds no PEM certificate/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WRENN_TLS_CERT and WRENN_TLS_KEY: both or neither, read at start, and a matching pair", () => {
  const dir = mkdtempSync(join(tmpdir(), "wrenn-cp-tls-"));
  const pair = (name: string) =>
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
        ...["-days", "1", "-subj", `/CN=${name}`, "-keyout", `${name}-key.pem`],
        ...["-out", `${name}.pem`],
      ],
      { cwd: dir, stdio: "ignore" },
    );
  try {
    pair("a");
    pair("b");
    const tls = loadConfig({ WRENN_TLS_CERT: "a.pem", WRENN_TLS_KEY: "a-key.pem" }, dir).tls;
    expect(tls?.cert).toContain("BEGIN CERTIFICATE");
    expect(tls?.key).toContain("PRIVATE KEY");
    expect(loadConfig({}, dir).tls).toBeUndefined();
    expect(() => loadConfig({ WRENN_TLS_CERT: "a.pem" }, dir)).toThrow(
      /both WRENN_TLS_CERT and WRENN_TLS_KEY, or neither/,
    );
    expect(() =>
      loadConfig({ WRENN_TLS_CERT: "nope.pem", WRENN_TLS_KEY: "a-key.pem" }, dir),
    ).toThrow(/WRENN_TLS_CERT: cannot read nope.pem/);
    expect(() => loadConfig({ WRENN_TLS_CERT: "a.pem", WRENN_TLS_KEY: "b-key.pem" }, dir)).toThrow(
      /do not make a certificate and its key/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
