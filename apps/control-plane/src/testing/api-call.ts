// One HTTP call to a control plane's API, as every test harness makes it.

/** The admin key every test control plane is started with. */
export const TEST_ADMIN_KEY = "wrn_testadminkey00000000000000000000";

export interface ApiCallOptions {
  /** The x-api-key; the test admin's by default, none with null. */
  key?: string | null;
  /** JSON-encoded unless already a string. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiCallResult {
  status: number;
  headers: Headers;
  /** The JSON body parsed, else its text. */
  body: unknown;
  text: string;
}

/** fetch against the control plane at `url` (a base URL, no trailing slash). */
export async function callApi(
  url: string,
  method: string,
  path: string,
  o: ApiCallOptions = {},
): Promise<ApiCallResult> {
  const headers: Record<string, string> = { ...o.headers };
  const key = o.key === undefined ? TEST_ADMIN_KEY : o.key;
  if (key !== null) headers["x-api-key"] = key;
  let body: string | undefined;
  if (o.body !== undefined) {
    headers["content-type"] ??= "application/json";
    body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  }
  const response = await fetch(`${url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed, text };
}
