import { describe, expect, it } from "vitest";
import { ContractError } from "../errors/error-codes.js";
import {
  checkImageRef,
  checkTemplateBuildName,
  checkTemplateCacheScope,
  imageRegistry,
  imageRepository,
} from "./templates.js";

describe("template build names and image references", () => {
  it("NAME and NAME:TAG (tag default latest)", () => {
    expect(checkTemplateBuildName("py")).toEqual({ name: "py", tag: "latest" });
    expect(checkTemplateBuildName("my_app-2:v1.0")).toEqual({ name: "my_app-2", tag: "v1.0" });
    for (const bad of ["", "Py", "a b", "a:b:c", "-x", "a/b", `${"a".repeat(64)}`, 7]) {
      expect(() => checkTemplateBuildName(bad), String(bad)).toThrow(ContractError);
    }
  });
  it("image references skopeo takes, and nothing that reads as an option or a transport", () => {
    for (const ok of [
      "alpine",
      "docker.io/library/python:3.12-slim",
      "127.0.0.1:5000/a/b@sha256:0f",
    ]) {
      expect(checkImageRef(ok)).toBe(ok);
    }
    for (const bad of [
      "--src-creds=a:b",
      "docker://x",
      "oci:/etc:x",
      "a b",
      "../x",
      "",
      "x".repeat(600),
    ]) {
      expect(() => checkImageRef(bad), bad).toThrow(ContractError);
    }
  });
  it("the registry of a reference, as Docker resolves it", () => {
    expect(imageRegistry("alpine:3")).toBe("docker.io");
    expect(imageRegistry("library/alpine")).toBe("docker.io");
    expect(imageRegistry("127.0.0.1:5000/x:1")).toBe("127.0.0.1:5000");
    expect(imageRegistry("localhost/x")).toBe("localhost");
    expect(imageRegistry("ghcr.io/o/r")).toBe("ghcr.io");
  });
  it("the repository of a reference, without tag or digest", () => {
    expect(imageRepository("alpine:3")).toBe("docker.io/library/alpine");
    expect(imageRepository("docker.io/library/alpine@sha256:0f")).toBe("docker.io/library/alpine");
    expect(imageRepository("127.0.0.1:5000/a/b:1")).toBe("127.0.0.1:5000/a/b");
    expect(imageRepository("localhost/x")).toBe("localhost/x");
    expect(imageRepository("ghcr.io/o/r:2@sha256:0f")).toBe("ghcr.io/o/r");
  });
  it("a cache scope is empty (no caching) or bounded lower-case hex", () => {
    expect(checkTemplateCacheScope("")).toBe("");
    expect(checkTemplateCacheScope("ab".repeat(32))).toBe("ab".repeat(32));
    for (const bad of ["owner-1", "AB", "../x", "a".repeat(129), 7, undefined]) {
      expect(() => checkTemplateCacheScope(bad), String(bad)).toThrow(ContractError);
    }
  });
});
