// Upload a stream, list a directory, download a file as a stream, and watch for changes.
import { Sandbox } from "@wrenn/sdk";

const sandbox = await Sandbox.create();
try {
  const lines = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 1; i <= 1000; i++) controller.enqueue(new TextEncoder().encode(`line ${i}\n`));
      controller.close();
    },
  });
  await sandbox.files.write("/home/user/project/data.txt", lines);
  await sandbox.files.write([
    { path: "/home/user/project/a.txt", data: "A" },
    { path: "/home/user/project/b.bin", data: new Uint8Array([1, 2, 3]) },
  ]);

  for (const entry of await sandbox.files.list("/home/user/project")) {
    console.log(`${entry.type} ${entry.name} ${entry.size}`);
  }

  let bytes = 0;
  for await (const chunk of await sandbox.files.read("/home/user/project/data.txt", {
    format: "stream",
  })) {
    bytes += chunk.length;
  }
  console.log(`downloaded ${bytes} bytes`);

  const watcher = await sandbox.files.watchDir("/home/user/project", (event) => {
    console.log(`event ${event.type} ${event.name}`);
  });
  await sandbox.files.write("/home/user/project/new.txt", "new");
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await watcher.stop();
} finally {
  await sandbox.kill();
}
