// Start a long command in the background, print its output as it comes, then wait for it.
// A command over its timeoutMs is killed and reported as CommandTimeoutError.
import { CommandExitError, CommandTimeoutError, Sandbox } from "@wrenn/sdk";

const sandbox = await Sandbox.create();
try {
  const build = await sandbox.commands.run("for i in 1 2 3; do echo step $i; sleep 0.2; done", {
    background: true,
    onStdout: (line) => process.stdout.write(`[build] ${line}`),
  });
  const result = await build.wait();
  console.log(`exit code ${result.exitCode}`);

  try {
    await sandbox.commands.run("echo failing >&2; exit 4");
  } catch (error) {
    if (error instanceof CommandExitError)
      console.log(`exit ${error.exitCode}: ${error.stderr.trim()}`);
    else throw error;
  }

  try {
    await sandbox.commands.run("sleep 60", { timeoutMs: 1_000 });
  } catch (error) {
    if (error instanceof CommandTimeoutError) console.log(`timed out: ${error.cmd}`);
    else throw error;
  }
} finally {
  await sandbox.kill();
}
