import { invalidInput } from "../errors/error-codes.js";
import { IMAGE_REF_PATTERN, LIMITS, TEMPLATE_BUILD_NAME_PATTERN } from "../limits.js";

const buildName = new RegExp(TEMPLATE_BUILD_NAME_PATTERN);
const imageRef = new RegExp(IMAGE_REF_PATTERN);

/** `name` or `name:tag` → its parts; the tag defaults to `latest` (E2B's default tag). */
export function checkTemplateBuildName(value: unknown): { name: string; tag: string } {
  if (typeof value !== "string" || !buildName.test(value)) {
    throw invalidInput(
      "template name must be NAME or NAME:TAG: NAME of lower-case letters, digits, '-' and '_' (at most 63), TAG of letters, digits, '.', '-' and '_' (at most 64)",
    );
  }
  const [name, tag] = value.split(":") as [string, string | undefined];
  return { name, tag: tag ?? "latest" };
}

/**
 * An image reference (`registry/repo:tag`, `repo@sha256:...`). Refused: schemes, spaces,
 * a leading '-' (it would read as an option), `..`, and anything skopeo's docker transport
 * would not take as a name.
 */
export function checkImageRef(value: unknown): string {
  if (
    typeof value !== "string" ||
    value.length > LIMITS.imageRefLength ||
    !imageRef.test(value) ||
    value.includes("..") ||
    value.includes(":/") ||
    value.includes("//")
  ) {
    throw invalidInput(
      `fromImage must be an image reference such as debian:bookworm or registry.example.com/team/app:1.2 (at most ${LIMITS.imageRefLength} characters)`,
    );
  }
  return value;
}

/** The longest layer-cache scope the agent takes (a sha256 hex is 64). */
export const TEMPLATE_CACHE_SCOPE_MAX = 128;
const cacheScope = new RegExp(`^[0-9a-f]{1,${TEMPLATE_CACHE_SCOPE_MAX}}$`);

/**
 * A build's layer-cache scope (BuildTemplateRequest.cache_scope): an opaque lower-case hex
 * string the control plane derives from the owner (never the owner id itself). Layers are
 * shared only between builds of the same scope; "" means no caching at all.
 */
export function checkTemplateCacheScope(value: unknown): string {
  if (value === "") return "";
  if (typeof value !== "string" || !cacheScope.test(value)) {
    throw invalidInput(
      `cacheScope must be empty or lower-case hex of at most ${TEMPLATE_CACHE_SCOPE_MAX} characters`,
    );
  }
  return value;
}

/**
 * The registry and repository of a reference, without its tag or digest, as Docker resolves
 * it (`alpine:3` → `docker.io/library/alpine`): what an image's access is granted on.
 */
export function imageRepository(ref: string): string {
  const registry = imageRegistry(ref);
  const named = ref.split("@")[0] as string;
  const slash = named.lastIndexOf("/");
  const colon = named.lastIndexOf(":");
  const untagged = colon > slash ? named.slice(0, colon) : named;
  const path = untagged.startsWith(`${registry}/`) ? untagged.slice(registry.length + 1) : untagged;
  return `${registry}/${registry === "docker.io" && !path.includes("/") ? `library/${path}` : path}`;
}

/** The registry host of a reference, as Docker resolves it: docker.io when none is named. */
export function imageRegistry(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  return ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}
