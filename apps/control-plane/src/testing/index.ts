// Test doubles and harnesses, for tests and benchmarks only (`@wrenn/control-plane/testing`).

export { type ApiCallOptions, type ApiCallResult, callApi } from "./api-call.js";
export {
  createKey,
  createSandbox,
  expireNow,
  sandboxState,
  snapshot,
  type UserKey,
} from "./api-helpers.js";
export { cached, seedBlankPglite, seedMigratedPglite, testCacheDir } from "./blank-pglite.js";
export { FakeHostAgent, type FakeHostAgentOptions, type FakeSandbox } from "./fake-host-agent.js";
export {
  failure,
  GRPC_REFLECTION_REQUEST,
  type HostdProtocol,
  hostdClient,
  http2Ask,
  twoMethodHostService,
} from "./hostd-client.js";
export { type PostgresCluster, startPostgresCluster } from "./postgres-cluster.js";
export { startTestStack, TEST_ADMIN_KEY, type TestStack } from "./test-control-plane.js";
export {
  DATABASE_KINDS,
  type DatabaseKindUnderTest,
  type DatabaseTarget,
  emptyDatabase,
  freshDatabase,
  releaseTestDatabases,
} from "./test-databases.js";
