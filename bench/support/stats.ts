import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function summary(values: number[]): { n: number; p50: number; p95: number } {
  return { n: values.length, p50: percentile(values, 50), p95: percentile(values, 95) };
}

/** Prints rows as an aligned table. */
export function table(rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const fmt = (v: string | number | undefined) =>
    typeof v === "number"
      ? Number.isInteger(v)
        ? String(v)
        : v.toFixed(v < 10 ? 2 : 1)
      : String(v ?? "");
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(line(cols));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => fmt(r[c]))));
}

export function writeResults(name: string, data: unknown): string {
  const dir = fileURLToPath(new URL("../results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${name}.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ name, at: new Date().toISOString(), ...((data as object) ?? {}) }, null, 2)}\n`,
  );
  return file;
}

/** A table row: a measure's p50 / p95 beside its floor's, and their ratios. */
export function vsFloor(measure: string, xs: number[], floor: { p50: number; p95: number }) {
  const p50 = percentile(xs, 50);
  const p95 = percentile(xs, 95);
  return {
    measure,
    "p50 ms": p50,
    "p95 ms": p95,
    "floor p50": floor.p50,
    "floor p95": floor.p95,
    "x p50": p50 / floor.p50,
    "x p95": p95 / floor.p95,
  };
}
