// Route schemas compiled once per process, not once per server. Every route's body, query and
// params validator (TypeBox's compiler) and every response serializer (fast-json-stringify,
// Fastify's own) is generated code: building them is most of a control plane's start (~2 s of
// CPU on a 2-core host, more than opening the database). One process that starts many servers
// (the unit tests start hundreds; a restart in an end-to-end test) paid it every time. The
// schemas are module-level constants, never changed after they are made, so the function
// compiled for one object is the function for it in every server of the process.
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import { TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import type { FastifySchemaCompiler, FastifySerializerCompiler } from "fastify";

type ValidatorRoute = Parameters<typeof TypeBoxValidatorCompiler>[0];
type Validator = ReturnType<typeof TypeBoxValidatorCompiler>;
type Serializer = (data: unknown) => string;

/** By schema object, then by the part of the request it checks (query and params convert). */
const validators = new WeakMap<object, Map<string, Validator>>();
const serializers = new WeakMap<object, Serializer>();
/** No external schemas and no serializer options: what Fastify itself would pass here. */
const buildSerializer = SerializerSelector()({}, {});

/** TypeBoxValidatorCompiler, once per schema object and request part. */
export const cachedValidatorCompiler = ((route: ValidatorRoute) => {
  const schema = route.schema as object;
  let byPart = validators.get(schema);
  if (!byPart) {
    byPart = new Map();
    validators.set(schema, byPart);
  }
  const part = route.httpPart ?? "";
  let validator = byPart.get(part);
  if (!validator) {
    validator = TypeBoxValidatorCompiler(route);
    byPart.set(part, validator);
  }
  return validator;
}) as FastifySchemaCompiler<unknown>;

/** Fastify's own fast-json-stringify compiler, once per response schema object. */
export const cachedSerializerCompiler: FastifySerializerCompiler<unknown> = (route) => {
  const schema = route.schema as object;
  let serializer = serializers.get(schema);
  if (!serializer) {
    serializer = buildSerializer(route as Parameters<typeof buildSerializer>[0]) as Serializer;
    serializers.set(schema, serializer);
  }
  return serializer;
};
