/**
 * envd's wire: what the host agent, the control plane and the SDKs must agree on to reach the
 * guest agent inside a sandbox, and the headers that carry a request to it. Header names are
 * lower case, as Node reports them.
 */
export const ENVD_PORT = 49983;

/**
 * Wrenn's extension for reconnecting clients: a process Connect request carrying
 * ENVD_REPLAY_FROM_HEADER (a byte offset into the process's combined output) first receives the
 * buffered output from that offset. The answer's ENVD_REPLAY_START_HEADER says where the replay
 * really began: later than asked when older output has already left envd's ring buffer.
 */
export const ENVD_REPLAY_FROM_HEADER = "wrenn-replay-from";
export const ENVD_REPLAY_START_HEADER = "wrenn-replay-start";

/** envd sends a keepalive message on an idle stream every this many seconds when asked. */
export const ENVD_KEEPALIVE_SECONDS = 30;

/** envd's access token (E2B's X-Access-Token), handed out at create and resume. */
export const ENVD_ACCESS_TOKEN_HEADER = "x-access-token";

/** E2B's traffic token for sandbox ports when public traffic is restricted. */
export const E2B_TRAFFIC_TOKEN_HEADER = "e2b-traffic-access-token";

/** E2B's SDK names the sandbox and port with these when it talks to envd through a proxy. */
export const E2B_SANDBOX_ID_HEADER = "e2b-sandbox-id";
export const E2B_SANDBOX_PORT_HEADER = "e2b-sandbox-port";

/** Control plane → host agent forwarder: which sandbox and port a request is for. */
export const FORWARD_SANDBOX_HEADER = "wrenn-forward-sandbox";
export const FORWARD_PORT_HEADER = "wrenn-forward-port";

/**
 * Control plane → forwarder: "e2b" asks for E2B's edge answer when the sandbox's port does not
 * answer (e2bPortNotOpen), for requests that came in through E2B's host names or headers.
 */
export const FORWARD_ERROR_STYLE_HEADER = "wrenn-forward-error-style";

/**
 * Raw TCP to a port on a sandbox's own loopback (SSH into a workspace): the control plane asks
 * the forwarder with FORWARD_RELAY_HEADER "tcp" and `Upgrade: wrenn-tcp`; the forwarder asks
 * envd's TCP_RELAY_PATH (`?port=N`, envd's token) the same way; after both 101 answers the
 * connections carry the port's bytes as they are. Only the control plane can ask (the agent
 * token), and it never passes the header on from a client.
 */
export const FORWARD_RELAY_HEADER = "wrenn-forward-relay";
export const TCP_RELAY_PATH = "/_wrenn/tcp";
export const TCP_RELAY_UPGRADE = "wrenn-tcp";

/** E2B's edge answer, with status 502, for a running sandbox's port that nothing listens on. */
export function e2bPortNotOpen(sandboxId: string, port: number) {
  return { message: "The sandbox is running but port is not open", sandboxId, port, code: 502 };
}

/** The control plane's credential at a host agent (besides Authorization on Connect calls). */
export const AGENT_TOKEN_HEADER = "wrenn-agent-token";

/** A Connect error from the host agent carries its contract error code in this header. */
export const ERROR_CODE_HEADER = "wrenn-error-code";

/** Wrenn's API key header (E2B's SDK sends the same name). */
export const API_KEY_HEADER = "x-api-key";

/**
 * Header on an envd error (a Connect error's metadata, or a /files answer) naming why, where
 * the status alone is ambiguous: E2B's envd answers an unknown user with Unauthenticated / 401,
 * the same as a wrong access token, but one is the caller's mistake and the other ours. E2B's
 * SDK ignores it.
 */
export const ENVD_ERROR_HEADER = "wrenn-envd-error";

/** The requested Linux user does not exist in the sandbox. */
export const ENVD_UNKNOWN_USER = "unknown_user";
