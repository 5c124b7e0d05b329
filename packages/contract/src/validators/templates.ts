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

/** The registry host of a reference, as Docker resolves it: docker.io when none is named. */
export function imageRegistry(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  return ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}
