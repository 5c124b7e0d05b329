// Pause a sandbox (memory and disk kept), find it again by its metadata, and resume it.
import { Sandbox } from "@wrenn/sdk";

const sandbox = await Sandbox.create({ metadata: { example: "pause-resume" } });
try {
  await sandbox.commands.run("echo remembered > /home/user/state.txt");
  await sandbox.pause();

  const [found] = await Sandbox.list({
    query: { metadata: { example: "pause-resume" }, state: ["paused"] },
  }).nextItems();
  console.log(`paused: ${found?.sandboxId === sandbox.sandboxId}`);

  const resumed = await Sandbox.connect(sandbox.sandboxId);
  console.log((await resumed.files.read("/home/user/state.txt")).trim());
} finally {
  await sandbox.kill();
}
