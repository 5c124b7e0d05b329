// Create a sandbox, run a command, move a file in and out, throw the sandbox away.
// Run: WRENN_API_URL=http://127.0.0.1:3000 WRENN_API_KEY=wrn_... npx tsx examples/quickstart.ts
import { Sandbox } from "@wrenn/sdk";

const sandbox = await Sandbox.create("base", { metadata: { example: "quickstart" } });
try {
  const { stdout } = await sandbox.commands.run("echo hello from $(uname -s)");
  console.log(stdout.trim());

  await sandbox.files.write("/home/user/greeting.txt", "written by the SDK");
  console.log(await sandbox.files.read("/home/user/greeting.txt"));
} finally {
  await sandbox.kill();
}
