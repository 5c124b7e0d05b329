import type { EgressProxyConfig } from "@wrenn/contract";
import type { TokenCipher } from "../secrets/token-cipher.js";
import type { StoredEgressProxy } from "./sandbox-types.js";

/**
 * A sandbox's egressProxy as the database keeps it: the password sealed with the control
 * plane's secret key (a dump or backup does not give away the user's proxy credentials). It is
 * opened only to be sent to the host agent; reads return the address and user name alone.
 */
export function sealEgressProxy(
  p: EgressProxyConfig | undefined,
  cipher: TokenCipher,
): { egressProxy?: StoredEgressProxy } {
  if (!p) return {};
  return {
    egressProxy: {
      address: p.address,
      ...(p.username === undefined ? {} : { username: p.username }),
      ...(p.password === undefined ? {} : { passwordSealed: cipher.seal(p.password) }),
    },
  };
}

/** The proxy with its password, for the host agent only. */
export function openEgressProxy(
  s: StoredEgressProxy | undefined,
  cipher: TokenCipher,
): EgressProxyConfig | undefined {
  if (!s) return undefined;
  return {
    address: s.address,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(s.passwordSealed === undefined ? {} : { password: cipher.open(s.passwordSealed) }),
  };
}

/** The `egressProxy` field of a read (address and user name), absent when there is none. */
export function egressProxyField(s: StoredEgressProxy | undefined): {
  egressProxy?: { address: string; username?: string };
} {
  if (!s) return {};
  return {
    egressProxy: {
      address: s.address,
      ...(s.username === undefined ? {} : { username: s.username }),
    },
  };
}
