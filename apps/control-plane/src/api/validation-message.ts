// A schema refusal in the words of the request: `resources.vcpus must be <= 64`, not
// `body/resources/vcpus must be <= 64`. Fields are named as the caller wrote them (dots,
// [n] for array items), query and path parameters say which they are.

interface SchemaError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** RFC 6901 pointer segments back to names ("~1" is "/", "~0" is "~"). */
function segments(pointer: string): string[] {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function join(path: string[]): string {
  return path.reduce(
    (acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part),
    "",
  );
}

/** TypeBox names the properties in a list; Ajv names one. */
function named(params: Record<string, unknown> | undefined, list: string, one: string): string[] {
  const many = params?.[list];
  if (Array.isArray(many)) return many.map(String);
  const single = params?.[one];
  return typeof single === "string" ? [single] : [];
}

const WHERE: Record<string, string> = {
  querystring: "query parameter ",
  params: "path parameter ",
  headers: "header ",
};

export function validationMessage(
  errors: readonly SchemaError[] | undefined,
  context: string | undefined,
): string {
  const first = errors?.[0];
  if (!first) return "invalid request";
  const path = segments(first.instancePath ?? "");
  const where = WHERE[context ?? ""] ?? "";
  const field = (extra: string[] = []) => `${where}${join([...path, ...extra])}`;
  if (first.keyword === "required") {
    const missing = named(first.params, "requiredProperties", "missingProperty");
    if (missing.length) return `${missing.map((m) => field([m])).join(", ")} is required`;
  }
  if (first.keyword === "additionalProperties") {
    const extra = named(first.params, "additionalProperties", "additionalProperty");
    if (extra.length)
      return `${extra.map((m) => field([m])).join(", ")} is not a field this request takes`;
  }
  // TypeBox reports a property that additionalProperties: false forbids as a false schema at
  // that property's own path.
  if (first.keyword === "boolean" || first.message === "schema is false")
    return `${field()} is not a field this request takes`;
  const message = first.message ?? "is invalid";
  if (path.length === 0) return context === "body" ? `the body ${message}` : `${where}${message}`;
  return `${field()} ${message}`;
}
