import { expect, test } from "vitest";
import { parseE2bMetadataFilter } from "./metadata-filter.js";

/** What E2B's SDK sends, before the HTTP layer's own (third) encoding, which Fastify undoes. */
function sdkEncode(metadata: Record<string, string>): string {
  const pairs = Object.fromEntries(
    Object.entries(metadata).map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)]),
  );
  return new URLSearchParams(pairs).toString();
}

test("round trips what the SDK encodes", () => {
  const cases: Record<string, string>[] = [
    { owner: "a b&c=d" },
    { "k/e y": "ü%20", plain: "x" },
    { "=": "&", "%": "+" },
  ];
  for (const metadata of cases) {
    expect(parseE2bMetadataFilter(sdkEncode(metadata))).toEqual(metadata);
  }
});

test("refuses what is not key=value", () => {
  expect(() => parseE2bMetadataFilter("novalue")).toThrow(/key=value/);
  expect(() => parseE2bMetadataFilter("%ZZ")).toThrow(/percent/);
  expect(parseE2bMetadataFilter("")).toEqual({});
});
