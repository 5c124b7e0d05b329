import { createHash, timingSafeEqual } from "node:crypto";

// The sandbox's access token, set by POST /init. Compared in constant time: both sides are
// hashed first so the comparison never depends on where they differ or on their lengths.
export class AccessToken {
  #value: string | undefined;

  isSet(): boolean {
    return this.#value !== undefined;
  }

  set(value: string | undefined): void {
    this.#value = value === undefined || value === "" ? undefined : value;
  }

  matches(candidate: string | undefined | null): boolean {
    if (this.#value === undefined || candidate === undefined || candidate === null) return false;
    const a = createHash("sha256").update(this.#value).digest();
    const b = createHash("sha256").update(candidate).digest();
    return timingSafeEqual(a, b);
  }

  /** Only for computing /files signatures; never log the result's input. */
  reveal(): string | undefined {
    return this.#value;
  }
}
