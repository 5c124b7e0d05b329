import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreateWorkspaceBody,
  commonErrors,
  Workspace,
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
          "Create a workspace (defaults: 2 vCPUs, 2048 MiB, 10 GiB disk, the base image); 409 workspace_name_taken for a name you already use",
        body: CreateWorkspaceBody,
        response: { 201: Workspace, ...commonErrors },
      },
    },
    async (request, reply) => {
      const { workspace } = await workspaces.create(principalOf(request), request.body);
      return reply.status(201).send(toJson(workspace));
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
        summary: "Suspend a workspace (pause its sandbox); a suspended one stays as it is",
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
        summary: "Resume a suspended workspace; a running one stays as it is",
        params: NameParams,
        response: { 200: Workspace, ...commonErrors },
      },
      config: { optionalBody: true },
    },
    async (request) => toJson(await workspaces.resume(principalOf(request), request.params.name)),
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
