// One table of bad requests, split by topic; bad-input.test.ts runs them all against one stack.

export interface Case {
  name: string;
  method: string;
  path: string;
  /** "alice" (default), "bob" (another owner), "none", or a literal header value. */
  key?: string;
  body?: unknown;
  /** A raw string body is sent as is. */
  raw?: string;
  contentType?: string;
  status: number;
  code?: string;
}

export const long = (n: number, c = "a") => c.repeat(n);
export const manyEntries = (n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
