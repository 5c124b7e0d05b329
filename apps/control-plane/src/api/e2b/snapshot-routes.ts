// E2B's snapshot and fork routes: sandbox.createSnapshot(), Sandbox.listSnapshots(),
// Sandbox.deleteSnapshot() (DELETE /templates/{id}, in template-routes.ts) and sandbox.fork().
// Sandbox.create(snapshotId) is the ordinary create: the service reads a snapshot id there.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { httpStatusOf } from "@wrenn/contract";
import { Type } from "typebox";
import type { SnapshotRecord } from "../../store/snapshot-store.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { created } from "./sandbox-views.js";
import {
  e2bErrors,
  ForkBody,
  ForkResult,
  SandboxIdParams,
  SnapshotBody,
  SnapshotInfo,
  SnapshotListQuery,
} from "./schemas.js";

const tags = ["e2b"];
const security = [{ apiKey: [] }];
const config = { errorStyle: "e2b" as const };
/** E2B's fork timeout when none is sent. */
const E2B_FORK_TIMEOUT_SECONDS = 15;

/** A snapshot as E2B's SDK reads it: the id Sandbox.create takes, and its name if it has one. */
export function snapshotInfo(row: SnapshotRecord) {
  return { snapshotID: row.id, names: row.name ? [row.name] : [] };
}

export const e2bSnapshotRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  for (const prefix of ["", "/v2"]) {
    app.post(
      `${prefix}/sandboxes/:sandboxID/snapshots`,
      {
        config: { ...config, optionalBody: true },
        schema: {
          tags,
          security,
          summary: "E2B: snapshot a running sandbox (memory, processes, files); it keeps running",
          params: SandboxIdParams,
          body: SnapshotBody,
          response: { 201: SnapshotInfo, ...e2bErrors },
        },
      },
      async (request, reply) => {
        const row = await deps.snapshots.snapshot(principalOf(request), request.params.sandboxID, {
          name: request.body?.name,
        });
        return reply.status(201).send(snapshotInfo(row));
      },
    );

    app.post(
      `${prefix}/sandboxes/:sandboxID/fork`,
      {
        config: { ...config, optionalBody: true },
        schema: {
          tags,
          security,
          summary:
            "E2B: fork a running sandbox: one snapshot, `count` sandboxes restored from it; the source keeps running",
          params: SandboxIdParams,
          body: ForkBody,
          response: { 201: Type.Array(ForkResult), ...e2bErrors },
        },
      },
      async (request, reply) => {
        const outcomes = await deps.snapshots.fork(principalOf(request), request.params.sandboxID, {
          count: request.body?.count,
          timeoutSeconds: request.body?.timeout ?? E2B_FORK_TIMEOUT_SECONDS,
        });
        return reply.status(201).send(
          outcomes.map((o) =>
            "sandbox" in o
              ? { sandbox: created(o.sandbox, deps.domain?.name) }
              : {
                  error: {
                    code: httpStatusOf(o.error.code),
                    message: o.error.message,
                    error_code: o.error.code,
                  },
                },
          ),
        );
      },
    );
  }

  app.get(
    "/snapshots",
    {
      config,
      schema: {
        tags,
        security,
        summary: "E2B: the caller's snapshots, newest first; X-Next-Token gives the next page",
        querystring: SnapshotListQuery,
        response: { 200: Type.Array(SnapshotInfo), ...e2bErrors },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await deps.snapshots.list(principalOf(request), {
        sandboxId: q.sandboxID,
        name: q.name,
        limit: q.limit,
        cursor: q.nextToken,
      });
      if (page.nextCursor) reply.header("x-next-token", page.nextCursor);
      return page.snapshots.map(snapshotInfo);
    },
  );
};
