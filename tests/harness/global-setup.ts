import { spawnSync } from "node:child_process";
import { agentMain, templatesDir } from "./paths.js";

/** Builds the base template once before the end-to-end tests (instant when cached). */
export default function setup(): void {
  const r = spawnSync(process.execPath, [agentMain, "template", "build", "base"], {
    env: { ...process.env, WRENN_TEMPLATES_DIR: templatesDir },
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("building the base template failed (see the output above)");
}
