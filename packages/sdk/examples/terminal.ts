// An interactive terminal: type into it, resize it, read what it shows.
import { Sandbox } from "@wrenn/sdk";

const sandbox = await Sandbox.create();
try {
  let screen = "";
  const decoder = new TextDecoder();
  const terminal = await sandbox.pty.create({
    cols: 80,
    rows: 24,
    onData: (data) => {
      screen += decoder.decode(data, { stream: true });
    },
  });
  await sandbox.pty.resize(terminal.pid, { cols: 100, rows: 30 });
  await sandbox.pty.sendInput(terminal.pid, "stty size; exit\n");
  await terminal.wait();
  console.log(screen.includes("30 100") ? "terminal size 30 100" : screen);
} finally {
  await sandbox.kill();
}
