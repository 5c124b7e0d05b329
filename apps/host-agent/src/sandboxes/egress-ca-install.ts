import type { Instance } from "./instance.js";
import type { ManagerCore } from "./manager-core.js";

/** Where the sandbox's egress CA goes: Debian's place for local CAs (update-ca-certificates). */
export const EGRESS_CA_FILE = "/usr/local/share/ca-certificates/wrenn-egress-ca.crt";
/** The bundle OpenSSL, curl, Python's ssl and Go read on Debian, Ubuntu and Alpine. */
export const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Environment for clients that ignore the system bundle: Node reads only its own roots plus
 * NODE_EXTRA_CA_CERTS, Python's requests reads certifi's bundle unless REQUESTS_CA_BUNDLE says
 * otherwise. Set at /init for sandboxes created with header rules (paths, not secrets).
 */
export const EGRESS_CA_ENV: Readonly<Record<string, string>> = {
  NODE_EXTRA_CA_CERTS: EGRESS_CA_FILE,
  REQUESTS_CA_BUNDLE: CA_BUNDLE,
};

/**
 * Puts the sandbox's egress CA (header rules terminate its HTTPS to those names) in its trust
 * store, only when its policy has rules: the CA file itself and appended to the system bundle
 * (once; a snapshot's bundle may carry its source's CA too, which signs nothing any more).
 * Written through envd as root, after /init.
 */
export async function installEgressCa(core: ManagerCore, inst: Instance): Promise<void> {
  if (!inst.record.network.rules) return;
  const pem = await core.networks.egressCa(inst.runtimeId);
  if (!pem) return;
  const envd = core.envdOf(inst.runtimeId);
  const token = inst.record.envdAccessToken;
  await envd.writeFile(EGRESS_CA_FILE, `${pem.trimEnd()}\n`, "root", token);
  const bundle = (await envd.readFile(CA_BUNDLE, "root", token)) ?? "";
  if (bundle.includes(pem.trim())) return;
  const sep = bundle === "" || bundle.endsWith("\n") ? "" : "\n";
  await envd.writeFile(CA_BUNDLE, `${bundle}${sep}${pem.trimEnd()}\n`, "root", token);
}
