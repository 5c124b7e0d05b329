import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  CreateSshKeyBody,
  commonErrors,
  SshKey,
  SshKeyIdParams,
  SshKeyList,
} from "@wrenn/contract";
import { Type } from "typebox";
import type { SshKeyView } from "../../workspaces/ssh-key-service.js";
import type { ApiDeps } from "../api-deps.js";
import { principalOf } from "../request-context.js";

const tags = ["workspaces"];
const security = [{ apiKey: [] }];

const toJson = (k: SshKeyView) => ({ ...k, createdAt: k.createdAt.toISOString() });

/** /v1/ssh-keys: the public keys that open the caller's workspaces over SSH. */
export const sshKeyRoutes: FastifyPluginAsyncTypebox<ApiDeps> = async (app, deps) => {
  const { sshKeys } = deps;

  app.post(
    "/ssh-keys",
    {
      schema: {
        tags,
        security,
        summary:
          "Register an SSH public key (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 bits or more); 400 invalid_ssh_key, 409 ssh_key_taken",
        body: CreateSshKeyBody,
        response: { 201: SshKey, ...commonErrors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(toJson(await sshKeys.add(principalOf(request), request.body))),
  );

  app.get(
    "/ssh-keys",
    {
      schema: {
        tags,
        security,
        summary: "List your SSH public keys",
        response: { 200: SshKeyList, ...commonErrors },
      },
    },
    async (request) => ({ keys: (await sshKeys.list(principalOf(request))).map(toJson) }),
  );

  app.delete(
    "/ssh-keys/:id",
    {
      schema: {
        tags,
        security,
        summary:
          "Remove an SSH public key (workspaces stop accepting it at their next resume or connection)",
        params: SshKeyIdParams,
        response: { 204: Type.Null(), ...commonErrors },
      },
    },
    async (request, reply) => {
      await sshKeys.remove(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
};
