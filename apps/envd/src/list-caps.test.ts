import { join } from "node:path";
import { IO_LIMITS } from "@wrenn/contract";
import { InvalidArgumentError, type Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd, sdkSandbox } from "./testing/envd-harness.js";
import { ENVD_MODE } from "./testing/envd-world.js";

// One listing has caps (IO_LIMITS.listDepth.max, listEntries, listNameBytes): a tenant can
// plant a tree as deep and wide as it likes, and a listing of it must stay bounded. Past a
// cap the listing is refused whole with a message saying what to do, never cut short (E2B's
// ListDir cannot say "truncated"). Root's listings and another user's have the same caps.

let world: EnvdWorld;
let envd: RunningEnvd;
let sbx: Sandbox;
let dir: string;
const asNobody = { user: "nobody" as never };
const asRoot = { user: "root" as never };

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  sbx = sdkSandbox(envd);
  dir = await world.scratchDir("envd-caps-", "root");
  await world.run(`chmod 755 ${dir}`);
});

afterAll(async () => {
  await world?.close();
});

const refusal = /list a subdirectory, or ask for a smaller depth/;

/**
 * One refused listing checked for both its kind and its message: each listing past a cap reads
 * the whole capped tree first, so asking twice doubled the file's time.
 */
async function expectRefused(listing: Promise<unknown>, message: RegExp) {
  const error = await listing.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect((error as Error).message).toMatch(message);
}

describe("ListDir caps", () => {
  test("depth: the cap lists, one more level is refused with what to do", async () => {
    const max = IO_LIMITS.listDepth.max;
    const chain = Array.from({ length: max + 1 }, (_, i) => `d${i}`).join("/");
    const root = join(dir, "deep");
    await world.run(`mkdir -p ${join(root, chain)}`);
    for (const options of [asRoot, asNobody]) {
      // Every level down to the cap, and the level below it is not shown.
      expect((await sbx.files.list(root, { ...options, depth: max })).length).toBe(max);
      await expectRefused(
        sbx.files.list(root, { ...options, depth: max + 1 }),
        new RegExp(`depth ${max + 1} is more than ${max}.*${refusal.source}`),
      );
    }
  });

  // Run where envd runs on the host only: the count is envd's own code, the same in both
  // modes, and under gVisor the 50,000 files it needs cost ~55 s of the suite's time to make
  // and list four times, and test nothing more. Depth and bytes still run in both.
  test.skipIf(ENVD_MODE === "gvisor")(
    "entries: exactly the cap lists, one more is refused whole",
    async () => {
      const root = join(dir, "wide");
      // Spread over two levels: the cap counts the whole listing, not one directory.
      const half = IO_LIMITS.listEntries / 2 - 1;
      await world.run(
        `mkdir -p ${root}/a ${root}/b && cd ${root}/a && seq 1 ${half} | xargs touch && cd ${root}/b && seq 1 ${half} | xargs touch`,
        300_000,
      );
      for (const options of [asRoot, asNobody]) {
        const listed = await sbx.files.list(root, { ...options, depth: 2 });
        expect(listed.length).toBe(IO_LIMITS.listEntries);
        // The first level alone is still fine however wide the second.
        expect((await sbx.files.list(root, options)).length).toBe(2);
      }
      await world.run(`touch ${root}/b/one-more`);
      for (const options of [asRoot, asNobody]) {
        await expectRefused(
          sbx.files.list(root, { ...options, depth: 2 }),
          new RegExp(`more than ${IO_LIMITS.listEntries} entries.*${refusal.source}`),
        );
        // A subdirectory, as the message says, still lists.
        expect((await sbx.files.list(join(root, "b"), options)).length).toBe(half + 1);
      }
    },
  );

  test("bytes: long paths past the cap are refused, though few entries", async () => {
    const root = join(dir, "long");
    // Sixteen levels of 250-byte names: every file below them has a ~4 KB path.
    const chain = Array.from({ length: 15 }, (_, i) => `${i}`.padEnd(250, "x")).join("/");
    const files = Math.ceil(IO_LIMITS.listNameBytes / chain.length) + 10;
    expect(files + 15).toBeLessThan(IO_LIMITS.listEntries);
    await world.run(
      `mkdir -p ${root}/${chain} && cd ${root}/${chain} && seq 1 ${files} | xargs touch`,
      300_000,
    );
    for (const options of [asRoot, asNobody]) {
      await expectRefused(
        sbx.files.list(root, { ...options, depth: 16 }),
        new RegExp(`more than ${IO_LIMITS.listNameBytes} bytes.*${refusal.source}`),
      );
      // Short of the files' level, the same tree lists.
      expect((await sbx.files.list(root, { ...options, depth: 15 })).length).toBe(15);
    }
  });
});
