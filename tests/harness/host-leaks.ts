import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** What an agent leaves on the host, by its data dir and name prefix, to compare after a crash. */
export function hostFootprint(dataDir: string, prefix: string) {
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
  const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
    .filter((n) => n.startsWith(prefix));
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dataDir));
  const processes = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(`${dataDir}/runsc`);
      } catch {
        return false;
      }
    });
  return {
    netns: netns.sort(),
    links: links.sort(),
    mounts: mounts.sort(),
    processes: processes.length,
  };
}
