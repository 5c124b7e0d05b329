import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
/** Templates are shared by every test run and by `npm start`: built once, reused. */
export const templatesDir = process.env.WRENN_TEMPLATES_DIR ?? `${repoRoot}.wrenn/templates`;
export const agentMain = `${repoRoot}apps/host-agent/dist/main.js`;
