import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../harness/agent-process.js";
import { waitFor } from "../harness/wait.js";

const run = promisify(execFile);

/**
 * A real registry (Debian's docker-registry) on loopback for one test file: its own port,
 * config and storage in a temp dir, killed by stop(). Images are the test's own, made with
 * umoci and pushed with skopeo: nothing leaves the machine.
 */
export class LoopbackRegistry {
  private constructor(
    readonly host: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly auth?: { username: string; password: string },
  ) {}

  /** With `auth`, the registry wants that user (htpasswd, bcrypt) for every request. */
  static async start(auth?: { username: string; password: string }): Promise<LoopbackRegistry> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "wrenn-registry-"));
    const port = await freePort();
    const config = path.join(dir, "config.yml");
    const lines = [
      "version: 0.1",
      "log: {level: warn}",
      `storage: {filesystem: {rootdirectory: ${path.join(dir, "store")}}, delete: {enabled: true}}`,
      `http: {addr: "127.0.0.1:${port}", secret: test-only}`,
    ];
    if (auth) {
      // The registry reads bcrypt only; Python's crypt (libxcrypt) makes it.
      const { stdout } = await run("python3", [
        "-W",
        "ignore",
        "-c",
        "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        auth.password,
      ]);
      await writeFile(path.join(dir, "htpasswd"), `${auth.username}:${stdout.trim()}\n`);
      lines.push(`auth: {htpasswd: {realm: test, path: ${path.join(dir, "htpasswd")}}}`);
    }
    await writeFile(config, `${lines.join("\n")}\n`);
    const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
    const host = `127.0.0.1:${port}`;
    await waitFor(
      async () => {
        const status = (await fetch(`http://${host}/v2/`).catch(() => undefined))?.status;
        return status === 200 || (auth !== undefined && status === 401);
      },
      60_000,
      "the loopback registry",
    );
    return new LoopbackRegistry(host, dir, child, auth);
  }

  /**
   * Makes an image with umoci from a root filesystem filled by `fill`, with the given config,
   * and pushes it as host/name:tag. Returns the reference.
   */
  async push(
    name: string,
    fill: (rootfs: string) => Promise<void>,
    config: { env?: string[]; workdir?: string; user?: string } = {},
  ): Promise<string> {
    const work = await mkdtemp(path.join(this.dir, "image-"));
    const layout = path.join(work, "oci");
    const bundle = path.join(work, "bundle");
    try {
      await run("umoci", ["init", "--layout", layout]);
      await run("umoci", ["new", "--image", `${layout}:img`]);
      await run("umoci", ["unpack", "--image", `${layout}:img`, bundle]);
      await fill(path.join(bundle, "rootfs"));
      await run("umoci", ["repack", "--image", `${layout}:img`, bundle], {
        maxBuffer: 64 << 20,
      });
      const args = ["config", "--image", `${layout}:img`];
      for (const e of config.env ?? []) args.push(`--config.env=${e}`);
      if (config.workdir) args.push(`--config.workingdir=${config.workdir}`);
      if (config.user) args.push(`--config.user=${config.user}`);
      await run("umoci", args);
      const ref = `${this.host}/${name}`;
      await run("skopeo", [
        "copy",
        "--dest-tls-verify=false",
        ...(this.auth ? ["--dest-creds", `${this.auth.username}:${this.auth.password}`] : []),
        `oci:${layout}:img`,
        `docker://${ref}`,
      ]);
      return ref;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  async stop(): Promise<void> {
    this.child.kill("SIGKILL");
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** An image with nothing but a static busybox (and its applet links) in /bin. */
export async function busyboxOnly(rootfs: string, extraDirs: string[] = []): Promise<void> {
  await mkdir(path.join(rootfs, "bin"), { recursive: true });
  await cp("/bin/busybox", path.join(rootfs, "bin", "busybox"));
  const { stdout } = await run("/bin/busybox", ["--list"]);
  for (const applet of stdout.split("\n").filter((a) => a && a !== "busybox")) {
    await symlink("busybox", path.join(rootfs, "bin", applet)).catch(() => {});
  }
  for (const d of extraDirs) await mkdir(path.join(rootfs, d), { recursive: true });
}

/** A Debian image from the base template's root filesystem (copied, never built again). */
export function debianFrom(baseRootfs: string, extraDirs: string[] = []) {
  return async (rootfs: string): Promise<void> => {
    await run("cp", ["-a", `${baseRootfs}/.`, rootfs]);
    for (const d of extraDirs) await mkdir(path.join(rootfs, d), { recursive: true });
  };
}
