import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BootPath, PauseMode } from "@wrenn/proto/hostagent";
import { Process, Signal } from "@wrenn/proto/process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { hasBaseCheckpoint } from "../harness/checkpoint-seed.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

// The base template's promises, checked inside a real gVisor sandbox: `user` has passwordless
// sudo (gVisor runs no set-user-ID program, so images/base/tools supplies it), and the
// coreutils everyone uses work.

const id = "sb-00000b01";
let agent: AgentProcess;

beforeAll(async () => {
  agent = await AgentProcess.start({ poolSize: 0 });
  // Sandboxes normally start from the template's checkpoint: test that path.
  await waitFor(() => hasBaseCheckpoint(agent.dataDir), 180_000, "the template checkpoint");
  const { sandbox } = await agent.client.createSandbox({ sandboxId: id, template: "base" });
  expect(sandbox?.bootPath).toBe(BootPath.TEMPLATE_RESTORE);
});

afterEach(({ task }) => {
  // What the agent saw (a sandbox that died, a failed restore) explains most failures here.
  if (task.result?.state === "fail") console.error(agent?.output.slice(-4000));
});

afterAll(async () => {
  await agent?.dispose();
});

/** Runs a bash command line as `user`, as the SDK's commands.run does. */
function sh(command: string) {
  return execInSandbox(agent.url, id, command);
}

