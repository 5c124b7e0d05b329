import type { FastifyRequest } from "fastify";

/**
 * Whether the browser says the request comes from a page of this very site: the Origin's
 * host:port must be the Host the request was sent to. The scheme is left out so that a TLS
 * proxy in front (which makes the request look like http here) does not break it.
 */
export function originIsSelf(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (!origin || !host) return false;
  try {
    const url = new URL(origin);
    return (
      (url.protocol === "http:" || url.protocol === "https:") && url.host === host.toLowerCase()
    );
  } catch {
    return false;
  }
}

/** Fetch metadata, where the browser sends it: anything but same-origin is refused. */
export function fetchSiteIsForeign(request: FastifyRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  return site !== undefined && site !== "same-origin";
}

/** Whether the page was reached over https (directly, or as the browser's Origin says). */
export function overHttps(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  return (
    request.protocol === "https" || (typeof origin === "string" && origin.startsWith("https://"))
  );
}

/** A request htmx sent for a fragment (not a page load). */
export function isHtmx(request: FastifyRequest): boolean {
  return request.headers["hx-request"] === "true";
}
