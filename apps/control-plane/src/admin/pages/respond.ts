import type { FastifyReply } from "fastify";
import type { Html } from "../html/html.js";

export function sendHtml(reply: FastifyReply, body: Html, status = 200) {
  return reply.status(status).type("text/html; charset=utf-8").send(body.value);
}
