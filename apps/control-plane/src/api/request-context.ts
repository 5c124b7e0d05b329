import type { FastifyRequest } from "fastify";
import type { Principal } from "../service/sandbox-types.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Error bodies in E2B's shape ({code:int,message}) instead of Wrenn's. */
    errorStyle?: "wrenn" | "e2b";
    /** Refused with 403 before the body is even parsed for a key that is not admin. */
    adminOnly?: boolean;
    /** A POST whose JSON body may be left out entirely. */
    optionalBody?: boolean;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error("route reached without authentication");
  return request.principal;
}
