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
  // Listed by pid and arguments, so a leak says which program it is.
  const processes = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return { pid: p, cmdline: readFileSync(`/proc/${p}/cmdline`, "utf8") };
      } catch {
        return { pid: p, cmdline: "" };
      }
    })
    .filter((p) => p.cmdline.includes(`${dataDir}/runsc`) && !agentCommandInFlight(p.pid))
    .map((p) => `${p.pid}: ${p.cmdline.split("\0").join(" ").slice(0, 200)}`);
  return {
    netns: netns.sort(),
    links: links.sort(),
    mounts: mounts.sort(),
    processes: processes.sort(),
  };
}

/**
 * A runsc call the live agent is making right now (`runsc list` every 2 s, say): its child,
 * not a leak. What a crash leaves behind has lost that parent (a daemon, or an orphan).
 */
function agentCommandInFlight(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
    const parent = readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0");
    return parent.includes("serve") && parent.some((a) => a.endsWith("host-agent/dist/main.js"));
  } catch {
    return false;
  }
}
