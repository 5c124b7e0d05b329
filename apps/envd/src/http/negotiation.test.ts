import { describe, expect, test } from "vitest";
import { negotiateEncoding, requestEncoding } from "./encoding.js";
import { parseQuery, QueryError } from "./query.js";

describe("Accept-Encoding", () => {
  test.each([
    [undefined, "identity"],
    ["gzip", "gzip"],
    ["gzip;q=0.5, identity", "identity"],
    ["br", "identity"],
    ["br, identity;q=0", undefined],
    ["*;q=0", undefined],
    ["*;q=0, gzip", "gzip"],
    ["*", "identity"],
    ["identity;q=0, *", "gzip"],
  ])("%s → %s", (header, expected) => {
    expect(negotiateEncoding(header)).toBe(expected);
  });

  test("Content-Encoding", () => {
    expect(requestEncoding(undefined)).toBe("identity");
    expect(requestEncoding("GZIP")).toBe("gzip");
    expect(requestEncoding("br")).toBeUndefined();
  });
});

describe("query parsing", () => {
  test("decodes percent-encoding and '+', keeps the first value", () => {
    const q = parseQuery("/files?path=%2Fa+b%2Fc%C3%A9&path=second&username=");
    expect(q.get("path")).toBe("/a b/cé");
    expect(q.get("username")).toBe("");
  });

  test.each(["/f?path=%FF", "/f?path=%C3", "/f?path=%zz", "/f?path=%4"])("rejects %s", (url) => {
    expect(() => parseQuery(url)).toThrow(QueryError);
  });
});
