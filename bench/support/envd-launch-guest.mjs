// Runs inside the sandbox (the template's Node): times envd's two ways of starting a command,
// from launch() to the command's end as envd sees it, and Node's bare spawn of the same
// program. Prints one JSON line per way: {way, ms: [...]}.
import { spawn } from "node:child_process";

const [, , envdDist, binDir, runs, program] = process.argv;
const { launch } = await import(`${envdDist}/process/launch.js`);
const { ResidentLauncher } = await import(`${envdDist}/process/resident-launcher.js`);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const root = { username: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh", groups: [0] };
const spec = {
  binDir,
  cmd: program,
  args: [],
  env: { PATH: "/usr/bin:/bin" },
  cwd: "/",
  user: root,
  stdin: false,
};

async function viaLaunch(launcher) {
  const t0 = performance.now();
  const launched = await launch(spec, launcher);
  await new Promise((resolve) => launched.output.attach({ data() {}, close: resolve }));
  return performance.now() - t0;
}

function bareSpawn() {
  const t0 = performance.now();
  const child = spawn(program, [], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.resume();
  child.stderr.resume();
  return new Promise((resolve) => child.once("close", () => resolve(performance.now() - t0)));
}

// The launcher does not hold the event loop open (envd's server does): this timer does here.
setInterval(() => {}, 1000);
const resident = ResidentLauncher.start(binDir, quiet);
if (!(await resident.started)) throw new Error("the resident launcher did not start");
const ways = [
  ["node-spawn", () => bareSpawn()],
  ["envd-spawn", () => viaLaunch(undefined)],
  ["envd-launcher", () => viaLaunch(resident)],
];
const ms = Object.fromEntries(ways.map(([way]) => [way, []]));
// Interleaved, so each way meets the same load.
for (let i = 0; i < Number(runs); i++) {
  for (const [way, run] of ways) ms[way].push(await run());
}
for (const [way] of ways) console.log(JSON.stringify({ way, ms: ms[way] }));
process.exit(0);
