import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";

/**
 * A listener's certificate and key from two settings (the control plane's WRENN_TLS_CERT /
 * WRENN_TLS_KEY, the agent's WRENN_AGENT_TLS_*): both or neither; each must read, and the pair
 * must make a TLS context, so a wrong file stops the start with its setting's name rather than
 * failing the first handshake. Undefined when neither is set. Errors name the settings and the
 * files as given; `at` says where a given name is read from (relative to a directory, say).
 */
export function readTlsPair(
  names: { cert: string; key: string },
  files: { cert: string | undefined; key: string | undefined },
  at: (file: string) => string = (file) => file,
): { cert: string; key: string } | undefined {
  if (!files.cert && !files.key) return undefined;
  if (!files.cert || !files.key) {
    throw new Error(`set both ${names.cert} and ${names.key}, or neither`);
  }
  const read = (name: string, file: string) => {
    try {
      return readFileSync(at(file), "utf8");
    } catch (error) {
      throw new Error(`${name}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const pair = { cert: read(names.cert, files.cert), key: read(names.key, files.key) };
  try {
    createSecureContext(pair);
  } catch (error) {
    throw new Error(
      `${names.cert} / ${names.key} do not make a certificate and its key: ${(error as Error).message}`,
    );
  }
  return pair;
}
