import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { TEMPLATE_STEP_LIMITS } from "@wrenn/contract";
import { ServiceError } from "./errors.js";

const HASH = /^[0-9a-f]{64}$/;
/** How long an upload link stays valid (E2B's presigned PUTs: 30 min). */
const LINK_TTL_S = 30 * 60;

/**
 * Files uploaded for template COPY steps, by the hash the E2B SDK computed, per owner: a
 * local directory, no object store. Upload links are signed local URLs (HMAC of owner, hash
 * and expiry, as E2B's local storage does), so the PUT itself needs no API key and cannot be
 * pointed at another owner's or another hash's place.
 */
export class TemplateFiles {
  private readonly secret: Buffer;

  constructor(
    private readonly dir: string,
    secret?: Buffer,
  ) {
    // Per process unless given: links then only work against the control plane that made them.
    this.secret = secret ?? randomBytes(32);
  }

  private file(ownerId: string, hash: string): string {
    if (!HASH.test(hash)) throw new ServiceError("invalid_request", "hash must be a sha256 (hex)");
    const scope = createHash("sha256").update(ownerId).digest("hex").slice(0, 24);
    return path.join(this.dir, scope, `${hash}.tar`);
  }

  async present(ownerId: string, hash: string): Promise<boolean> {
    return stat(this.file(ownerId, hash)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** The signed query of an upload link for this owner's hash. */
  sign(ownerId: string, hash: string, now = Date.now()): string {
    this.file(ownerId, hash);
    const expires = Math.floor(now / 1000) + LINK_TTL_S;
    const token = this.token(ownerId, hash, expires);
    return new URLSearchParams({
      owner: ownerId,
      hash,
      expires: String(expires),
      token,
    }).toString();
  }

  /** Checks an upload link's query; the owner and hash it was signed for. */
  verify(q: Record<string, unknown>): { ownerId: string; hash: string } {
    const { owner, hash, expires, token } = q as Record<string, string | undefined>;
    const exp = Number(expires);
    const bad = (why: string) => new ServiceError("forbidden", `upload link ${why}`);
    if (!owner || !hash || !token || !Number.isInteger(exp)) throw bad("is incomplete");
    if (exp * 1000 < Date.now()) throw bad("has expired");
    const want = Buffer.from(this.token(owner, hash, exp));
    const got = Buffer.from(token);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw bad("is not valid");
    return { ownerId: owner, hash };
  }

  async put(ownerId: string, hash: string, body: Buffer): Promise<void> {
    if (body.length === 0) throw new ServiceError("invalid_request", "the upload is empty");
    if (body.length > TEMPLATE_STEP_LIMITS.filesBytes) {
      throw new ServiceError("payload_too_large", "the upload is too large");
    }
    // Files are named by their hash: the first upload stays (a replayed link changes nothing
    // that later builds reuse).
    if (await this.present(ownerId, hash)) return;
    const file = this.file(ownerId, hash);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${randomBytes(4).toString("hex")}.part`;
    await writeFile(tmp, body, { mode: 0o600 });
    await rename(tmp, file);
  }

  /** The uploads of the given hashes that exist (a missing one is the caller's 4xx). */
  async load(ownerId: string, hashes: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const h of new Set(hashes)) {
      const data = await readFile(this.file(ownerId, h)).catch(() => undefined);
      if (data) out.set(h, data);
    }
    return out;
  }

  private token(ownerId: string, hash: string, expires: number): string {
    return createHmac("sha256", this.secret)
      .update(`${ownerId}\n${hash}\n${expires}`)
      .digest("base64url");
  }
}
