import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreatedWorkspace,
  CreateWorkspaceBody,
  commonErrors,
  MoveWorkspaceBody,
  RestoreWorkspaceBody,
  Workspace,
  WorkspaceClientConfig,
  WorkspaceList,
  WorkspaceName,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { WorkspaceView } from "../../workspaces/workspace-service.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

const tags = ["workspaces"];
const security = [{ apiKey: [] }];
const NameParams = Type.Object({ name: WorkspaceName });

const toJson = (w: WorkspaceView) => ({ ...w, createdAt: w.createdAt.toISOString() });

/**
 * /v1/workspaces: the same operations as hostd.v1.HostService, by name. A workspace is a
 * persistent sandbox with no end time; suspend pauses it, resume resumes it.
 */
export const workspaceRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { workspaces } = deps;

  app.post(
    "/workspaces",
    {
      schema: {
        tags,
        security,
        summary:
          "Create a workspace (defaults: 2 vCPUs, 2048 MiB, 10 GiB disk, the base image); its WireGuard client config (private key included) is in this answer only; 409 workspace_name_taken for a name you already use; 429 workspace_ports_exhausted when its host has no free WireGuard port",
        body: CreateWorkspaceBody,
        response: { 201: CreatedWorkspace, ...commonErrors },
      },
    },
    async (request, reply) => {
      const created = await workspaces.create(principalOf(request), request.body);
      return reply
        .status(201)
        .send({ ...toJson(created.workspace), clientConfig: created.clientConfig });
    },
  );

  app.get(
    "/workspaces",
    {
      schema: {
        tags,
        security,
        summary: "List your workspaces",
        response: { 200: WorkspaceList, ...commonErrors },
      },
    },
    async (request) => ({
      workspaces: (await workspaces.list(principalOf(request))).map(toJson),
    }),
  );

  app.get(
    "/workspaces/:name",
    {
      schema: {
        tags,
        security,
        summary: "Get a workspace",
        params: NameParams,
        response: { 200: Workspace, ...commonErrors },
      },
    },
    async (request) => toJson(await workspaces.get(principalOf(request), request.params.name)),
  );

  app.post(
    "/workspaces/:name/suspend",
    {
      schema: {
        tags,
        security,
        summary:
          "Suspend a workspace (pause its sandbox); a suspended one stays as it is. During a move of it this waits for the move, then 409 workspace_moving",
        params: NameParams,
        response: { 200: Workspace, ...commonErrors },
      },
      config: { optionalBody: true },
    },
    async (request) => toJson(await workspaces.suspend(principalOf(request), request.params.name)),
  );

  app.post(
    "/workspaces/:name/resume",
    {
      schema: {
        tags,
        security,
        summary:
          "Resume a suspended workspace; a running one stays as it is. During a move of it this waits for the move and resumes it on its new host (409 workspace_moving if the move takes too long)",
        params: NameParams,
        response: { 200: Workspace, ...commonErrors },
      },
      config: { optionalBody: true },
    },
    async (request) => toJson(await workspaces.resume(principalOf(request), request.params.name)),
  );

  app.post(
    "/workspaces/:name/rotate",
    {
      schema: {
        tags,
        security,
        summary:
          "New WireGuard keys for both ends (same port): the answer holds the new client config, private key included, once; the old one stops working",
        params: NameParams,
        response: { 200: WorkspaceClientConfig, ...commonErrors },
      },
      config: { optionalBody: true },
    },
    async (request) => workspaces.rotate(principalOf(request), request.params.name),
  );

  app.post(
    "/workspaces/:name/restore",
    {
      schema: {
        tags,
        security,
        summary:
          "Run the workspace from one of your snapshots (a new sandbox with its disk, memory and processes; the one it ran is destroyed). Its WireGuard port and keys are new: the answer holds the new client config, private key included, once",
        params: NameParams,
        body: RestoreWorkspaceBody,
        response: { 200: CreatedWorkspace, ...commonErrors },
      },
    },
    async (request) => {
      const restored = await workspaces.restore(
        principalOf(request),
        request.params.name,
        request.body.snapshotId,
      );
      return { ...toJson(restored.workspace), clientConfig: restored.clientConfig };
    },
  );

  app.post(
    "/workspaces/:name/move",
    {
      schema: {
        tags,
        security,
        summary:
          "Move your workspace to another host (its id, or the host name its agent reports): it pauses, hibernates to the artifact store both hosts share and resumes there, disk, memory and processes kept. Its WireGuard port and keys are the new host's: the answer holds the new client config, private key included, once; the old one stops working. 404 host_not_found; 409 workspace_on_host, host_not_ready, store_not_configured (no shared store), sandbox_busy, workspace_moving (a move of it is under way); nothing moves on a refusal. Wakes of the workspace during the move (SSH, resume) wait for it",
        params: NameParams,
        body: MoveWorkspaceBody,
        response: { 200: CreatedWorkspace, ...commonErrors },
      },
    },
    async (request) => {
      const moved = await workspaces.move(
        principalOf(request),
        request.params.name,
        request.body.hostId,
      );
      return { ...toJson(moved.workspace), clientConfig: moved.clientConfig };
    },
  );

  app.delete(
    "/workspaces/:name",
    {
      schema: {
        tags,
        security,
        summary: "Destroy a workspace and its disk; the name is free afterwards",
        params: NameParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await workspaces.destroy(principalOf(request), request.params.name);
      return reply.status(204).send(null);
    },
  );
};
