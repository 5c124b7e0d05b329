// Query strings decoded strictly: a parameter that is not valid percent-encoded UTF-8 is an
// error, not a path full of U+FFFD that would name some other file.
export class QueryError extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeComponent(text: string): string {
  const bytes: number[] = [];
  const plain = text.replace(/\+/g, " ");
  for (let i = 0; i < plain.length; i++) {
    const ch = plain[i] as string;
    if (ch === "%") {
      const hex = plain.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex))
        throw new QueryError("malformed percent-encoding in query");
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(ch, "utf8"));
    }
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    throw new QueryError("query parameter is not valid UTF-8");
  }
}

/** First value of each parameter (as Go's url.Values.Get reads it). */
export function parseQuery(rawUrl: string): Map<string, string> {
  const q = rawUrl.indexOf("?");
  const params = new Map<string, string>();
  if (q < 0) return params;
  for (const pair of rawUrl.slice(q + 1).split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq < 0 ? "" : pair.slice(eq + 1));
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

export function pathnameOf(rawUrl: string): string {
  const q = rawUrl.indexOf("?");
  return q < 0 ? rawUrl : rawUrl.slice(0, q);
}
