import { constants } from "node:os";

// E2B's envd reports Go's os.ProcessState: exit code -1 and "signal: <name>" when a signal
// ended the process, "exit status N" otherwise; `error` repeats the status unless the exit
// was a clean 0.
const SIGNAL_NAMES: Record<string, string> = {
  SIGHUP: "hangup",
  SIGINT: "interrupt",
  SIGQUIT: "quit",
  SIGILL: "illegal instruction",
  SIGTRAP: "trace/breakpoint trap",
  SIGABRT: "aborted",
  SIGBUS: "bus error",
  SIGFPE: "floating point exception",
  SIGKILL: "killed",
  SIGUSR1: "user defined signal 1",
  SIGSEGV: "segmentation fault",
  SIGUSR2: "user defined signal 2",
  SIGPIPE: "broken pipe",
  SIGALRM: "alarm clock",
  SIGTERM: "terminated",
  SIGXCPU: "CPU time limit exceeded",
  SIGXFSZ: "file size limit exceeded",
  SIGSYS: "bad system call",
};

export interface ExitStatus {
  exitCode: number;
  exited: boolean;
  status: string;
  error?: string;
}

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): ExitStatus {
  if (signal) {
    const number = constants.signals[signal];
    const name = SIGNAL_NAMES[signal] ?? (number ? `signal ${number}` : signal);
    const status = `signal: ${name}`;
    return { exitCode: -1, exited: false, status, error: status };
  }
  const exitCode = code ?? -1;
  const status = `exit status ${exitCode}`;
  return exitCode === 0
    ? { exitCode, exited: true, status }
    : { exitCode, exited: true, status, error: status };
}
