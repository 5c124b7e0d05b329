// @peculiar/x509 resolves its ASN.1 serialisers through tsyringe, which needs the Reflect
// metadata polyfill loaded first (ES modules evaluate their imports in this order).
import "reflect-metadata";
import { KeyObject, randomBytes, webcrypto } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
/** Leaf certificates one sandbox's CA keeps: a wildcard rule lets it ask for any sub-name. */
const MAX_LEAVES = 256;
/** Leaves are valid LEAF_DAYS and re-issued after REISSUE_DAYS, long before they expire. */
const LEAF_DAYS = 90;
const REISSUE_DAYS = 30;

/** A positive 128-bit serial (RFC 5280 wants them unique per CA and at most 20 octets). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString("hex");
}

/** Back-dated an hour: a sandbox clock slightly behind the host's still accepts the cert. */
const validity = (days: number) => ({
  notBefore: new Date(Date.now() - 3_600_000),
  notAfter: new Date(Date.now() + days * DAY),
});

/**
 * One sandbox's certificate authority for the egress proxy's TLS termination (header rules).
 * Made on first need and held in the agent's memory only: its private key is never written
 * anywhere, and an agent restart makes a new one (see docs/network.md). Leaf certificates, one
 * per name the sandbox asked for, share one key pair and are cached.
 */
export class SandboxCa {
  private readonly leaves = new Map<string, { at: number; context: Promise<SecureContext> }>();

  private constructor(
    readonly sandboxId: string,
    /** The CA certificate (PEM): what the sandbox's trust store gets. */
    readonly certPem: string,
    private readonly cert: x509.X509Certificate,
    private readonly caKey: CryptoKey,
    private readonly leafKeys: CryptoKeyPair,
    private readonly leafKeyPem: string,
  ) {}

  static async create(sandboxId: string): Promise<SandboxCa> {
    const keys = (await webcrypto.subtle.generateKey(ALG, false, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    // The sandbox id in the name says whose CA a certificate in a trust store is.
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=Wrenn egress CA for ${sandboxId.replace(/[^A-Za-z0-9-]/g, "")}, O=Wrenn`,
      ...validity(3650),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const leafKeyPem = KeyObject.from(leafKeys.privateKey)
      .export({ type: "pkcs8", format: "pem" })
      .toString();
    return new SandboxCa(
      sandboxId,
      cert.toString("pem"),
      cert,
      keys.privateKey,
      leafKeys,
      leafKeyPem,
    );
  }

  /** A TLS server context presenting a certificate for `name` signed by this CA (cached). */
  contextFor(name: string): Promise<SecureContext> {
    const hit = this.leaves.get(name);
    if (hit && Date.now() - hit.at < REISSUE_DAYS * DAY) return hit.context;
    if (this.leaves.size >= MAX_LEAVES) this.leaves.clear();
    const context = this.issue(name).then((pem) =>
      createSecureContext({ cert: pem, key: this.leafKeyPem }),
    );
    // A failed issue is not cached: the next connection tries again.
    context.catch(() => this.leaves.delete(name));
    this.leaves.set(name, { at: Date.now(), context });
    return context;
  }

  private async issue(name: string): Promise<string> {
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${name}`,
      issuer: this.cert.subject,
      ...validity(LEAF_DAYS),
      signingAlgorithm: ALG,
      publicKey: this.leafKeys.publicKey,
      signingKey: this.caKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    // The chain the client gets: leaf then CA (clients that trust the CA need only the leaf).
    return `${leaf.toString("pem")}\n${this.certPem}\n`;
  }
}
