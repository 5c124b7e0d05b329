import { spawnSync } from "node:child_process";
import { agentMain, templatesDir } from "./paths.js";

/**
 * Builds the base template once before the end-to-end tests (instant when cached). Under
 * `npm test` the runner (bin/test-suites.mjs) has built it already and says so: each of its
 * ~60 vitests would otherwise start the agent's CLI only to hear "up to date" (seconds each
 * on a loaded machine).
 */
export default function setup(): void {
  if (process.env.WRENN_TEST_BASE_BUILT === "1") return;
  const r = spawnSync(process.execPath, [agentMain, "template", "build", "base"], {
    env: { ...process.env, WRENN_TEMPLATES_DIR: templatesDir },
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("building the base template failed (see the output above)");
}
