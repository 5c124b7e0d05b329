import { createHash, timingSafeEqual } from "node:crypto";

/** What a signed /files URL says about itself (E2B.md §3e). */
export interface SignedFilesRequest {
  path: string;
  operation: "read" | "write";
  username: string;
  expiration?: string;
  signature: string;
}

export function signedRequestOf(
  method: string | undefined,
  url: string,
): SignedFilesRequest | null {
  const query = new URLSearchParams(url.slice(url.indexOf("?") + 1));
  const signature = query.get("signature");
  if (!signature) return null;
  const operation =
    method === "GET" || method === "HEAD" ? "read" : method === "POST" ? "write" : null;
  if (!operation) return null;
  return {
    path: query.get("path") ?? "",
    operation,
    username: query.get("username") ?? "",
    expiration: query.get("signature_expiration") ?? undefined,
    signature,
  };
}

/** The E2B SDK's signature: "v1_" + base64(sha256("<path>:<op>:<user>:<token>[:<exp>]")), no "=". */
export function signFiles(request: Omit<SignedFilesRequest, "signature">, token: string): string {
  const parts = [request.path, request.operation, request.username, token];
  if (request.expiration !== undefined) parts.push(request.expiration);
  return `v1_${createHash("sha256").update(parts.join(":")).digest("base64").replace(/=+$/, "")}`;
}

/** Whether the request was signed with this token (constant time in the signature). */
export function signedWith(request: SignedFilesRequest, token: string): boolean {
  const expected = Buffer.from(signFiles(request, token));
  const given = Buffer.from(request.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
