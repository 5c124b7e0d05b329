import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { runCommand } from "../command/run-command.js";
import { invalidArgument } from "./errors.js";

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

/**
 * IPv4 forwarding is host-wide, so it is reference-counted host-wide: each manager (one per
 * nftables table) that has a sandbox with internet access holds a marker file in `dir`.
 * The first holder that finds forwarding off turns it on and records that it did; when the
 * last holder lets go, it is turned off again. Forwarding that was already on (Docker, a
 * router) is never turned off. The critical sections run under flock(1) so two managers
 * cannot interleave, and the lock dies with its process, so a kill -9 cannot wedge it. The
 * scripts are constant text; the directory and marker arrive as positional parameters.
 */
const ACQUIRE = `set -e
d=$1; m=$2
mkdir -p "$d"
: > "$d/holder-$m"
if [ "$(cat ${IP_FORWARD})" = 0 ]; then
  [ -e "$d/restore-off" ] || : > "$d/restore-off"
  echo 1 > ${IP_FORWARD}
fi
`;

const RELEASE = `set -e
d=$1; m=$2
[ -d "$d" ] || exit 0
rm -f "$d/holder-$m"
for f in "$d"/holder-*; do [ -e "$f" ] && exit 0; done
if [ -e "$d/restore-off" ]; then
  echo 0 > ${IP_FORWARD}
  rm -f "$d/restore-off"
fi
`;

export class ForwardingSwitch {
  private held = false;
  /** Until the first release we cannot know that no marker of ours is left from a crash. */
  private mayHold = true;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly holder: string,
  ) {
    if (!dir.startsWith("/") || dir.includes("\n")) {
      throw invalidArgument(`forwarding state dir must be an absolute path: ${dir}`);
    }
    if (!/^[a-z0-9_]+$/.test(holder)) throw invalidArgument(`invalid holder name ${holder}`);
  }

  /**
   * Holds or lets go according to `wanted()`, evaluated inside a queue: whatever order
   * concurrent setups and teardowns finish in, the last sync sees the final state. Cheap
   * when nothing changes: one read of /proc (in case someone switched forwarding off).
   * `force` ignores what this instance believes it holds: the marker is per table, so an
   * earlier process (crashed, or another instance) may have left it.
   */
  sync(wanted: () => boolean, options: { force?: boolean } = {}): Promise<void> {
    const run = this.queue.then(async () => {
      if (wanted()) {
        const on = async () => (await readFile(IP_FORWARD, "utf8")).trim() === "1";
        if (this.held && !options.force && (await on())) return;
        await this.run(ACQUIRE);
        this.held = true;
        this.mayHold = true;
      } else if (this.mayHold || options.force) {
        await this.run(RELEASE);
        this.held = false;
        this.mayHold = false;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(script: string): Promise<void> {
    await mkdir(dirname(this.dir), { recursive: true });
    await runCommand("flock", [
      `${this.dir}.lock`,
      "sh",
      "-c",
      script,
      "sh",
      this.dir,
      this.holder,
    ]);
  }
}
