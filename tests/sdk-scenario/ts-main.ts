// ts-runner.ts as a program, for the runtimes that are not vitest's Node (Bun, Deno): the
// stack from WRENN_API_URL / WRENN_API_KEY, the foreign sandbox from WRENN_SCENARIO_FOREIGN_ID;
// prints the report as one JSON line. It reads the environment the way the SDK does in each.
import { runScenario } from "./ts-runner.js";

const env = (name: string): string => {
  const g = globalThis as { process?: { env: Record<string, string | undefined> } };
  return g.process?.env[name] ?? "";
};

const started = Date.now();
const report = await runScenario(
  { apiUrl: env("WRENN_API_URL"), apiKey: env("WRENN_API_KEY") },
  env("WRENN_SCENARIO_FOREIGN_ID"),
  (step) => console.error(`${((Date.now() - started) / 1000).toFixed(1)} s: ${step}`),
  env("WRENN_SCENARIO_STEPS") ? env("WRENN_SCENARIO_STEPS").split(",") : undefined,
);
console.error(`${((Date.now() - started) / 1000).toFixed(1)} s: done`);
console.log(JSON.stringify(report));
