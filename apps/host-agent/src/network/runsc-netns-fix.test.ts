import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../command/run-command.js";
import { sh } from "./network-test-kit.js";
import { netnsFixPrefix, withNetnsFix } from "./runsc-netns-fix.js";

const NETNS = "wtr-netns-fix";
const PATH = `/var/run/netns/${NETNS}`;

beforeAll(async () => {
  await sh("ip", "netns", "del", NETNS).catch(() => {});
  await sh("ip", "netns", "add", NETNS);
});

afterAll(async () => {
  await sh("ip", "netns", "del", NETNS).catch(() => {});
});

describe("runsc netns work-around", () => {
  it.each([
    "netns/x",
    "/var/run/netns/",
    "/var/run/netns/../../etc/passwd",
    "/var/run/netns/a b",
    "/var/run/netns/-n",
    "/var/run/netns/$(reboot)",
    "/tmp/netns/x",
  ])("rejects the namespace path %j", (path) => {
    expect(() => netnsFixPrefix(path)).toThrow(/invalid network namespace path/);
  });

  it("needs a command", () => {
    expect(() => withNetnsFix(PATH, [])).toThrow(/needs a command/);
  });

  it("hides /proc/sys/net/core of the sandbox namespace from the command only", async () => {
    // Stands in for runsc: reports what it sees of the namespace's sysctls, then echoes its
    // arguments, which must arrive verbatim however hostile they look to a shell.
    const command = [
      "sh",
      "-c",
      'nsenter --net="$1" ls -A /proc/sys/net/core | wc -l; shift; printf "[%s]" "$@"',
      "fake-runsc",
      PATH,
      "a b",
      "$(echo pwned)",
      "'\"; exit 1",
      "--root=/x",
    ];
    const argv = withNetnsFix(PATH, command);
    const stdout = await runCommand(argv[0]!, argv.slice(1));
    // Control: the same command without the work-around sees the real directory.
    const plain = await runCommand(command[0]!, command.slice(1));
    expect(Number(plain.split("\n")[0])).toBeGreaterThan(5);
    const [count, echoed] = stdout.split("\n");
    expect(count?.trim()).toBe("0");
    expect(echoed).toBe(`[a b][$(echo pwned)]['"; exit 1][--root=/x]`);
    // The mount lived in a private mount namespace: the host still sees the real directory.
    const after = await sh("ip", "netns", "exec", NETNS, "ls", "-A", "/proc/sys/net/core");
    expect(after.split("\n").filter(Boolean).length).toBeGreaterThan(5);
  });

  it("fails, without running the command, if the namespace does not exist", async () => {
    const argv = withNetnsFix("/var/run/netns/wtr-does-not-exist", ["touch", "/tmp/wtr-ran"]);
    await expect(runCommand(argv[0]!, argv.slice(1))).rejects.toThrow(/failed/);
    await expect(sh("test", "-e", "/tmp/wtr-ran")).rejects.toThrow();
  });
});
