import { invalidArgument } from "./errors.js";

/**
 * This runsc, on kernels >= 6, wrongly concludes it runs in the root network namespace and
 * refuses to start with networking (gVisor issue 10704). Hiding /proc/sys/net/core, as seen
 * from the sandbox's namespace, inside a private mount namespace of the runsc process avoids
 * the bad check without touching the rest of the host. The script is constant; the namespace
 * path and the command arrive as positional parameters, so nothing is ever parsed by a shell.
 */
const SCRIPT =
  'ns=$1; shift; nsenter --net="$ns" mount -t tmpfs -o size=4k,mode=555 gvisor-netns-fix ' +
  '/proc/sys/net/core && exec "$@"';

const NETNS_PATH = /^\/(var\/)?run\/netns\/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The argv prefix that runs a command inside the work-around; append the runsc argv:
 * `[...netnsFixPrefix(p), "runsc", "--root", ..., "run", ...]`, then execFile(argv[0], rest).
 */
export function netnsFixPrefix(netnsPath: string): string[] {
  if (typeof netnsPath !== "string" || !NETNS_PATH.test(netnsPath)) {
    throw invalidArgument(
      `invalid network namespace path ${JSON.stringify(netnsPath)} (want /var/run/netns/NAME)`,
    );
  }
  return [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    SCRIPT,
    "wrenn-netns-fix",
    netnsPath,
  ];
}

/** `argv` is the full command (program first), e.g. ["runsc", "--root", "/run/wrenn", ...]. */
export function withNetnsFix(netnsPath: string, argv: readonly string[]): string[] {
  if (argv.length === 0 || typeof argv[0] !== "string" || argv[0] === "") {
    throw invalidArgument("withNetnsFix needs a command to run");
  }
  return [...netnsFixPrefix(netnsPath), ...argv];
}
