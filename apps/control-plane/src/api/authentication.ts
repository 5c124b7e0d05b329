import type { FastifyReply, FastifyRequest } from "fastify";
import type { ApiKeyService } from "../service/api-key-service.js";
import { ServiceError } from "../service/errors.js";

/**
 * onRequest hook: runs before the body is read, so an unauthenticated request is refused
 * without parsing anything it sent.
 */
export function authenticate(keys: ApiKeyService) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const header = request.headers["x-api-key"];
    if (Array.isArray(header)) {
      throw new ServiceError("invalid_api_key", "send exactly one X-API-Key header");
    }
    request.principal = await keys.authenticate(header);
    if (request.routeOptions.config?.adminOnly) keys.requireAdmin(request.principal);
  };
}
