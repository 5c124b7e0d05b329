import { expect, test } from "vitest";
import { decodeCursor, encodeCursor } from "./list-cursor.js";

test("a cursor round trips its position", () => {
  const position = { startedAt: new Date("2026-01-02T03:04:05.678Z"), id: "sb-0123abcd" };
  expect(decodeCursor(encodeCursor(position))).toEqual(position);
});

test.each([
  "",
  "garbage",
  Buffer.from("{}").toString("base64url"),
  Buffer.from('[1.5,"sb-0123abcd"]').toString("base64url"),
  Buffer.from('[1,"sb-x"]').toString("base64url"),
  Buffer.from('[1e300,"sb-0123abcd"]').toString("base64url"),
])("refuses %j", (cursor) => {
  expect(() => decodeCursor(cursor)).toThrow(/pagination token/);
});
