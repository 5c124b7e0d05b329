import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";

/** A JSON call to a control plane, with the admin key unless another (or none) is given. */
export function apiCaller(baseUrl: () => string) {
  return async (method: string, path: string, o: { key?: string | null; body?: unknown } = {}) => {
    const r = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { "x-api-key": o.key ?? TEST_ADMIN_KEY, "content-type": "application/json" },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await r.text();
    return {
      status: r.status,
      headers: r.headers,
      body: text ? JSON.parse(text) : undefined,
      text,
    };
  };
}
