// Reading server JSON we rely on: each field is checked, and a wrong shape is a clear
// UnexpectedResponseError naming the field instead of an undefined deep inside user code.
import { isRecord } from "./error-mapping.js";
import { UnexpectedResponseError } from "./errors.js";

/** A JSON object whose fields are read with their expected types. */
export class Shape {
  private constructor(
    private readonly value: Record<string, unknown>,
    private readonly where: string,
  ) {}

  static of(value: unknown, where: string): Shape {
    if (!isRecord(value)) throw bad(where, "an object", value);
    return new Shape(value, where);
  }

  string(name: string): string {
    const v = this.value[name];
    if (typeof v !== "string") throw bad(`${this.where}.${name}`, "a string", v);
    return v;
  }

  optionalString(name: string): string | undefined {
    const v = this.value[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw bad(`${this.where}.${name}`, "a string", v);
    return v;
  }

  number(name: string): number {
    const v = this.value[name];
    if (typeof v !== "number" || !Number.isFinite(v))
      throw bad(`${this.where}.${name}`, "a number", v);
    return v;
  }

  boolean(name: string): boolean {
    const v = this.value[name];
    if (typeof v !== "boolean") throw bad(`${this.where}.${name}`, "a boolean", v);
    return v;
  }

  date(name: string): Date {
    const v = this.string(name);
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw bad(`${this.where}.${name}`, "a date-time", v);
    return d;
  }

  optionalDate(name: string): Date | undefined {
    const v = this.optionalString(name);
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw bad(`${this.where}.${name}`, "a date-time", v);
    return d;
  }

  object(name: string): Shape {
    return Shape.of(this.value[name], `${this.where}.${name}`);
  }

  optionalObject(name: string): Shape | undefined {
    const v = this.value[name];
    return v === undefined || v === null ? undefined : Shape.of(v, `${this.where}.${name}`);
  }

  array(name: string): unknown[] {
    const v = this.value[name];
    if (!Array.isArray(v)) throw bad(`${this.where}.${name}`, "an array", v);
    return v;
  }

  stringMap(name: string): Record<string, string> {
    const v = this.value[name];
    if (!isRecord(v)) throw bad(`${this.where}.${name}`, "an object", v);
    const out: Record<string, string> = {};
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== "string") throw bad(`${this.where}.${name}.${k}`, "a string", s);
      out[k] = s;
    }
    return out;
  }

  stringArray(name: string): string[] {
    return this.array(name).map((s, i) => {
      if (typeof s !== "string") throw bad(`${this.where}.${name}[${i}]`, "a string", s);
      return s;
    });
  }

  /** The raw value, for fields passed through untouched. */
  raw(name: string): unknown {
    return this.value[name];
  }
}

function bad(where: string, expected: string, got: unknown): UnexpectedResponseError {
  const shown = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 80);
  return new UnexpectedResponseError(
    "unexpected_response",
    `the server's answer has ${shown} at ${where}, expected ${expected} (a control plane of another version?)`,
  );
}
