import { invalidRequest } from "../../service/errors.js";

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidRequest("metadata filter is not valid percent-encoding");
  }
}

/**
 * E2B's SDK encodes the list filter three times: each key and value with encodeURIComponent,
 * the pairs as a query string, and that string again as the `metadata` parameter. Fastify has
 * undone the last layer; this undoes the other two the way E2B's own server does (decode the
 * whole string, split on & and =, decode each part).
 */
export function parseE2bMetadataFilter(param: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pairs = decode(param)
    .split("&")
    .filter((pair) => pair.length > 0);
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0)
      throw invalidRequest(
        `metadata filter entry ${JSON.stringify(pair.slice(0, 60))} is not key=value`,
      );
    out[decode(pair.slice(0, at))] = decode(pair.slice(at + 1));
  }
  return out;
}
