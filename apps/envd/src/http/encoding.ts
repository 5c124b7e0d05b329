// Content negotiation for /files, as E2B's envd does it: gzip is the only coding besides
// identity; identity is acceptable unless refused with q=0 (directly or via "*;q=0").

interface Coding {
  name: string;
  q: number;
}

function parseCodings(header: string): Coding[] {
  return header
    .split(",")
    .map((part) => {
      const [rawName = "", ...params] = part.split(";");
      let q = 1;
      for (const param of params) {
        const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(param);
        if (m) q = Number(m[1]);
      }
      return { name: rawName.trim().toLowerCase(), q: Number.isFinite(q) ? q : 1 };
    })
    .filter((c) => c.name !== "");
}

/** "gzip", "identity", or undefined when nothing acceptable is on offer (406). */
export function negotiateEncoding(header: string | undefined): "gzip" | "identity" | undefined {
  if (!header) return "identity";
  const codings = parseCodings(header);
  const identityQ = codings.find((c) => c.name === "identity")?.q;
  const starQ = codings.find((c) => c.name === "*")?.q;
  const identityRefused = identityQ === 0 || (identityQ === undefined && starQ === 0);
  for (const c of [...codings].sort((a, b) => b.q - a.q)) {
    if (c.q === 0) continue;
    if (c.name === "gzip" || c.name === "x-gzip") return "gzip";
    if (c.name === "identity") return "identity";
    if (c.name === "*") return identityRefused ? "gzip" : "identity";
  }
  return identityRefused ? undefined : "identity";
}

/** The request body's coding, or undefined if unsupported. */
export function requestEncoding(header: string | undefined): "gzip" | "identity" | undefined {
  if (!header) return "identity";
  const name = header.split(";")[0]?.trim().toLowerCase();
  if (name === "" || name === "identity") return "identity";
  if (name === "gzip" || name === "x-gzip") return "gzip";
  return undefined;
}
