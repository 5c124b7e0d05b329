import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { seedCheckpoints } from "./checkpoint-seed.js";
import { agentMain, repoRoot } from "./paths.js";

/**
 * `npm start` is `bin/setup && node bin/start.mjs`; setup has run (the tests need the build),
 * so this runs bin/start.mjs exactly as npm start does, in its own process group like a
 * terminal's foreground job, and stops it with SIGINT as Ctrl-C would.
 */
export class StartProcess {
  output = "";
  child!: ChildProcess;

  static async run(env: NodeJS.ProcessEnv): Promise<StartProcess> {
    // Its agent starts with the base checkpoint every test agent shares (checkpoint-seed.ts).
    if (env.WRENN_DATA_DIR) await seedCheckpoints(join(env.WRENN_DATA_DIR, "agent"), agentMain);
    const p = new StartProcess();
    p.child = spawn(process.execPath, [join(repoRoot, "bin/start.mjs")], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    p.child.stdout?.on("data", (d: Buffer) => {
      p.output += d.toString();
    });
    p.child.stderr?.on("data", (d: Buffer) => {
      p.output += d.toString();
    });
    // A start on a saturated machine (PGlite's WASM compiles slowly there) is slow, not broken.
    const deadline = Date.now() + 480_000;
    while (!p.output.includes("Press Ctrl-C to stop")) {
      if (p.child.exitCode !== null) throw new Error(`bin/start.mjs exited early:\n${p.output}`);
      if (Date.now() > deadline) throw new Error(`bin/start.mjs did not come up:\n${p.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return p;
  }

  field(pattern: RegExp): string {
    const match = pattern.exec(this.output);
    if (!match?.[1]) throw new Error(`${pattern} not in the output:\n${this.output}`);
    return match[1];
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Ctrl-C: SIGINT to the whole process group. */
  async interrupt(): Promise<number | null> {
    const exited = once(this.child, "exit");
    process.kill(-(this.child.pid as number), "SIGINT");
    const [code] = (await exited) as [number | null];
    return code;
  }
}
