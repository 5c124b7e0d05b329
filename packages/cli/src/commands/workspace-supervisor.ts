// The supervisor that keeps a workspace's services running. A POSIX sh script (every image has
// /bin/sh; not every image has node or python), copied into the workspace at each
// `wrenn ws services` command and run through envd as the user.
import { SSH_USER, type WorkspaceService } from "@wrenn/contract";
import { CommandExitError, type Sandbox } from "@wrenn/sdk";
import { CliError, EXIT } from "../exit-codes.js";

/** Bumped when the script changes: `wrenn ws version` reports the one in the workspace. */
export const SUPERVISOR_VERSION = "1";

const HOME = `/home/${SSH_USER}`;
export const SUPERVISOR_DIR = `${HOME}/.wrenn`;
const SCRIPT = `${SUPERVISOR_DIR}/supervisor.sh`;
/** Each service's directory: run (its start script), log, pid, keeper.pid, restarts. */
export const serviceDir = (name: string) => `${SUPERVISOR_DIR}/services/${name}`;

/**
 * One keeper process per service (its own session, so it outlives the envd command that
 * started it) runs the service in a session of its own, and when it exits starts it again after
 * 1 s, 2 s, 4 s ... up to 30 s (back to 1 s after a run of 30 s or more). Output is appended to
 * the service's log, which is cut to its last half when it passes 1 MiB, at a start. Stopping
 * signals the keeper, which ends the service's whole session (TERM, then KILL after 10 s).
 */
export const SUPERVISOR_SCRIPT = `#!/bin/sh
# wrenn-supervisor ${SUPERVISOR_VERSION}: keeps this workspace's services running (wrenn ws services).
set -u
root="$HOME/.wrenn/services"
me="$0"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

end_service() {
  if alive "$dir/pid"; then
    pid=$(cat "$dir/pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$dir/pid"
}

keep() {
  dir="$root/$1"
  echo $$ > "$dir/keeper.pid"
  echo 0 > "$dir/restarts"
  sleeper=
  trap 'end_service; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; rm -f "$dir/keeper.pid"; exit 0' TERM INT HUP
  delay=1
  n=0
  while :; do
    if [ -f "$dir/log" ] && [ "$(wc -c < "$dir/log")" -gt 1048576 ]; then
      tail -c 524288 "$dir/log" > "$dir/log.cut" && mv -f "$dir/log.cut" "$dir/log"
    fi
    started=$(date +%s)
    echo "[wrenn-supervisor] $(date -u +%Y-%m-%dT%H:%M:%SZ) start $1" >> "$dir/log"
    setsid sh "$dir/run" >> "$dir/log" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
    wait $!
    code=$?
    rm -f "$dir/pid"
    n=$((n + 1))
    echo $n > "$dir/restarts"
    if [ $(( $(date +%s) - started )) -ge 30 ]; then delay=1; fi
    echo "[wrenn-supervisor] $(date -u +%Y-%m-%dT%H:%M:%SZ) $1 exited with status $code; starting it again in $delay s" >> "$dir/log"
    sleep $delay &
    sleeper=$!
    wait $sleeper
    sleeper=
    delay=$((delay * 2))
    if [ $delay -gt 30 ]; then delay=30; fi
  done
}

stop() {
  dir="$root/$1"
  if alive "$dir/keeper.pid"; then
    kill -TERM "$(cat "$dir/keeper.pid")"
    i=0
    while alive "$dir/keeper.pid" && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  end_service
  rm -f "$dir/keeper.pid"
}

start() {
  dir="$root/$1"
  setsid -f sh "$me" keep "$1" < /dev/null > /dev/null 2>&1
  i=0
  while [ ! -s "$dir/pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}

state() {
  dir="$root/$1"
  if alive "$dir/keeper.pid"; then
    if alive "$dir/pid"; then echo "running $(cat "$dir/pid")"; else echo "restarting -"; fi
  else
    echo "stopped -"
  fi
}

cmd=\${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  keep) keep "$1" ;;
  restart) for s in "$@"; do stop "$s"; start "$s"; done ;;
  stop) for s in "$@"; do stop "$s"; done ;;
  ls)
    [ -d "$root" ] || exit 0
    for d in "$root"/*/; do
      [ -f "$d/run" ] || continue
      s=$(basename "$d")
      printf '%s %s %s\\n' "$s" "$(state "$s")" "$(cat "$d/restarts" 2>/dev/null || echo 0)"
    done ;;
  logs) [ -f "$root/$1/log" ] && tail -n "$2" "$root/$1/log" ;;
  version) echo ${SUPERVISOR_VERSION} ;;
  *) echo "usage: supervisor.sh keep|restart|stop|ls|logs|version" >&2; exit 2 ;;
esac
`;

