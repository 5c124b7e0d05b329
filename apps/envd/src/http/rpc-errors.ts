import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";

/**
 * Connect's Node adapter answers a request it cannot take as an RPC with a bare status and no
 * body: 404 (no such procedure), 405 (not POST), 415 (a content type it does not speak, a JSON
 * charset other than UTF-8), 505. A client (or a proxy in front of envd) then sees nothing to
 * tell it why. This gives those answers envd's JSON error body; every other answer (Connect
 * errors already have their own bodies) passes untouched.
 */
export function describeBareRpcErrors(req: IncomingMessage, res: ServerResponse): void {
  const writeHead = res.writeHead;
  const end = res.end;
  let body: string | undefined;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const message = bareMessage(status, req);
    const given = rest.find((arg) => typeof arg === "object" && arg !== null) as
      | OutgoingHttpHeaders
      | undefined;
    const typed =
      res.hasHeader("content-type") ||
      Object.keys(given ?? {}).some((name) => name.toLowerCase() === "content-type");
    if (message === undefined || typed) return writeHead.call(this, status, ...(rest as []));
    body = JSON.stringify({ code: status, message });
    return writeHead.call(this, status, {
      ...given,
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
  } as typeof res.writeHead;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (body !== undefined && (args.length === 0 || typeof args[0] === "function")) {
      return end.call(this, body, "utf8", args[0] as (() => void) | undefined);
    }
    return end.apply(this, args as Parameters<typeof end>);
  } as typeof res.end;
}

function bareMessage(status: number, req: IncomingMessage): string | undefined {
  switch (status) {
    case 404:
      return `no such procedure: ${req.method} ${(req.url ?? "").split("?")[0]?.slice(0, 200)}`;
    case 405:
      return `method ${req.method} not allowed: RPCs are POST`;
    case 415:
      return `unsupported content type ${JSON.stringify(String(req.headers["content-type"] ?? "(none)").slice(0, 100))}: envd speaks Connect (application/json, application/proto, application/connect+json, application/connect+proto), gRPC and gRPC-web; JSON must be UTF-8`;
    case 505:
      return "HTTP version not supported";
    default:
      return undefined;
  }
}
