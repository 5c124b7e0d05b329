import { readFile } from "node:fs/promises";
import path from "node:path";

/** A template recipe as written in images/<name>/template.json. */
export interface Recipe {
  name: string;
  description: string;
  suite: string;
  variant: string;
  packages: string[];
  user: { name: string; uid: number };
  /** Directory holding template.json, customize.sh and native/. */
  dir: string;
}

export const TEMPLATE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const DEBIAN_WORD = /^[a-z0-9][a-z0-9.+-]*$/;

export class RecipeError extends Error {}

export async function loadRecipe(imagesDir: string, name: string): Promise<Recipe> {
  if (!TEMPLATE_NAME.test(name)) {
    throw new RecipeError(
      `invalid template name ${JSON.stringify(name)}: use lower case letters, digits and dashes`,
    );
  }
  const dir = path.join(imagesDir, name);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, "template.json"), "utf8"));
  } catch (err) {
    throw new RecipeError(
      `template ${name}: cannot read ${path.join(dir, "template.json")}: ${(err as Error).message}`,
    );
  }
  return validateRecipe(raw, name, dir);
}

function validateRecipe(raw: unknown, name: string, dir: string): Recipe {
  const fail = (what: string): never => {
    throw new RecipeError(`template ${name}: template.json: ${what}`);
  };
  if (typeof raw !== "object" || raw === null) fail("must be an object");
  const r = raw as Record<string, unknown>;
  if (r.name !== name) fail(`"name" must be ${JSON.stringify(name)}`);
  const word = (key: string): string => {
    const v = r[key];
    if (typeof v !== "string" || !DEBIAN_WORD.test(v)) fail(`"${key}" must be a Debian word`);
    return v as string;
  };
  const packages = r.packages;
  if (
    !Array.isArray(packages) ||
    packages.some((p) => typeof p !== "string" || !DEBIAN_WORD.test(p))
  )
    fail(`"packages" must be a list of Debian package names`);
  const user = r.user as Record<string, unknown> | undefined;
  if (
    typeof user !== "object" ||
    user === null ||
    typeof user.name !== "string" ||
    !/^[a-z_][a-z0-9_-]{0,31}$/.test(user.name) ||
    typeof user.uid !== "number" ||
    !Number.isInteger(user.uid) ||
    user.uid < 1000 ||
    user.uid > 60000
  )
    fail(`"user" must be {"name": <login>, "uid": <1000..60000>}`);
  return {
    name,
    description: typeof r.description === "string" ? r.description : "",
    suite: word("suite"),
    variant: word("variant"),
    packages: packages as string[],
    user: { name: (user as { name: string }).name, uid: (user as { uid: number }).uid },
    dir,
  };
}
