import type { FastifyInstance } from "fastify";
import type { SecretRow } from "../store/secret-store.js";

/**
 * Every secrets response, errors included, says `Cache-Control: no-store`: no proxy or browser
 * cache keeps what names and describes an owner's credentials.
 */
export function noStore(app: FastifyInstance): void {
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("cache-control", "no-store");
    return payload;
  });
}

/** A secret's record as both APIs show it (the id under each API's own field name). */
export const secretFields = (row: SecretRow) => ({
  name: row.name,
  currentVersion: row.currentVersion,
  metadata: row.metadata,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});
