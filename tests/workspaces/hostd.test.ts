import http from "node:http";
import http2 from "node:http2";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ERROR_CODE_HEADER } from "@wrenn/contract";
import {
  failure,
  GRPC_REFLECTION_REQUEST,
  type HostdProtocol,
  hostdClient,
  http2Ask,
} from "@wrenn/control-plane/testing";
import { HostService } from "@wrenn/proto/hostd";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";

// hostd.v1.HostService on the control plane's own address, against the real stack (real agent,
// runsc, PGlite): the calls other tools make, their error codes, and a workspace that lives
// through suspend/resume and restarts of both programs. Also over gRPC on HTTP/2, as grpcurl
// -plaintext speaks it, on the control plane's own address and on WRENN_GRPC_LISTEN.
describe("hostd.v1.HostService", () => {
  let stack: Stack;
  let user: UserKey;
  let hostd: Client<typeof HostService>;

  const clientWith = (key: string | null, protocol?: HostdProtocol) =>
    hostdClient(stack.url, key, protocol);
  /** The gRPC address (h2c), as a URL for Connect's gRPC transport. */
  const grpcUrl = () => `http://${stack.cp.grpcAddress}`;

  const exec = (sandboxId: string, command: string) =>
    stack.call("POST", `/v1/sandboxes/${sandboxId}/exec`, { key: user.key, body: { command } });
  const sandboxIdOf = async (name: string) => {
    const r = await stack.call("GET", `/v1/workspaces/${name}`, { key: user.key });
    expect(r.status, r.text).toBe(200);
    return (r.body as { sandboxId: string }).sandboxId;
  };

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 0, config: { grpc: { host: "127.0.0.1", port: 0 } } });
    user = await stack.key({ name: "workspaces" });
    hostd = clientWith(user.key);
  });
  afterAll(() => stack?.close());

  test("bad calls get proper gRPC codes with messages, and create nothing", async () => {
    const anonymous = await failure(clientWith(null).listWorkspaces({}));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    // A message far past any real one is refused by its size, before it is read whole. Its
    // own connection: Node's client stops sending a body once the answer came, so the socket
    // it leaves is not one for the calls below.
    const lone = createClient(
      HostService,
      createConnectTransport({
        baseUrl: stack.url,
        httpVersion: "1.1",
        nodeOptions: { agent: new http.Agent({ keepAlive: false }) },
      }),
    );
    const huge = await failure(lone.createWorkspace({ name: "x".repeat(1 << 20) }));
    expect(huge.code).toBe(Code.ResourceExhausted);

    const tooBig = await failure(hostd.createWorkspace({ name: "big", vcpus: 1000 }));
    expect(tooBig.code).toBe(Code.InvalidArgument);
    expect(tooBig.rawMessage).toMatch(/vcpus must be an integer from 1 to 64/);
    expect(tooBig.metadata.get(ERROR_CODE_HEADER)).toBe("invalid_request");
    const noDisk = await failure(hostd.createWorkspace({ name: "big", diskGb: 5000 }));
    expect(noDisk.code).toBe(Code.InvalidArgument);
    expect(noDisk.rawMessage).toMatch(/disk_gb/);
    const tiny = await failure(hostd.createWorkspace({ name: "big", memoryMb: 1 }));
    expect(tiny.code).toBe(Code.InvalidArgument);
    const badName = await failure(hostd.createWorkspace({ name: "Not A Name" }));
    expect(badName.code).toBe(Code.InvalidArgument);
    const noName = await failure(hostd.createWorkspace({}));
    expect(noName.code).toBe(Code.InvalidArgument);

    for (const call of [
      hostd.getWorkspace({ name: "nobody" }),
      hostd.suspendWorkspace({ name: "nobody" }),
      hostd.resumeWorkspace({ name: "nobody" }),
      hostd.destroyWorkspace({ name: "nobody" }),
    ]) {
      const unknown = await failure(call);
      expect(unknown.code).toBe(Code.NotFound);
      expect(unknown.rawMessage).toBe("workspace nobody not found");
    }
    expect((await hostd.listWorkspaces({})).workspaces).toEqual([]);
    const rows = await stack.cp.db.query("SELECT id FROM sandboxes");
    expect(rows.rows).toEqual([]);
  });

  test.each([
    ["the main address", () => stack.url],
    ["WRENN_GRPC_LISTEN", grpcUrl],
  ])(
    "gRPC over cleartext HTTP/2 (as grpcurl -plaintext) on %s: codes, messages, nothing else served",
    async (_name, url) => {
      expect(stack.cp.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      // One HTTP/2 connection with prior knowledge, as grpcurl opens it: every call below on it.
      const session = new Http2SessionManager(url());
      const raw = http2.connect(url());
      try {
        const grpc = hostdClient(url(), user.key, { grpc: session });
        expect((await grpc.listWorkspaces({})).workspaces).toEqual([]);
        expect((await grpc.hostStatus({})).totalVcpus).toBeGreaterThan(0);
        const unknown = await failure(grpc.getWorkspace({ name: "nobody" }));
        expect(unknown.code).toBe(Code.NotFound);
        expect(unknown.rawMessage).toBe("workspace nobody not found");
        expect(unknown.metadata.get(ERROR_CODE_HEADER)).toBe("workspace_not_found");
        const anonymous = await failure(
          hostdClient(url(), null, { grpc: session }).listWorkspaces({}),
        );
        expect(anonymous.code).toBe(Code.Unauthenticated);
        expect(anonymous.metadata.get(ERROR_CODE_HEADER)).toBe("missing_api_key");
        const wrongKey = await failure(
          hostdClient(url(), "wrn_wrong", { grpc: session }).hostStatus({}),
        );
        expect(wrongKey.code).toBe(Code.Unauthenticated);
        const tooBig = await failure(grpc.createWorkspace({ name: "big", vcpus: 1000 }));
        expect(tooBig.code).toBe(Code.InvalidArgument);
        expect(tooBig.rawMessage).toMatch(/vcpus must be an integer from 1 to 64/);
        expect(tooBig.metadata.get(ERROR_CODE_HEADER)).toBe("invalid_request");

        // Nothing but the service over HTTP/2: another gRPC method (grpcurl's reflection request)
        // is Unimplemented, any other request a 404 saying the REST API is HTTP/1.1.
        const ask = (headers: http2.OutgoingHttpHeaders) => http2Ask(raw, headers);
        const reflection = await ask(GRPC_REFLECTION_REQUEST);
        expect(reflection.headers[":status"]).toBe(200);
        expect(reflection.headers["grpc-status"]).toBe(String(Code.Unimplemented));
        expect(decodeURIComponent(String(reflection.headers["grpc-message"]))).toMatch(
          /only hostd\.v1\.HostService is served over HTTP\/2/,
        );
        const api = await ask({
          ":method": "GET",
          ":path": "/v1/workspaces",
          "x-api-key": user.key,
        });
        expect(api.headers[":status"]).toBe(404);
        expect(JSON.parse(api.body)).toMatchObject({
          error: { code: "not_found", message: expect.stringMatching(/REST API.*HTTP\/1\.1/) },
        });
      } finally {
        session.abort();
        raw.close();
      }
      // Nothing was created by the refused calls.
      expect((await hostd.listWorkspaces({})).workspaces.map((w) => w.name)).not.toContain("big");
    },
  );

  test("HostStatus reports the host's real capacity", async () => {
    const status = await hostd.hostStatus({});
    const agent = await stack.cp.registry.all()[0]?.client.hostStatus();
    expect(agent).toBeDefined();
    expect(status.totalVcpus).toBe(agent?.total.vcpus);
    expect(status.totalVcpus).toBeGreaterThan(0);
    expect(status.totalMemoryMb).toBe(BigInt(agent?.total.memoryMb ?? -1));
    expect(status.totalDiskGb).toBe(BigInt(Math.floor((agent?.total.diskMb ?? -1) / 1024)));
    expect(status.availableVcpus).toBeLessThanOrEqual(status.totalVcpus);
    expect(status.runningWorkspaces).toBe(0);
  });

  test("a workspace: defaults, duplicate name, suspend/resume, restarts of agent and control plane, destroy", async () => {
    const created = await hostd.createWorkspace({ name: "mybox" });
    expect(created.workspace).toMatchObject({
      name: "mybox",
      state: "running",
      vcpus: 2,
      memoryMb: 2048,
      diskGb: 10,
    });
    expect(created.workspace?.vmIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(created.clientConfig?.name).toBe("mybox");

    // Its sandbox: the bigger disk, no end by a timer (auto-pause), the workspace's sizes.
    const sandboxId = await sandboxIdOf("mybox");
    const row = (
      await stack.cp.db.query<{ auto_pause: boolean; disk_mb: number; memory_mb: number }>(
        "SELECT auto_pause, disk_mb, memory_mb FROM sandboxes WHERE id = $1",
        [sandboxId],
      )
    ).rows[0];
    expect(row).toEqual({ auto_pause: true, disk_mb: 10 * 1024, memory_mb: 2048 });

    const duplicate = await failure(hostd.createWorkspace({ name: "mybox", vcpus: 1 }));
    expect(duplicate.code).toBe(Code.AlreadyExists);
    expect(duplicate.rawMessage).toMatch(/already have a workspace named mybox/);
    expect((await hostd.listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(["mybox"]);

    // The same service over gRPC-web answers the same.
    const web = clientWith(user.key, "grpc-web");
    expect((await web.getWorkspace({ name: "mybox" })).workspace?.state).toBe("running");
    // And over gRPC on HTTP/2 (grpcurl -plaintext).
    const session = new Http2SessionManager(grpcUrl());
    try {
      const grpc = hostdClient(grpcUrl(), user.key, { grpc: session });
      expect((await grpc.getWorkspace({ name: "mybox" })).workspace).toMatchObject({
        name: "mybox",
        state: "running",
        vcpus: 2,
      });
    } finally {
      session.abort();
    }
    expect((await hostd.hostStatus({})).runningWorkspaces).toBe(1);

    expect((await exec(sandboxId, "echo kept > ~/work.txt")).status).toBe(200);
    const suspended = await hostd.suspendWorkspace({ name: "mybox" });
    expect(suspended.workspace?.state).toBe("suspended");
    expect((await hostd.suspendWorkspace({ name: "mybox" })).workspace?.state).toBe("suspended");
    const status = await hostd.hostStatus({});
    expect([status.runningWorkspaces, status.suspendedWorkspaces]).toEqual([0, 1]);

    // The control plane restarts: the workspace is still there, still suspended.
    await stack.restartControlPlane();
    hostd = clientWith(user.key);
    expect((await hostd.getWorkspace({ name: "mybox" })).workspace?.state).toBe("suspended");
    expect((await hostd.resumeWorkspace({ name: "mybox" })).workspace?.state).toBe("running");
    expect((await exec(sandboxId, "cat ~/work.txt")).body).toMatchObject({ stdout: "kept\n" });

    // The agent dies and comes back: the workspace is re-adopted, running, its files there.
    await stack.agent.kill9();
    await stack.agent.start();
    await waitFor(
      async () => (await hostd.getWorkspace({ name: "mybox" })).workspace?.state === "running",
      120_000,
      "the workspace to be running after the agent came back",
    );
    await waitFor(
      async () => (await exec(sandboxId, "cat ~/work.txt")).status === 200,
      60_000,
      "the workspace to answer after the agent came back",
    );
    expect((await exec(sandboxId, "cat ~/work.txt")).body).toMatchObject({ stdout: "kept\n" });

    await hostd.destroyWorkspace({ name: "mybox" });
    expect((await failure(hostd.getWorkspace({ name: "mybox" }))).code).toBe(Code.NotFound);
    const ended = await stack.cp.db.query<{ state: string }>(
      "SELECT state FROM sandboxes WHERE id = $1",
      [sandboxId],
    );
    expect(ended.rows[0]?.state).toBe("stopped");
    // The name is free again.
    const again = await hostd.createWorkspace({
      name: "mybox",
      vcpus: 1,
      memoryMb: 512,
      diskGb: 2,
    });
    expect(again.workspace).toMatchObject({ state: "running", vcpus: 1, memoryMb: 512, diskGb: 2 });
    await hostd.destroyWorkspace({ name: "mybox" });
  });
});
