import { type ErrorCode, errorMessage, httpStatusOf } from "@wrenn/contract";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ServiceError } from "../service/errors.js";
import { validationMessage } from "./validation-message.js";

interface Problem {
  status: number;
  code: ErrorCode;
  message: string;
  retryAfterSeconds?: number;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_request",
};

function toProblem(error: unknown): Problem {
  if (error instanceof ServiceError) {
    return {
      status: httpStatusOf(error.code),
      code: error.code,
      message: error.message,
      retryAfterSeconds: error.retryAfterSeconds,
    };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    return {
      status: 400,
      code: "invalid_request",
      message: validationMessage(fastifyError.validation, fastifyError.validationContext),
    };
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return {
      status,
      code: FASTIFY_CODES[fastifyError.code ?? ""] ?? "invalid_request",
      message: fastifyError.message ?? "invalid request",
    };
  }
  return { status: 500, code: "internal_error", message: errorMessage("internal_error") };
}

export function usesE2bErrors(request: FastifyRequest): boolean {
  const style = request.routeOptions.config?.errorStyle;
  if (style) return style === "e2b";
  // Unmatched routes: answer in the shape the caller's API family expects.
  return /^\/(sandboxes|v2)(\/|$|\?)/.test(request.url);
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown) {
  const problem = toProblem(error);
  // 501 is a feature this server lacks, not a failure of it.
  if (problem.status >= 500 && problem.status !== 501)
    request.log.error({ err: error }, "request failed");
  if (problem.retryAfterSeconds !== undefined)
    reply.header("retry-after", String(problem.retryAfterSeconds));
  reply.status(problem.status);
  if (usesE2bErrors(request)) {
    return reply.send({ code: problem.status, message: problem.message, error_code: problem.code });
  }
  return reply.send({ error: { code: problem.code, message: problem.message } });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(
    request,
    reply,
    new ServiceError("route_not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
  );
}
