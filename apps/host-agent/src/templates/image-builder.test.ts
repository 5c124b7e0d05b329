import { describe, expect, it } from "vitest";
import { CommandError } from "../command/run-command.js";
import { classifySkopeoError, ImageBuildError } from "./image-builder.js";

// skopeo 1.9's own fatal messages (bookworm), as seen against a loopback registry.
const fatal = (msg: string) =>
  new CommandError("skopeo", ["copy"], 1, `time="2026-12-05T22:39:50Z" level=fatal msg="${msg}"`);

describe("skopeo's failures become the contract's refusals", () => {
  it.each([
    [
      "initializing source docker://127.0.0.1:5055/nope:1: reading manifest 1 in 127.0.0.1:5055/nope: manifest unknown: manifest unknown",
      "image_not_found",
    ],
    [
      'initializing source docker://127.0.0.1:5999/bb:1: pinging container registry 127.0.0.1:5999: Get \\"http://127.0.0.1:5999/v2/\\": dial tcp 127.0.0.1:5999: connect: connection refused',
      "registry_unreachable",
    ],
    [
      "initializing source docker://r.example/x:1: reading manifest 1 in r.example/x: unauthorized: authentication required",
      "registry_auth_failed",
    ],
    [
      "Invalid source name docker://127.0.0.1:5055/BAD: invalid reference format: repository name must be lowercase",
      "invalid_request",
    ],
  ])("%s → %s", (msg, code) => {
    const err = classifySkopeoError("img", fatal(msg));
    expect(err).toBeInstanceOf(ImageBuildError);
    expect((err as ImageBuildError).code).toBe(code);
    expect(err.message).toContain(msg.split(": ").at(-1)?.replace(/\\"/g, '"') ?? "");
  });

  it("anything else stays what it was (an internal failure)", () => {
    const other = fatal("writing blob: no space left on device");
    expect(classifySkopeoError("img", other)).toBe(other);
  });
});
