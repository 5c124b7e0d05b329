/**
 * A test agent's warm pool: exactly `size` sandboxes per template in use. A test's few creates
 * at once would otherwise grow the pool past its size (PoolDemand, up to WRENN_POOL_MAX),
 * booting sandboxes nobody claims on CI's two cores; tests of that growth set these themselves.
 */
export function poolEnv(size: number): Record<string, string> {
  return {
    WRENN_POOL_SIZE: String(size),
    WRENN_POOL_MAX: String(size),
    WRENN_POOL_REFILL_BOOTS: "1",
  };
}