/** Single-quoted for sh: nothing inside is expanded. */
export const shQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** A service's start script: its directory, its environment, its shell line. */
export function serviceRunScript(service: WorkspaceService): string {
  const env = Object.entries(service.env).map(([k, v]) => shQuote(`${k}=${v}`));
  return [
    "#!/bin/sh",
    `cd ${shQuote(service.cwd ?? HOME)} || exit 1`,
    `exec env ${env.join(" ")} /bin/sh -c ${shQuote(service.command)}`.replace("env  ", "env "),
    "",
  ].join("\n");
}

export interface ServiceState {
  name: string;
  state: "running" | "restarting" | "stopped";
  pid: number | null;
  restarts: number;
}

/** Runs a supervisor command as the user; its stdout. A failure says what failed. */
async function supervise(box: Sandbox, args: string[]): Promise<string> {
  try {
    const result = await box.commands.run(`sh ${SCRIPT} ${args.map(shQuote).join(" ")}`, {
      user: SSH_USER,
      timeoutMs: 120_000,
    });
    return result.stdout;
  } catch (error) {
    if (error instanceof CommandExitError) {
      throw new CliError(
        `the workspace's supervisor failed (${args[0]}): ${error.stderr.trim().slice(0, 300) || `exit ${error.exitCode}`}`,
        EXIT.error,
      );
    }
    throw error;
  }
}

/** Copies the supervisor in, and the start script of each service given. */
export async function installServices(
  box: Sandbox,
  services: Record<string, WorkspaceService>,
): Promise<void> {
  await box.files.write(
    [
      { path: SCRIPT, data: SUPERVISOR_SCRIPT },
      ...Object.entries(services).map(([name, s]) => ({
        path: `${serviceDir(name)}/run`,
        data: serviceRunScript(s),
      })),
    ],
    { user: SSH_USER },
  );
}

export async function restartServices(box: Sandbox, names: string[]): Promise<void> {
  await supervise(box, ["restart", ...names]);
}

export async function stopServices(box: Sandbox, names: string[]): Promise<void> {
  await supervise(box, ["stop", ...names]);
}

/** The services the workspace's supervisor knows (none before it was first installed). */
export async function listServices(box: Sandbox): Promise<ServiceState[]> {
  const installed = await box.files.exists(SCRIPT);
  if (!installed) return [];
  const out = await supervise(box, ["ls"]);
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name = "", state = "stopped", pid = "-", restarts = "0"] = line.split(" ");
      return {
        name,
        state: state as ServiceState["state"],
        pid: pid === "-" ? null : Number(pid),
        restarts: Number(restarts) || 0,
      };
    });
}

export async function serviceLogs(box: Sandbox, name: string, lines: number): Promise<string> {
  if (!(await box.files.exists(SCRIPT))) return "";
  return supervise(box, ["logs", name, String(lines)]);
}

/** The version of the supervisor in the workspace; undefined when none was installed. */
export async function supervisorVersion(box: Sandbox): Promise<string | undefined> {
  if (!(await box.files.exists(SCRIPT))) return undefined;
  return (await supervise(box, ["version"])).trim();
}
