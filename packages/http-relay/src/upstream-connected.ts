import type { ClientRequest } from "node:http";

/**
 * Calls `then` once the proxied request's socket to the next hop is connected: at once for a
 * kept-alive socket, on 'connect' for a new one. The socket may be assigned before the caller
 * sees the request (a pooled one is), so an already assigned socket is checked first.
 */
export function onUpstreamConnected(request: ClientRequest, then: () => void): void {
  const check = (socket: NonNullable<ClientRequest["socket"]>) => {
    if (socket.connecting) socket.once("connect", then);
    else then();
  };
  if (request.socket) check(request.socket);
  else request.once("socket", check);
}
