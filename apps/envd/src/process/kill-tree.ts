import { readdir, readFile } from "node:fs/promises";

// Every command runs as the leader of its own session (wrenn-pty calls setsid), so "the
// process and everything it started" is: its process group, plus any other process group in
// its session (an interactive shell puts each job in a group of its own). Only processes that
// start a session of their own (daemons) escape, as they would on any Linux system.

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** Pids whose session id is `sid`, read from /proc/<pid>/stat. */
export async function sessionMembers(sid: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return [];
  }
  const members: number[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, "latin1");
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // fields: state ppid pgrp session ...
        if (Number(fields[3]) === sid) members.push(Number(entry));
      } catch {
        // The process exited while we looked.
      }
    }),
  );
  return members;
}

export async function killSession(sid: number, signal: NodeJS.Signals): Promise<void> {
  signalGroup(sid, signal);
  const members = await sessionMembers(sid);
  for (const pid of members) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
