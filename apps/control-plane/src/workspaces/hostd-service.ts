import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ERROR_CODE_HEADER, errorMessage, grpcCodeOf } from "@wrenn/contract";
import { HostService, type WorkspaceInfoSchema } from "@wrenn/proto/hostd";
import type { Logger } from "pino";
import type { RpcMount } from "../api/server.js";
import type { ApiKeyService } from "../service/api-key-service.js";
import { ServiceError } from "../service/errors.js";
import type { Principal } from "../service/sandbox-types.js";
import type { WorkspaceService, WorkspaceView } from "./workspace-service.js";

/** Where hostd.v1.HostService's calls arrive on the control plane's own address. */
export const HOSTD_PATH_PREFIX = `/${HostService.typeName}/`;

export interface HostdOptions {
  workspaces: WorkspaceService;
  keys: ApiKeyService;
  logger: Logger;
}

/**
 * A service error travels with its contract code's gRPC code and its message; the Wrenn code
 * rides along in a header (as the host agent's do) so a client can branch on it. Anything else
 * is an internal error whose detail stays in the log.
 */
function toConnectError(error: unknown, logger: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof ServiceError) {
    return new ConnectError(error.message, grpcCodeOf(error.code) as Code, {
      [ERROR_CODE_HEADER]: error.code,
    });
  }
  logger.error({ err: error }, "hostd call failed");
  return new ConnectError(errorMessage("internal_error"), Code.Internal, {
    [ERROR_CODE_HEADER]: "internal_error",
  });
}

function info(w: WorkspaceView): MessageInitShape<typeof WorkspaceInfoSchema> {
  return {
    name: w.name,
    state: w.state,
    vcpus: w.vcpus,
    memoryMb: w.memoryMb,
    diskGb: w.diskGb,
    hostPort: w.hostPort,
    vmIp: w.vmIp,
  };
}

function routes(o: HostdOptions) {
  const { workspaces } = o;
  // Every call authenticates with X-API-Key, as /v1 does.
  const call =
    <Req, Res>(fn: (principal: Principal, req: Req) => Promise<Res>) =>
    async (req: Req, ctx: HandlerContext): Promise<Res> => {
      try {
        const principal = await o.keys.authenticate(
          ctx.requestHeader.get("x-api-key") ?? undefined,
        );
        return await fn(principal, req);
      } catch (error) {
        throw toConnectError(error, o.logger);
      }
    };
  return (router: ConnectRouter) =>
    router.service(HostService, {
      createWorkspace: call(async (p, req) => {
        const created = await workspaces.create(p, req);
        return { workspace: info(created.workspace), clientConfig: created.clientConfig };
      }),
      destroyWorkspace: call(async (p, req) => {
        await workspaces.destroy(p, req.name);
        return {};
      }),
      suspendWorkspace: call(async (p, req) => ({
        workspace: info(await workspaces.suspend(p, req.name)),
      })),
      resumeWorkspace: call(async (p, req) => ({
        workspace: info(await workspaces.resume(p, req.name)),
      })),
      getWorkspace: call(async (p, req) => ({
        workspace: info(await workspaces.get(p, req.name)),
      })),
      listWorkspaces: call(async (p) => ({ workspaces: (await workspaces.list(p)).map(info) })),
      hostStatus: call(async (p) => {
        const s = await workspaces.hostStatus(p);
        return {
          ...s,
          totalMemoryMb: BigInt(s.totalMemoryMb),
          availableMemoryMb: BigInt(s.availableMemoryMb),
          totalDiskGb: BigInt(s.totalDiskGb),
          availableDiskGb: BigInt(s.availableDiskGb),
        };
      }),
    });
}

/** The largest request message HostService reads (decompressed). */
export const HOSTD_READ_MAX_BYTES = 64 * 1024;

/**
 * The Node request handler for HOSTD_PATH_PREFIX: Connect and gRPC-web over HTTP/1.1 or
 * HTTP/2, gRPC over HTTP/2 (its trailers carry grpc-status, grpc-message and the Wrenn code),
 * on the API's address and on WRENN_GRPC_LISTEN when set (rpc-http2-server.ts).
 */
export function hostdHandler(o: HostdOptions): RpcMount["handler"] {
  // Messages here are a few fields; Connect's default would read (and inflate) up to 4 GiB
  // before the handler's key check runs.
  return connectNodeAdapter({ routes: routes(o), readMaxBytes: HOSTD_READ_MAX_BYTES });
}
