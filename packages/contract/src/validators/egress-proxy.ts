import { ContractError, errorMessage, invalidInput } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";
import { egressHostName, ipv4Value } from "./egress.js";

/**
 * E2B's `network.egressProxy`: the user's SOCKS5 proxy (RFC 1928) that the agent tunnels every
 * TCP connection the sandbox's egress rules allow through, after allow/deny is decided; domain
 * flows ask it for the name (remote DNS). UDP is not tunneled. It fails closed: a proxy that is
 * down or refuses the credentials means a refused connection, never a direct one.
 * `password` is a secret: sealed at rest by the control plane, never returned by a read.
 */
export interface EgressProxyConfig {
  /** `host:port`: an IPv4 address or a host name, and a port 1-65535. */
  address: string;
  /** RFC 1929 user name/password authentication; both or neither. */
  username?: string;
  password?: string;
}

/** What a read returns: never the password. */
export type EgressProxyPublic = Omit<EgressProxyConfig, "password">;

/** The host and port of a checked address (see checkEgressProxy). */
export function egressProxyEndpoint(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

function credential(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalidInput(`${name} must be a string`);
  const bytes = new TextEncoder().encode(value).length;
  if (bytes < 1 || bytes > LIMITS.egressProxyCredentialBytes) {
    throw invalidInput(
      `${name} must be 1-${LIMITS.egressProxyCredentialBytes} bytes in UTF-8 (RFC 1929), got ${bytes}`,
    );
  }
  return value;
}

/**
 * Checks an egressProxy as sent: undefined and null (no proxy) pass through; otherwise an
 * object with `address` ("host:port"; a bracketed IPv6 address is refused with
 * egress_ipv6_unsupported, as everywhere in egress rules) and optionally `username` and
 * `password` (both or neither, each 1-255 bytes). Returns it canonical: the host in lower case.
 */
export function checkEgressProxy(
  name: string,
  value: unknown,
): EgressProxyConfig | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalidInput(`${name} must be an object {address, username?, password?} or null`);
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (key !== "address" && key !== "username" && key !== "password") {
      throw invalidInput(`${name} has an unknown field ${JSON.stringify(key.slice(0, 64))}`);
    }
  }
  if (typeof v.address !== "string") throw invalidInput(`${name}.address must be "host:port"`);
  const raw = v.address.trim();
  const shown = JSON.stringify(raw.slice(0, LIMITS.egressProxyAddressLength));
  if (raw.startsWith("[") || (raw.match(/:/g)?.length ?? 0) > 1) {
    throw new ContractError(
      "egress_ipv6_unsupported",
      `${name}.address ${shown}: ${errorMessage("egress_ipv6_unsupported")}`,
    );
  }
  const m = /^([^:]+):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[2]) : 0;
  if (raw.length > LIMITS.egressProxyAddressLength || !m || port < 1 || port > 65535) {
    throw invalidInput(`${name}.address ${shown} is not "host:port" (port 1-65535)`);
  }
  const host = m[1]!;
  const canonical =
    ipv4Value(host) !== undefined ? host : /^[\d.]+$/.test(host) ? undefined : egressHostName(host);
  if (canonical === undefined) {
    throw invalidInput(`${name}.address ${shown}: the host is not an IPv4 address or host name`);
  }
  const username = credential(`${name}.username`, v.username);
  const password = credential(`${name}.password`, v.password);
  if ((username === undefined) !== (password === undefined)) {
    throw invalidInput(`${name}: give both username and password (RFC 1929), or neither`);
  }
  return {
    address: `${canonical}:${port}`,
    ...(username === undefined ? {} : { username, password }),
  };
}

/** The proxy without its password, for reads and logs. */
export function egressProxyView(p: EgressProxyConfig | null | undefined): EgressProxyPublic | null {
  if (!p) return null;
  return { address: p.address, ...(p.username === undefined ? {} : { username: p.username }) };
}

/** The host-agent proto's EgressProxy: strings, empty when unset. */
export interface EgressProxyWire {
  address: string;
  username: string;
  password: string;
}

/** The proto form, for checkEgressProxy: no proxy when unset, empty credentials left out. */
export function egressProxyFromWire(
  w: EgressProxyWire | undefined,
): Partial<EgressProxyConfig> | undefined {
  if (!w || w.address === "") return undefined;
  return {
    address: w.address,
    ...(w.username === "" ? {} : { username: w.username }),
    ...(w.password === "" ? {} : { password: w.password }),
  };
}

/** The proto form of a checked proxy; `withPassword` false for responses. */
export function egressProxyToWire(
  p: EgressProxyConfig | null | undefined,
  withPassword: boolean,
): EgressProxyWire | undefined {
  if (!p) return undefined;
  return {
    address: p.address,
    username: p.username ?? "",
    password: withPassword ? (p.password ?? "") : "",
  };
}