function processClient() {
  const forward: Interceptor = (next) => (req) => {
    req.header.set("wrenn-forward-sandbox", id);
    req.header.set("wrenn-forward-port", "49983");
    return next(req);
  };
  return createClient(
    Process,
    createConnectTransport({ baseUrl: agent.url, httpVersion: "1.1", interceptors: [forward] }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A command started through envd's process service, to signal it as the SDK's kill() does. */
function startCommand(command: string) {
  const client = processClient();
  let output = "";
  let resolvePid: (pid: number) => void = () => {};
  const pid = new Promise<number>((r) => {
    resolvePid = r;
  });
  const end = (async () => {
    let result = "";
    for await (const res of client.start({
      process: { cmd: "/bin/bash", args: ["-l", "-c", command] },
    })) {
      const ev = res.event?.event;
      if (ev?.case === "start") resolvePid(ev.value.pid);
      if (ev?.case === "data" && ev.value.output.value) {
        output += Buffer.from(ev.value.output.value).toString();
      }
      if (ev?.case === "end") result = ev.value.status;
    }
    return { status: result, output };
  })();
  const signal = async (signal: Signal) =>
    client.sendSignal({ process: { selector: { case: "pid", value: await pid } }, signal });
  return { pid, end, signal, output: () => output };
}

/** An interactive login shell on a pty, driven like a person at a terminal. */
async function openTerminal(cols = 80, rows = 24) {
  const client = processClient();
  const abort = new AbortController();
  let screen = "";
  const waiters: Array<{ text: string; since: number; resolve: () => void }> = [];
  let resolvePid: (pid: number) => void = () => {};
  const pidReady = new Promise<number>((r) => {
    resolvePid = r;
  });
  const reading = (async () => {
    for await (const res of client.start(
      {
        process: { cmd: "/bin/bash", args: ["-i", "-l"], envs: { TERM: "xterm" } },
        pty: { size: { cols, rows } },
      },
      { signal: abort.signal },
    )) {
      const ev = res.event?.event;
      if (ev?.case === "start") resolvePid(ev.value.pid);
      if (ev?.case === "data" && ev.value.output.case === "pty") {
        screen += Buffer.from(ev.value.output.value).toString();
        for (const w of [...waiters]) {
          if (screen.includes(w.text, w.since)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      }
    }
  })().catch(() => {});
  const pid = await pidReady;
  const selector = { selector: { case: "pid" as const, value: pid } };
  return {
    type: (keys: string) =>
      client.sendInput({
        process: selector,
        input: { input: { case: "pty", value: Buffer.from(keys) } },
      }),
    /** Where the screen ends now: waitFor(text, mark) looks only at what comes after. */
    mark: () => screen.length,
    /** Waits for text; pick text that only output, not the echo of what was typed, has. */
    waitFor: (text: string, since = 0, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (screen.includes(text, since)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`no ${JSON.stringify(text)} on the screen:\n${screen}`)),
          timeoutMs,
        );
        waiters.push({
          text,
          since,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    resize: (cols: number, rows: number) =>
      client.update({ process: selector, pty: { size: { cols, rows } } }),
    screen: () => screen,
    close: async () => {
      await client.sendSignal({ process: selector, signal: Signal.SIGKILL }).catch(() => undefined);
      abort.abort();
      await reading;
    },
  };
}

describe("base template: sudo", () => {
  it("runs commands as root, or as another user, without a password", async () => {
    expect(await sh("sudo whoami")).toMatchObject({ stdout: "root\n", exitCode: 0 });
    expect(await sh("sudo -u nobody id -u")).toMatchObject({ stdout: "65534\n", exitCode: 0 });
    expect(await sh("sudo -n true && sudo -v && echo ok")).toMatchObject({ stdout: "ok\n" });
    // The real sudo decides, with Debian's sudoers: user's own rule, secure_path, env_reset.
    const listed = await sh("sudo -l");
    expect(listed.stdout).toContain("(ALL : ALL) NOPASSWD: ALL");
    const env = await sh("cd /tmp && sudo sh -c 'echo $PWD $HOME $SUDO_USER $SUDO_UID $PATH'");
    expect(env.stdout).toBe(
      "/tmp /root user 1000 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
  });

  it("keeps the environment with -E and drops it without", async () => {
    const r = await sh(
      `export WRENN_TEST_VAR=kept; sudo -E sh -c 'echo "[$WRENN_TEST_VAR]"'; sudo sh -c 'echo "[$WRENN_TEST_VAR]"'`,
    );
    expect(r).toMatchObject({ stdout: "[kept]\n[]\n", exitCode: 0 });
  });

  it("writes where only root may, and the user still may not", async () => {
    const r = await sh(
      "sudo sh -c 'echo written-by-root > /root/wrenn-sudo-test'; sudo cat /root/wrenn-sudo-test; cat /root/wrenn-sudo-test",
    );
    expect(r.stdout).toBe("written-by-root\n");
    expect(r.stderr).toContain("Permission denied");
    expect(r.exitCode).toBe(1);
  });

  it("passes exit codes through, and dies of the signal that killed the command", async () => {
    expect((await sh("sudo false")).exitCode).toBe(1);
    expect((await sh("sudo sh -c 'exit 7'")).exitCode).toBe(7);
    const term = await sh(`sudo sh -c 'kill -TERM $$'; echo "rc=$?"`);
    expect(term.stdout).toBe("rc=143\n");
    expect(term.stderr).toContain("Terminated");
    const killed = await sh(`sudo sh -c 'kill -KILL $$'; echo "rc=$?"`);
    expect(killed.stdout).toBe("rc=137\n");
    expect(killed.stderr).toContain("Killed");
    const missing = await sh("sudo no-such-command-here");
    expect(missing).toMatchObject({ exitCode: 1 });
    expect(missing.stderr).toContain("sudo: no-such-command-here: command not found");
  });

  it("relays a signal sent to sudo to the command", async () => {
    const r = await sh(
      `sudo sleep 321 & pid=$!; sleep 1; kill -TERM $pid; wait $pid; echo "rc=$?"; sleep 0.5; ps -eo args | grep -c '^sleep 321'`,
    );
    expect(r.stdout).toBe("rc=143\n0\n");
  });

  it("leaves what the command started in the background running, as sudo does", async () => {
    // Without a terminal, as from the SDK: a daemon started through sudo keeps running.
    const r = await sh(
      "sudo sh -c 'sleep 556 > /dev/null 2>&1 &'; sleep 0.5; ps -eo user=,args= | grep -c '^root *sleep 556$'; sudo pkill -x -f 'sleep 556'",
    );
    expect(r.stdout).toBe("1\n");
  });

  it("carries stdin, stdout and stderr, pipes and redirections included", async () => {
    expect(await sh("echo hi | sudo cat")).toMatchObject({ stdout: "hi\n", exitCode: 0 });
    const r = await sh(
      "sudo sh -c 'cat; echo to-stderr >&2' < /etc/hostname 2>/tmp/err; cat /tmp/err; echo data | sudo tee /root/t >/dev/null && sudo cat /root/t",
    );
    expect(r.stdout).toBe("sandbox\nto-stderr\ndata\n");
  });

  it("gives root's login shell with -i and runs su, apt-get and sudoedit", async () => {
    expect(await sh("sudo -i pwd")).toMatchObject({ stdout: "/root\n", exitCode: 0 });
    expect(await sh("sudo su -c 'id -un'")).toMatchObject({ stdout: "root\n", exitCode: 0 });
    expect((await sh("sudo apt-get --version")).stdout).toMatch(/^apt \d/);
    expect(await sh("SUDO_EDITOR=cat sudoedit /etc/hostname")).toMatchObject({
      stdout: "sandbox\n",
      exitCode: 0,
    });
  });

  it("refuses a user whom sudoers does not allow, and identities cannot be forged", async () => {
    await sh("sudo useradd --create-home wrenn-nosudo");
    const refused = await sh("sudo -u wrenn-nosudo sudo -n id -u");
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("sudo: a password is required");
    const noTerminal = await sh("sudo -u wrenn-nosudo sudo id -u < /dev/null");
    expect(noTerminal).toMatchObject({ stdout: "", exitCode: 1 });
    // Talking to the daemon directly: claiming root's credentials is refused by the sentry.
    // A request that sends no credentials is refused by the daemon under bookworm's gVisor;
    // newer gVisor, like Linux, attaches the caller's real credentials itself (the daemon
    // sets SO_PASSCRED), so the daemon runs sudo for wrenn-nosudo, and sudo refuses it.
    const script = `
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("/dev/wrenn/sudo.sock")
body = b"sudo\\0id\\0"
hdr = struct.pack("<7I5iQQ", 0x57535544, 1, 2, 0, len(body), 0o22, 0, -1, -1, -1, -1, -1, 0, 0)
hdr += struct.pack("<32Q", *([2**64 - 1] * 32))
creds = [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("3i", os.getpid(), 0, 0))]
try:
    s.sendmsg([hdr], creds if sys.argv[1] == "forged" else [])
    s.sendall(body)
    ev = s.recv(8)
    kind, status = struct.unpack("<Ii", ev) if len(ev) == 8 else (0, 0)
    print("answer", len(ev), "exited nonzero" if kind == 4 and status != 0 else kind)
except OSError as e:
    print("refused", e.errno)
`;
    const r = await sh(
      `cat > /tmp/forge.py <<'EOF'\n${script}\nEOF\nsudo -u wrenn-nosudo python3 /tmp/forge.py forged; sudo -u wrenn-nosudo python3 /tmp/forge.py none`,
    );
    expect(r.stdout).toMatch(
      /^refused 1\n(answer 0 0|refused (104|32)|answer 8 exited nonzero)\n$/,
    );
  });

  it("survives malformed requests", async () => {
    const daemon = "ps -eo pid=,ppid=,args= | awk '$2 == 1 && $3 == \"wrenn-sudod\" {print $1}'";
    const before = (await sh(daemon)).stdout;
    expect(before).toMatch(/^\d+\n$/);
    const script = `
import os, socket, struct
creds = [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("3i", os.getpid(), os.getuid(), os.getgid()))]
def header(argc=2, body=8, index=(-1, -1, -1, -1, -1)):
    return struct.pack("<7I5iQQ", 0x57535544, 1, argc, 0, body, 0o22, 0, *index, 0, 0) + struct.pack("<32Q", *([0] * 32))
fd0 = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", 0))]
cases = [
    ([os.urandom(400)], creds, b""),
    ([header(body=2**31)], creds, b""),
    ([header(argc=10**6, body=2 * 10**6)], creds, b""),
    ([header(body=100)], creds, b"sudo\\0id\\0"),
    ([header()], creds, b"sudoXidXX"),
    ([header(index=(3, -1, -1, -1, -1))], creds, b""),
    ([header()], creds + fd0, b""),
    ([header(index=(-1, -1, -1, -1, 0))], creds + fd0, b""),
    ([header()], creds + [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("8i", *([0] * 8)))], b""),
    ([header()[:50]], creds, b""),
]
for data, ancillary, body in cases:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/dev/wrenn/sudo.sock")
    try:
        s.sendmsg(data, ancillary)
        s.sendall(body)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(40)
        print(len(s.recv(8)))
    except OSError:
        print("reset")
    s.close()
`;
    const r = await sh(`cat > /tmp/bad.py <<'EOF'\n${script}\nEOF\npython3 /tmp/bad.py`);
    // Each one is dropped without an answer, none runs anything.
    expect(r.stdout.trim().split("\n")).toHaveLength(10);
    expect(r.stdout).not.toMatch(/^8$/m);
    expect(await sh(daemon)).toMatchObject({ stdout: before });
    expect(await sh("sudo whoami")).toMatchObject({ stdout: "root\n" });
  });

  it("is killed with the command envd kills, and relays envd's SIGTERM", async () => {
    const term = startCommand(
      `sudo sh -c 'trap "echo got-term; exit 3" TERM; echo ready; sleep 1000 & wait'`,
    );
    await waitFor(() => term.output().includes("ready"), 20_000, "the command to start");
    await term.signal(Signal.SIGTERM);
    expect(await term.end).toEqual({ status: "exit status 3", output: "ready\ngot-term\n" });

    const killed = startCommand("sudo sh -c 'echo ready; exec sleep 1001'");
    await waitFor(() => killed.output().includes("ready"), 20_000, "the command to start");
    await killed.signal(Signal.SIGKILL);
    expect((await killed.end).status).toBe("signal: killed");
    await sleep(500);
    expect((await sh("ps -eo args | grep -c '^sleep 1001'")).stdout).toBe("0\n");
  });

  it("is interactive on a terminal: job control, ^C, ^Z and fg, window size", async () => {
    const term = await openTerminal(80, 24);
    const userPrompt = "user@sandbox:~$";
    /**
     * Types, then waits for each text in turn. Keys typed before the screen shows that their
     * reader is ready could go to the wrong program.
     */
    const expectAfter = async (keys: string, ...texts: string[]) => {
      let mark = term.mark();
      await term.type(keys);
      for (const text of texts) {
        await term.waitFor(text, mark);
        mark = term.screen().indexOf(text, mark) + text.length;
      }
    };
    try {
      await term.waitFor(userPrompt);
      await expectAfter("sudo bash\n", "root@sandbox:/home/user#");
      await expectAfter("echo U-$(id -u)-$((6*7))\n", "U-0-42");
      expect(term.screen()).not.toContain("no job control");
      // ^C stops the foreground job of the root shell, not the shell.
      await expectAfter("sh -c 'echo S-$((9*9)); exec sleep 300'\n", "S-81");
      await expectAfter("\x03", "root@sandbox:/home/user#");
      await expectAfter("echo C-$?-$((1+1))\n", "C-130-2");
      await expectAfter("exit\n", userPrompt);
      await expectAfter("echo B-$(id -u)-$((2+2))\n", "B-1000-4");

      // ^C on sudo itself: the command dies of SIGINT, and so does sudo for the shell.
      await expectAfter("sudo sh -c 'echo S2-$((2*50)); exec sleep 300'\n", "S2-100");
      await expectAfter("\x03", userPrompt);
      await expectAfter("echo D-$?-$((3+3))\n", "D-130-6");

      // ^Z stops the command and gives the prompt back; fg resumes it.
      await expectAfter(
        `sudo sh -c 'trap "echo CONT-\\$((5*5))" CONT; echo Z-$((3*7)); while :; do sleep 1; done'\n`,
        "Z-21",
      );
      await expectAfter("\x1a", "Stopped", userPrompt);
      await expectAfter("fg\n", "CONT-25");
      await expectAfter("\x03", userPrompt);
      await expectAfter("echo E-$?-$((4+4))\n", "E-130-8");

      // The pty follows the terminal's size, at start and while the command runs.
      await expectAfter("sudo stty size; echo F-$((5+5))\n", "24 80\r\nF-10", userPrompt);
      await expectAfter(
        `sudo sh -c 'trap "stty size" WINCH; echo W-$((6+6)); while :; do sleep 1; done'\n`,
        "W-12",
      );
      const mark = term.mark();
      await term.resize(100, 30);
      await term.waitFor("30 100", mark);
      await expectAfter("\x03", userPrompt);

      // When sudo is done, what its command left on the terminal gets SIGHUP, as under Linux.
      await expectAfter("sudo sh -c 'sleep 555 & echo J-$((9+9))'\n", "J-18", userPrompt);
      await expectAfter(
        "for i in 1 2 3 4 5; do ps -eo args | grep -q '^sleep 555' || break; sleep 0.2; done; echo K-$(ps -eo args | grep -c '^sleep 555')\n",
        "K-0",
      );

      await expectAfter("sudo -i\n", "root@sandbox:~#");
      await expectAfter("echo G-$(pwd)-$((7+7))\n", "G-/root-14");
      await expectAfter("exit\n", userPrompt);
      await expectAfter("echo H-$(id -u)-$((8+8))\n", "H-1000-16");
    } finally {
      await term.close();
    }
  });

  it("keeps working across a checkpoint, with a sudo command in flight", async () => {
    await sh(
      "(sudo sh -c 'sleep 3; echo finished > /tmp/after-restore' > /dev/null 2>&1 &); sleep 1",
    );
    const paused = await agent.client.pauseSandbox({ sandboxId: id });
    expect(paused.sandbox?.pauseMode).toBe(PauseMode.CHECKPOINT);
    await agent.client.resumeSandbox({ sandboxId: id });
    await sleep(4000);
    expect(await sh("cat /tmp/after-restore; sudo whoami")).toMatchObject({
      stdout: "finished\nroot\n",
    });
  });
});

describe("base template: sudo in a sandbox that booted cold", () => {
  let cold: AgentProcess;
  beforeAll(async () => {
    cold = await AgentProcess.start({ poolSize: 0, templateRestore: false });
    const { sandbox } = await cold.client.createSandbox({
      sandboxId: "sb-00000b02",
      template: "base",
    });
    expect(sandbox?.bootPath).toBe(BootPath.COLD_BOOT);
  });
  afterAll(async () => {
    await cold?.dispose();
  });

  it("has the daemon from the first command on", async () => {
    const r = await execInSandbox(cold.url, "sb-00000b02", "sudo whoami; echo hi | sudo cat");
    expect(r).toMatchObject({ stdout: "root\nhi\n", exitCode: 0 });
  });
});

describe("base template: terminals", () => {
  it("shows python's KeyboardInterrupt traceback at once on ^C in a terminal", async () => {
    // This gVisor blocks a zero-length write to a tty until a signal; python makes one before
    // the traceback, which then never showed. The template's preload answers it at once.
    const term = await openTerminal();
    try {
      await term.type('python3 -c \'import time; print("sleep" + "ing"); time.sleep(60)\'\r');
      await term.waitFor("sleeping");
      const mark = term.mark();
      await term.type("\x03");
      await term.waitFor("KeyboardInterrupt", mark, 10_000);
      await term.type("echo zero-write-$((40+2))\r");
      await term.waitFor("zero-write-42", mark, 10_000);
    } finally {
      await term.close();
    }
  });
});

describe("base template: coreutils", () => {
  // bookworm's coreutils call statx() with AT_NO_AUTOMOUNT, which bookworm's gVisor rejects;
  // the template preloads a shim that retries without it (images/base/native), which the
  // agent leaves out under a newer runsc that has no such bug.
  it("lists directories and stats files", async () => {
    expect(await sh("touch /tmp/listed && ls /tmp")).toMatchObject({ exitCode: 0 });
    expect((await sh("ls /tmp")).stdout).toContain("listed");
    expect(await sh("stat -c %s /etc/hostname")).toMatchObject({ stdout: "8\n", exitCode: 0 });
  });
});

describe("base template: what every command pays", () => {
  // Each program started costs tens of ms under gVisor: the login shell every SDK command
  // runs in must start none before the command (bash -x shows a command substitution's
  // programs as `++` lines and its own as `+`).
  it("starts no program in a login shell before the command, as user or root", async () => {
    for (const user of ["user", "root"]) {
      const r = await execInSandbox(agent.url, id, "true", { user });
      expect(r.exitCode).toBe(0);
      const traced = await execInSandbox(agent.url, id, "bash -lxc 'echo done' 2>&1", { user });
      expect(traced.stdout).toContain("done");
      expect(traced.stdout).not.toMatch(/^\++ (id|mesg|tty)\b/m);
    }
  });

  it("preloads the 2022 runsc's work-arounds only under that runsc", async () => {
    const line = agent.output.split("\n").find((l) => l.includes('"component":"runtime"'));
    const { needsGuestShims } = JSON.parse(line ?? "{}") as { needsGuestShims?: boolean };
    expect(typeof needsGuestShims).toBe("boolean");
    const preload = await sh("cat /etc/ld.so.preload 2>/dev/null; true");
    for (const shim of ["libstatx-noautomount.so", "libtty-zero-write.so"]) {
      if (needsGuestShims) expect(preload.stdout).toContain(shim);
      else expect(preload.stdout).not.toContain(shim);
    }
  });
});
