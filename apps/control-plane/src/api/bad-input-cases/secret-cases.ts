import { SECRET_LIMITS } from "@wrenn/contract";
import { type Case, long } from "./case.js";

/** /secrets (E2B's shape) and /v1/secrets: each refused before anything is stored. */
export const secretCases: Case[] = [
  {
    name: "E2B secret name with a space",
    method: "POST",
    path: "/secrets",
    body: { name: "a b", value: "v" },
    status: 400,
  },
  {
    name: "E2B secret name too long",
    method: "POST",
    path: "/secrets",
    body: { name: long(SECRET_LIMITS.nameLength + 1), value: "v" },
    status: 400,
  },
  {
    name: "E2B secret name with the id prefix",
    method: "POST",
    path: "/secrets",
    body: { name: "sec_mine", value: "v" },
    status: 400,
    code: "invalid_request",
  },
  {
    name: "E2B secret without a value",
    method: "POST",
    path: "/secrets",
    body: { name: "a" },
    status: 400,
  },
  {
    name: "E2B secret value with a newline",
    method: "POST",
    path: "/secrets",
    body: { name: "a", value: "line\nX-Injected: 1" },
    status: 400,
  },
  {
    name: "E2B secret value too long",
    method: "POST",
    path: "/secrets",
    body: { name: "a", value: long(SECRET_LIMITS.valueBytes + 1) },
    status: 400,
  },
  {
    name: "E2B secret metadata too large in all",
    method: "POST",
    path: "/secrets",
    body: {
      name: "a",
      value: "v",
      metadata: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, long(1000)])),
    },
    status: 400,
  },
  {
    name: "E2B secret update of an unknown secret",
    method: "POST",
    path: "/secrets/nobody-has-this",
    body: { value: "v" },
    status: 404,
    code: "secret_not_found",
  },
  {
    name: "E2B secret list with a forged token",
    method: "GET",
    path: "/secrets?nextToken=forged",
    status: 400,
  },
  {
    name: "E2B secret delete of an unknown id",
    method: "DELETE",
    path: "/secrets/sec_0000000000000000",
    status: 404,
  },
  {
    name: "v1 secret metadata value not a string",
    method: "POST",
    path: "/v1/secrets",
    body: { name: "a", value: "v", metadata: { k: 1 } },
    status: 400,
  },
  {
    name: "v1 secret with an unknown field",
    method: "POST",
    path: "/v1/secrets",
    body: { name: "a", value: "v", ttl: 5 },
    status: 400,
  },
  {
    name: "v1 secret body over 512 KiB",
    method: "POST",
    path: "/v1/secrets",
    body: { name: "a", value: "v", metadata: { k: long(SECRET_LIMITS.bodyBytes) } },
    status: 413,
  },
];
