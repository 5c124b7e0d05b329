const TCP_STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
};

/** Every TCP socket not fully closed, from /proc/net/tcp{,6} text: "LISTEN port 8000". */
export function openTcpSockets(procNetTcp: string): string[] {
  const out: string[] = [];
  for (const line of procNetTcp.split("\n")) {
    const f = line.trim().split(/\s+/);
    const state = f[3]?.toUpperCase();
    if (!f[0]?.endsWith(":") || !state || state === "07") continue;
    const port = Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
    out.push(`${TCP_STATES[state] ?? `state ${state}`} port ${port}`);
  }
  return out;
}

/** A blocker of openTcpSockets that is a listening socket ("LISTEN port 8000"). */
export function isListening(blocker: string): boolean {
  return blocker.startsWith("LISTEN ");
}
