import { describe, expect, test } from "vitest";
import { TemplateSnapshots } from "./template-snapshots.js";

// A template with a start command is checkpointed with its service up, after an /init: such a
// checkpoint must never be mistaken for one of the older layout (taken before any /init,
// without the service), nor for one of another start command.

const snapshots = new TemplateSnapshots("/var/lib/wrenn/template-checkpoints", "runsc-1 systrap");
const base = { name: "web", version: "img-1", rootfs: "/t/web/img-1/rootfs" };
const image = { env: ["A=1"], workdir: "/app", user: "user" };

describe("template checkpoint keys", () => {
  test("a template without a start command keeps the key its checkpoints were saved under", () => {
    expect(snapshots.dir({ ...base, image })).toMatch(/\/web-img-1-tmpdisk$/);
  });

  test("a start command gives a distinct key, which changes with what the service runs with", () => {
    const started = snapshots.dir({ ...base, image: { ...image, startCmd: "serve" } });
    expect(started).toMatch(/\/web-img-1-tmpdisk-started[0-9a-f]{8}$/);
    const others = [
      { ...image, startCmd: "serve --other" },
      { ...image, startCmd: "serve", readyCmd: "test -f /tmp/up" },
      { ...image, startCmd: "serve", user: "root" },
      { ...image, startCmd: "serve", env: ["A=2"] },
    ].map((i) => snapshots.dir({ ...base, image: i }));
    expect(new Set([started, ...others]).size).toBe(5);
  });

  test("the disk of a checkpoint with the service up lies beside it", () => {
    const dir = snapshots.dir({ ...base, image: { ...image, startCmd: "serve" } });
    expect(snapshots.diskOf(dir)).toBe(`${dir}/disk.img`);
  });
});
