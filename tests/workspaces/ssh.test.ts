import { execFile, spawn } from "node:child_process";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { isSshHostKey } from "@wrenn/contract";
import { SshKeys, Workspaces } from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, WRENN_MAIN, wrenn } from "../cli/wrenn-cli.js";
import { Stack, type UserKey } from "../e2e-stack/stack.js";

// SSH into a workspace through the control plane's own port, with the real OpenSSH client:
// `ssh -o ProxyCommand="wrenn ssh --stdio NAME"`, keys registered with /v1/ssh-keys, sshd on
// the workspace's loopback reached through the host agent and envd.
//
// The "laptop" runs on this host's loopback, not in a network namespace of its own: the test
// stack's control plane listens on 127.0.0.1 only, which no other namespace can reach without
// route_localnet and a DNAT on the host's loopback (a change to the loopback of every stack
// running on this machine). Its HOME is a temp dir; ssh gets -F and key paths explicitly,
// since OpenSSH reads ~/.ssh from the passwd entry, not $HOME.

const run = promisify(execFile);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function ssh(args: string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("SSH into a workspace over the control plane's port", () => {
  let stack: Stack;
  let user: UserKey;
  let other: UserKey;
  let home: string;
  let env: Record<string, string>;
  let otherEnv: Record<string, string>;
  const proxy = (name: string) =>
    `ProxyCommand=${process.execPath} ${WRENN_MAIN} ssh --stdio ${name}`;
  /** ssh with nothing of this machine's config, a key of ours and a known_hosts of our own. */
  const sshArgs = (name: string, key: string, strict = "accept-new") => [
    "-F",
    "/dev/null",
    "-i",
    join(home, ".ssh", key),
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${join(home, ".ssh", "known_hosts")}`,
    "-o",
    `StrictHostKeyChecking=${strict}`,
    "-o",
    `HostKeyAlias=${name}.wrenn`,
    "-o",
    proxy(name),
    "-o",
    "ConnectTimeout=600",
    `user@${name}.wrenn`,
  ];

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "ssh-owner" });
    other = await stack.key({ name: "ssh-other" });
    env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
    home = join(env.XDG_CONFIG_HOME as string, "..", "home");
    env.HOME = home;
    otherEnv = { ...env, WRENN_API_KEY: other.key };
    await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
    for (const name of ["id_ed25519", "stranger", "others"]) {
      await run("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `${name}@laptop`,
        "-f",
        join(home, ".ssh", name),
      ]);
    }
  });
  afterAll(() => stack?.close());

  /** How the sandbox's last pause went ("checkpoint" to disk, or "freeze" in memory). */
  const lastPauseMode = async (sandboxId: string): Promise<unknown> => {
    for (let i = 0; i < 100; i++) {
      const rows = (
        await stack.cp.db.query<{ detail: { mode?: unknown } | null }>(
          "SELECT detail FROM audit_events WHERE sandbox_id = $1 AND action = 'sandbox.pause' ORDER BY id DESC LIMIT 1",
          [sandboxId],
        )
      ).rows;
      if (rows[0]) return rows[0].detail?.mode;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  };
  /** sshd's listening socket blocks a checkpoint: it runs only while a tunnel is open. */
  const sshdRunning = async (sandboxId: string): Promise<boolean> => {
    const r = await stack.call("POST", `/v1/sandboxes/${sandboxId}/exec`, {
      key: user.key,
      body: { command: "test -e /run/wrenn-sshd.pid && echo yes || echo no" },
    });
    return (r.body as { stdout: string }).stdout.trim() === "yes";
  };

  test("a workspace never reached by ssh suspends as a checkpoint (no sshd listening)", async () => {
    const opts = { apiKey: user.key, apiUrl: stack.url };
    const ws = await Workspaces.create("plain", { ...opts, vcpus: 1, memoryMb: 512, diskGb: 2 });
    expect(await sshdRunning(ws.sandboxId as string)).toBe(false);
    expect((await Workspaces.suspend("plain", opts)).state).toBe("suspended");
    expect(await lastPauseMode(ws.sandboxId as string)).toBe("checkpoint");
    await Workspaces.destroy("plain", opts);
  });

  test("keys: registered from ~/.ssh by the CLI, listed with their fingerprint; bad ones are 4xx", async () => {
    const added = await wrenn(["ssh-key", "add", "--json"], { env });
    expect(added.code, added.stderr).toBe(0);
    const key = JSON.parse(added.stdout) as { id: string; fingerprint: string; name: string };
    const printed = (await run("ssh-keygen", ["-lf", join(home, ".ssh", "id_ed25519.pub")])).stdout;
    expect(printed.split(" ")[1]).toBe(key.fingerprint);
    expect(key.name).toBe("id_ed25519@laptop");
    // 64 random bits.
    expect(key.id).toMatch(/^key-[0-9a-f]{16}$/);
    expect((await SshKeys.list({ apiKey: user.key, apiUrl: stack.url })).map((k) => k.id)).toEqual([
      key.id,
    ]);
    // The other owner registers a key of its own: it opens none of our workspaces.
    const others = await readFile(join(home, ".ssh", "others.pub"), "utf8");
    await SshKeys.add(others, { apiKey: other.key, apiUrl: stack.url });

    const pub = await readFile(join(home, ".ssh", "id_ed25519.pub"), "utf8");
    const [type, data] = pub.split(" ");
    const rsa1024 = (
      await run("ssh-keygen", [
        "-q",
        "-t",
        "rsa",
        "-b",
        "1024",
        "-N",
        "",
        "-f",
        join(home, "weak"),
      ]).then(() => readFile(join(home, "weak.pub"), "utf8"))
    ).trim();
    const cases: [unknown, number, string][] = [
      [{ publicKey: "not a key" }, 400, "invalid_ssh_key"],
      [{ publicKey: `${type} ${data?.slice(0, -8)}` }, 400, "invalid_ssh_key"],
      [{ publicKey: `ssh-rsa ${data}` }, 400, "invalid_ssh_key"],
      [{ publicKey: rsa1024 }, 400, "invalid_ssh_key"],
      [{ publicKey: `${type} ${data} ${"x".repeat(9000)}` }, 400, "invalid_request"],
      [{ publicKey: "-----BEGIN OPENSSH PRIVATE KEY-----" }, 400, "invalid_ssh_key"],
      [{ publicKey: `${type} ${data} other comment` }, 409, "ssh_key_taken"],
      [{ publicKey: pub, extra: 1 }, 400, "invalid_request"],
    ];
    for (const [body, status, code] of cases) {
      const r = await stack.call("POST", "/v1/ssh-keys", { key: user.key, body });
      expect(r.status, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`).toBe(status);
      expect((r.body as { error: { code: string } }).error.code).toBe(code);
    }
    for (const id of ["key-00000000", "key-0000000000000000"]) {
      const gone = await stack.call("DELETE", `/v1/ssh-keys/${id}`, { key: user.key });
      expect(gone.status).toBe(404);
      expect((gone.body as { error: { code: string } }).error.code).toBe("ssh_key_not_found");
    }
    // Nothing of the refused ones was stored.
    expect(await SshKeys.list({ apiKey: user.key, apiUrl: stack.url })).toHaveLength(1);

    // Adding and removing a key are audited, like the owner's other actions.
    const opts = { apiKey: user.key, apiUrl: stack.url };
    const passing = await SshKeys.add(
      await readFile(join(home, ".ssh", "stranger.pub"), "utf8"),
      opts,
    );
    await SshKeys.remove(passing.id, opts);
    const audited = (
      await stack.cp.db.query<{ action: string; owner_id: string; detail: { sshKeyId?: string } }>(
        "SELECT action, owner_id, detail FROM audit_events WHERE action LIKE 'ssh_key.%' ORDER BY id",
      )
    ).rows.filter((r) => r.detail?.sshKeyId === passing.id);
    expect(audited.map((r) => r.action)).toEqual(["ssh_key.add", "ssh_key.remove"]);
    expect(new Set(audited.map((r) => r.owner_id)).size).toBe(1);

    const unknown = await wrenn(["ssh", "--stdio", "nobody"], { env });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/workspace nobody not found/);
  });

  test("ssh through the ProxyCommand: the registered key gets in as user, no other key or owner does", async () => {
    const ws = await Workspaces.create("box", {
      apiKey: user.key,
      apiUrl: stack.url,
      vcpus: 1,
      memoryMb: 512,
      diskGb: 2,
    });
    const who = await ssh([...sshArgs("box", "id_ed25519"), "id -un"], env);
    expect(who.stderr + who.stdout).toContain("user");
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toBe("user\n");

    const wrote = await ssh(
      [...sshArgs("box", "id_ed25519"), "echo written by ssh > ~/from-ssh.txt"],
      env,
    );
    expect(wrote.code, wrote.stderr).toBe(0);
    const file = await stack.call(
      "GET",
      `/v1/sandboxes/${ws.sandboxId}/files?path=/home/user/from-ssh.txt`,
      {
        key: user.key,
      },
    );
    expect(file.text).toBe("written by ssh\n");

    const stranger = await ssh([...sshArgs("box", "stranger"), "id -un"], env);
    expect(stranger.code).toBe(255);
    expect(stranger.stderr).toMatch(/Permission denied \(publickey\)/);
    // A key the user adds inside the workspace is theirs: the next connection's rewrite of
    // Wrenn's block keeps it, and it gets in.
    const strangerPub = (await readFile(join(home, ".ssh", "stranger.pub"), "utf8")).trim();
    const added = await stack.call("POST", `/v1/sandboxes/${ws.sandboxId}/exec`, {
      key: user.key,
      body: { command: `echo '${strangerPub}' >> ~/.ssh/authorized_keys`, user: "user" },
    });
    expect((added.body as { exitCode: number }).exitCode).toBe(0);
    // An idle deadline close at hand (set in the database: a workspace's sandbox refuses
    // timeout changes through /v1): the next session moves it on (an open tunnel is activity).
    await stack.cp.db.query(
      "UPDATE sandboxes SET end_at = now() + interval '600 seconds' WHERE id = $1",
      [ws.sandboxId],
    );
    const again = await ssh([...sshArgs("box", "id_ed25519"), "id -un"], env);
    expect(again.code, again.stderr).toBe(0);
    const welcome = await ssh([...sshArgs("box", "stranger"), "id -un"], env);
    expect(welcome.code, welcome.stderr).toBe(0);
    expect(welcome.stdout).toBe("user\n");
    const keysFile = await stack.call(
      "GET",
      `/v1/sandboxes/${ws.sandboxId}/files?path=/home/user/.ssh/authorized_keys`,
      { key: user.key },
    );
    expect(keysFile.text.match(/^# >>> wrenn/gm)).toHaveLength(1);
    expect(keysFile.text.match(/^# <<< wrenn$/gm)).toHaveLength(1);
    expect(keysFile.text).toContain(`${strangerPub}\n`);
    const endAt = async () => {
      const r = await stack.call("GET", `/v1/sandboxes/${ws.sandboxId}`, { key: user.key });
      return Date.parse((r.body as { endAt: string }).endAt);
    };
    // The tunnels moved it a full idle period on (well past the 600 s it was set to).
    await expect
      .poll(endAt, { timeout: 60_000, interval: 500 })
      .toBeGreaterThan(Date.now() + 3600_000);
    // Each connection is audited once, as workspace.ssh; its keep-alives (a timeout moved at
    // every open and close) write nothing.
    const audited = async () =>
      (
        await stack.cp.db.query<{ action: string; detail: { workspace?: string } }>(
          "SELECT action, detail FROM audit_events WHERE sandbox_id = $1 AND action IN ('workspace.ssh', 'sandbox.timeout') ORDER BY id",
          [ws.sandboxId],
        )
      ).rows;
    await expect
      .poll(async () => (await audited()).length, { timeout: 30_000, interval: 200 })
      .toBe(5);
    expect(await audited()).toEqual(
      Array.from({ length: 5 }, () => ({ action: "workspace.ssh", detail: { workspace: "box" } })),
    );
    // The other owner's registered key, through our API key: not in this workspace's keys.
    const othersKey = await ssh([...sshArgs("box", "others"), "id -un"], env);
    expect(othersKey.code).toBe(255);
    expect(othersKey.stderr).toMatch(/Permission denied \(publickey\)/);
    // Our key through the other owner's API key: the tunnel itself is refused.
    const otherOwner = await ssh([...sshArgs("box", "id_ed25519"), "id -un"], otherEnv);
    expect(otherOwner.code).toBe(255);
    expect(otherOwner.stderr).toMatch(/workspace box not found/);

    // authorized_keys as sshd wants it: the user's, 0600.
    const perms = await stack.call("POST", `/v1/sandboxes/${ws.sandboxId}/exec`, {
      key: user.key,
      body: { command: "stat -c '%U %a' ~/.ssh/authorized_keys ~/.ssh" },
    });
    expect((perms.body as { stdout: string }).stdout).toBe("user 600\nuser 700\n");
  });

  test("a suspended workspace is resumed by ssh, with the same host key", async () => {
    const before = (await readFile(join(home, ".ssh", "known_hosts"), "utf8")).trim();
    expect(before).toMatch(/^box\.wrenn /);
    const suspended = await Workspaces.suspend("box", { apiKey: user.key, apiUrl: stack.url });
    expect(suspended.state).toBe("suspended");
    // StrictHostKeyChecking=yes: a changed host key would fail the connection.
    const again = await ssh([...sshArgs("box", "id_ed25519", "yes"), "cat ~/from-ssh.txt"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("written by ssh\n");
    expect((await Workspaces.get("box", { apiKey: user.key, apiUrl: stack.url })).state).toBe(
      "running",
    );
    expect((await readFile(join(home, ".ssh", "known_hosts"), "utf8")).trim()).toBe(before);
  });

  test("after the ssh session has ended, sshd stops and the workspace suspends as a checkpoint", async () => {
    const opts = { apiKey: user.key, apiUrl: stack.url };
    const ws = await Workspaces.get("box", opts);
    const id = ws.sandboxId as string;
    // The tunnel's close stops sshd a moment after ssh exits.
    await expect.poll(() => sshdRunning(id), { timeout: 120_000, interval: 500 }).toBe(false);
    expect((await Workspaces.suspend("box", opts)).state).toBe("suspended");
    expect(await lastPauseMode(id)).toBe("checkpoint");
  });

  test("wrenn code writes one managed block in ~/.ssh/config that the real ssh reads", async () => {
    const config = join(home, ".ssh", "config");
    const mine = "# mine\nHost elsewhere\n  User me\n";
    await writeFile(config, mine);
    await chmod(config, 0o640);
    // No `code` on PATH: the CLI says so and prints the command.
    const noCode = { ...env, PATH: "/usr/bin:/bin" };
    // The key comes from WRENN_API_KEY, which ssh run by VS Code does not see: the CLI says
    // the block has none rather than writing the key into ~/.ssh/config.
    const fromEnv = await wrenn(["code", "box", "/home/user/project"], { env: noCode });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stderr).toMatch(
      /warning: the ssh config block finds no API key, not the one from WRENN_API_KEY/,
    );
    expect(await readFile(config, "utf8")).toMatch(/^# API key: none found/m);
    // With the key in the CLI's config file, the block names that file as its credential.
    const cliConfig = join(env.XDG_CONFIG_HOME as string, "wrenn", "config.toml");
    await mkdir(join(env.XDG_CONFIG_HOME as string, "wrenn"), { recursive: true });
    await writeFile(cliConfig, `api_key = "${user.key}"\n`, { mode: 0o600 });
    const vsCodeEnv: Record<string, string> = { ...noCode };
    delete vsCodeEnv.WRENN_API_KEY;
    for (let i = 0; i < 2; i++) {
      const r = await wrenn(["code", "box", "/home/user/project"], { env: vsCodeEnv });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain("warning");
      expect(r.stderr).toContain("code --remote ssh-remote+box.wrenn /home/user/project");
    }
    const text = await readFile(config, "utf8");
    expect(text).toContain(`# API key: ${cliConfig}\n`);
    expect(text).not.toContain(user.key);
    expect(text.startsWith(mine)).toBe(true);
    expect(text.match(/# >>> wrenn box\.wrenn/g)).toHaveLength(1);
    expect(text.match(/# <<< wrenn box\.wrenn/g)).toHaveLength(1);
    expect((await stat(config)).mode & 0o777).toBe(0o640);

    const g = await run("ssh", ["-F", config, "-G", "box.wrenn"], { env });
    expect(g.stdout).toMatch(/^user user$/m);
    // The host key the control plane read from the workspace's disk, pinned in Wrenn's own
    // known_hosts and held to.
    const { sshHostKey } = await Workspaces.get("box", { apiKey: user.key, apiUrl: stack.url });
    expect(isSshHostKey(sshHostKey), sshHostKey).toBe(true);
    const knownHosts = join(env.XDG_CONFIG_HOME as string, "wrenn", "known_hosts");
    expect(await readFile(knownHosts, "utf8")).toBe(`box.wrenn ${sshHostKey}\n`);
    expect((await stat(knownHosts)).mode & 0o777).toBe(0o600);
    expect(g.stdout).toMatch(/^hostkeyalias box\.wrenn$/m);
    expect(g.stdout).toMatch(/^stricthostkeychecking true$/m);
    expect(g.stdout).toContain(`\nuserknownhostsfile ${knownHosts}\n`);
    const proxyLine = g.stdout.split("\n").find((l) => l.startsWith("proxycommand "));
    expect(proxyLine).toContain(`${WRENN_MAIN} --api-url ${stack.url} ssh --stdio box`);
    expect((await run("ssh", ["-F", config, "-G", "elsewhere"], { env })).stdout).toMatch(
      /^user me$/m,
    );

    // And the block itself gets in: the workspace's sshd presents the pinned key.
    const viaBlock = () =>
      ssh(
        [
          "-F",
          config,
          "-i",
          join(home, ".ssh", "id_ed25519"),
          "-o",
          "BatchMode=yes",
          "box.wrenn",
          "id -un",
        ],
        { ...vsCodeEnv, PATH: env.PATH as string },
      );
    const via = await viaBlock();
    expect(via.code, via.stderr).toBe(0);
    expect(via.stdout).toBe("user\n");

    // Another key in that entry: the block's ProxyCommand pins the key the tunnel's answer
    // names (what sshd presents, read from the workspace's disk) before ssh checks it.
    const strangerKey = (await readFile(join(home, ".ssh", "stranger.pub"), "utf8"))
      .split(" ")
      .slice(0, 2)
      .join(" ");
    await writeFile(knownHosts, `box.wrenn ${strangerKey}\n`);
    const repinned = await viaBlock();
    expect(repinned.code, repinned.stderr).toBe(0);
    expect(await readFile(knownHosts, "utf8")).toBe(`box.wrenn ${sshHostKey}\n`);

    // `wrenn ssh` pins the control plane's key before ssh runs, and its ProxyCommand the one the
    // tunnel names: a stale key in the control plane's record is corrected by the connection.
    // Its ssh reads no key of ours from disk (OpenSSH's ~ is the passwd entry's): an agent
    // holds it.
    const sock = join(home, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      await expect
        .poll(() =>
          stat(sock).then(
            () => true,
            () => false,
          ),
        )
        .toBe(true);
      await run("ssh-add", ["-q", join(home, ".ssh", "id_ed25519")], {
        env: { ...env, SSH_AUTH_SOCK: sock },
      });
      const viaCli = () =>
        wrenn(["ssh", "box", "--", "id", "-un"], {
          env: { ...env, SSH_AUTH_SOCK: sock },
          input: "",
        });
      const pinnedAgain = await viaCli();
      expect(pinnedAgain.code, pinnedAgain.stderr).toBe(0);
      expect(pinnedAgain.stdout).toBe("user\n");
      expect(await readFile(knownHosts, "utf8")).toBe(`box.wrenn ${sshHostKey}\n`);
      const setKey = (key: string) =>
        stack.cp.db.query("UPDATE workspaces SET ssh_host_key = $1 WHERE name = 'box'", [key]);
      await setKey(strangerKey);
      try {
        const stale = await viaCli();
        expect(stale.code, stale.stderr).toBe(0);
        expect(stale.stdout).toBe("user\n");
        expect(await readFile(knownHosts, "utf8")).toBe(`box.wrenn ${sshHostKey}\n`);
        const { sshHostKey: recorded } = await Workspaces.get("box", {
          apiKey: user.key,
          apiUrl: stack.url,
        });
        expect(recorded).toBe(sshHostKey);
      } finally {
        await setKey(sshHostKey);
      }
    } finally {
      agent.kill();
    }
  });

  test("a host key regenerated inside the workspace is pinned at the next connection", async () => {
    const opts = { apiKey: user.key, apiUrl: stack.url };
    const ws = await Workspaces.get("box", opts);
    const id = ws.sandboxId as string;
    const asRoot = (command: string) =>
      stack.call("POST", `/v1/sandboxes/${id}/exec`, {
        key: user.key,
        body: { command, user: "root" },
      });
    // New host keys made inside, as their owner may; a running sshd stopped, so the next one
    // presents the new key.
    const regen = await asRoot(
      "rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key </dev/null; pkill -x sshd; true",
    );
    expect(regen.status, regen.text).toBe(200);
    const onDisk = (
      (await asRoot("ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key")).body as {
        stdout: string;
      }
    ).stdout
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
    expect(onDisk).not.toBe(ws.sshHostKey);

    // This connection's known_hosts still holds the old key: ssh refuses the new one.
    const first = await ssh([...sshArgs("box", "id_ed25519", "yes"), "true"], env);
    expect(first.code).toBe(255);
    expect(first.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|verification failed/);
    // The control plane pinned the key sshd presented at that connection's start.
    expect((await Workspaces.get("box", opts)).sshHostKey).toBe(onDisk);
    // A client holding the new pin gets in, strictly.
    const pinned = join(home, ".ssh", "known_hosts_new");
    await writeFile(pinned, `box.wrenn ${onDisk}\n`);
    const args = sshArgs("box", "id_ed25519", "yes").map((a) =>
      a.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${pinned}` : a,
    );
    const again = await ssh([...args, "id -un"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("user\n");

    // Through Wrenn's known_hosts (as `wrenn ssh` and `wrenn code`'s block use it), a key
    // changed inside is held to from the first connection: the ProxyCommand pins the key the
    // tunnel names before ssh checks it.
    const wrennKnownHosts = join(env.XDG_CONFIG_HOME as string, "wrenn", "known_hosts");
    const viaWrennPin = sshArgs("box", "id_ed25519", "yes").map((a) =>
      a.startsWith("UserKnownHostsFile=") ? `UserKnownHostsFile=${wrennKnownHosts}` : a,
    );
    const second = await asRoot(
      "rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key </dev/null; pkill -x sshd; ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key",
    ).then((r) => (r.body as { stdout: string }).stdout.trim().split(" ").slice(0, 2).join(" "));
    expect(second).not.toBe(onDisk);
    const firstTry = await ssh([...viaWrennPin, "id -un"], env);
    expect(firstTry.code, firstTry.stderr).toBe(0);
    expect(firstTry.stdout).toBe("user\n");
    expect(await readFile(wrennKnownHosts, "utf8")).toContain(`box.wrenn ${second}\n`);
    expect((await Workspaces.get("box", opts)).sshHostKey).toBe(second);

    // A key other than the workspace's is still refused by ssh: a listener on its port 22
    // presenting another key (here root's second sshd, in the pid file's place; a session
    // holds the tunnel so Wrenn's sshd is not stopped meanwhile), while the tunnel names the
    // key of the workspace's own host key file.
    const holder = spawn("ssh", [...viaWrennPin, "echo up; sleep 60"], {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on("data", (d: Buffer) => {
          if (d.toString().includes("up")) resolve();
        });
        holder.once("exit", (code) => reject(new Error(`the holding session ended: ${code}`)));
      });
      const pid = "/run/wrenn-sshd.pid";
      const impostor = await asRoot(
        [
          "set -e",
          "ssh-keygen -q -t ed25519 -N '' -f /root/not-the-host-key </dev/null",
          `old=$(cat ${pid}); kill "$old"; while kill -0 "$old" 2>/dev/null; do sleep 0.1; done`,
          `rm -f ${pid}`,
          `/usr/sbin/sshd -o ListenAddress=127.0.0.1:22 -o PidFile=${pid} -h /root/not-the-host-key -o PasswordAuthentication=no -o AllowUsers=user`,
          `i=0; while [ ! -s ${pid} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -s ${pid} ]`,
        ].join("\n"),
      );
      expect(impostor.status, impostor.text).toBe(200);
      expect((impostor.body as { exitCode: number }).exitCode, impostor.text).toBe(0);
      const refused = await ssh([...viaWrennPin, "true"], env);
      expect(refused.code).toBe(255);
      expect(refused.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|verification failed/);
      expect(await readFile(wrennKnownHosts, "utf8")).toContain(`box.wrenn ${second}\n`);
    } finally {
      holder.kill();
    }
  });
});
