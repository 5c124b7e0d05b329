/**
 * gRPC status codes by their wire names (Connect sends these names in JSON errors; the numbers
 * are the ones @connectrpc/connect's `Code` enum uses, so `Code[...]` needs no table).
 */
export const GRPC_CODES = {
  canceled: 1,
  unknown: 2,
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  aborted: 10,
  out_of_range: 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  data_loss: 15,
  unauthenticated: 16,
} as const;

export type GrpcCodeName = keyof typeof GRPC_CODES;

const NAMES = Object.fromEntries(
  Object.entries(GRPC_CODES).map(([name, code]) => [code, name]),
) as Record<number, GrpcCodeName>;

/** The wire name of a numeric gRPC/Connect code ("unknown" for one it does not know). */
export function grpcCodeName(code: number): GrpcCodeName {
  return NAMES[code] ?? "unknown";
}
