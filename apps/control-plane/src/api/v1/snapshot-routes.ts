import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  commonErrors,
  ForkBody,
  ForkResponse,
  ListSnapshotsQuery,
  SandboxIdParams,
  Snapshot,
  SnapshotBody,
  SnapshotIdParams,
  SnapshotPage,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { SnapshotRecord } from "../../store/snapshot-store.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";
import { ownedSandboxView } from "./views.js";

const tags = ["snapshots"];
const security = [{ apiKey: [] }];

function snapshotView(row: SnapshotRecord): Snapshot {
  return {
    id: row.id,
    name: row.name,
    sourceSandboxId: row.sourceSandboxId,
    template: row.template,
    sizeBytes: row.sizeBytes,
    stored: row.storedAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Snapshots of running sandboxes (memory, processes, files) and forks. */
export const snapshotRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sandboxes, snapshots } = deps;

  app.post(
    "/sandboxes/:id/snapshots",
    {
      config: { optionalBody: true },
      schema: {
        tags,
        security,
        summary:
          "Snapshot a running sandbox; it keeps running. Create a sandbox from the snapshot with its id as the template",
        params: SandboxIdParams,
        body: SnapshotBody,
        response: { 201: Snapshot, ...commonErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const id = await sandboxes.resolveId(principal, request.params.id);
      const row = await snapshots.snapshot(principal, id, { name: request.body?.name });
      return reply.status(201).send(snapshotView(row));
    },
  );

  app.post(
    "/sandboxes/:id/fork",
    {
      config: { optionalBody: true },
      schema: {
        tags,
        security,
        summary:
          "Fork a running sandbox: `count` new sandboxes from one snapshot of it, each succeeding or failing on its own",
        params: SandboxIdParams,
        body: ForkBody,
        response: { 201: ForkResponse, ...commonErrors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const id = await sandboxes.resolveId(principal, request.params.id);
      const outcomes = await snapshots.fork(principal, id, {
        count: request.body?.count,
        timeoutSeconds: request.body?.timeoutSeconds,
      });
      return reply.status(201).send({
        forks: outcomes.map((o) =>
          "sandbox" in o
            ? { sandbox: ownedSandboxView(o.sandbox) }
            : { error: { code: o.error.code, message: o.error.message } },
        ),
      });
    },
  );

  app.get(
    "/snapshots",
    {
      schema: {
        tags,
        security,
        summary: "The caller's snapshots, newest first",
        querystring: ListSnapshotsQuery,
        response: { 200: SnapshotPage, ...commonErrors },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await snapshots.list(principalOf(request), {
        sandboxId: q.sandboxId,
        name: q.name,
        limit: q.limit,
        cursor: q.cursor,
      });
      return { snapshots: page.snapshots.map(snapshotView), nextCursor: page.nextCursor ?? null };
    },
  );

  app.get(
    "/snapshots/:id",
    {
      schema: {
        tags,
        security,
        summary: "One snapshot",
        params: SnapshotIdParams,
        response: { 200: Snapshot, ...commonErrors },
      },
    },
    async (request) => snapshotView(await snapshots.get(principalOf(request), request.params.id)),
  );

  app.delete(
    "/snapshots/:id",
    {
      schema: {
        tags,
        security,
        summary: "Delete a snapshot (sandboxes made from it are not affected)",
        params: SnapshotIdParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await snapshots.delete(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
};
