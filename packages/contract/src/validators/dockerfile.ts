import { invalidInput } from "../errors/error-codes.js";
import { checkContextPath, type TemplateStep } from "./template-steps.js";

/** A Dockerfile as template build steps (the CLI's `wrenn template build -f`). */
export interface ParsedDockerfile {
  /** FROM's reference: an image, or one of your templates (the CLI tells them apart). */
  from: string;
  /** COPY steps carry no filesHash yet: the CLI adds it when it uploads their files. */
  steps: Array<Omit<TemplateStep, "filesHash">>;
  /** CMD / ENTRYPOINT, as a shell command line. */
  startCmd?: string;
}

/** Instructions with no effect on a template's files or processes. */
const IGNORED = new Set(["LABEL", "EXPOSE", "MAINTAINER", "STOPSIGNAL"]);
const WHY: Record<string, string> = {
  ADD: "use COPY (remote URLs and archives are not fetched)",
  ARG: "build arguments are not supported; write the value",
  VOLUME: "sandboxes have no volumes declared by the image",
  HEALTHCHECK: "use --ready-cmd",
  SHELL: "steps run with /bin/sh -c",
  ONBUILD: "triggers are not supported",
};

/** `["a","b c"]` → `a 'b c'`: an exec form as one shell command line. */
function execForm(json: string, at: string): string | undefined {
  if (!json.startsWith("[")) return undefined;
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    throw invalidInput(`${at}: invalid JSON array`);
  }
  if (!Array.isArray(list) || list.some((a) => typeof a !== "string")) {
    throw invalidInput(`${at}: the exec form must be an array of strings`);
  }
  return (list as string[])
    .map((a) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/** Shell-like words: quotes group (and are removed), as in `A="two words"`. */
function words(text: string): string[] {
  const token = /(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)+/g;
  const part = /"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+)/g;
  return (text.match(token) ?? []).map((t) =>
    [...t.matchAll(part)]
      .map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3] ?? "")))
      .join(""),
  );
}

/**
 * Parses FROM, RUN, COPY, ENV, WORKDIR, USER, CMD and ENTRYPOINT (LABEL, EXPOSE, MAINTAINER
 * and STOPSIGNAL are ignored); refuses anything else naming the instruction and its line.
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.split(/\r?\n/);
  let from: string | undefined;
  const steps: ParsedDockerfile["steps"] = [];
  let entrypoint: string | undefined;
  let cmd: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i] ?? "";
    if (/^\s*#/.test(line) || line.trim() === "") continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = `${line.replace(/\\\s*$/, "")}\n${lines[++i]}`;
      line = line.replace(/\n\s*#[^\n]*/g, "");
    }
    const m = /^\s*([A-Za-z]+)\s*([\s\S]*)$/.exec(line);
    const op = (m?.[1] ?? "").toUpperCase();
    const rest = (m?.[2] ?? "").replace(/\n/g, " ").trim();
    const at = `Dockerfile line ${lineNo} (${op})`;
    if (op !== "FROM" && from === undefined && !IGNORED.has(op)) {
      throw invalidInput(`${at}: the Dockerfile must start with FROM`);
    }
    switch (op) {
      case "FROM": {
        if (from !== undefined) {
          throw invalidInput(`${at}: multi-stage builds (a second FROM) are not supported`);
        }
        const w = words(rest).filter((x) => !x.startsWith("--"));
        if (w.length !== 1) throw invalidInput(`${at}: FROM takes one image (no AS stages)`);
        from = w[0] as string;
        break;
      }
      case "RUN": {
        if (/^--/.test(rest)) throw invalidInput(`${at}: RUN options are not supported`);
        const c = execForm(rest, at) ?? rest;
        if (c === "") throw invalidInput(`${at}: empty command`);
        steps.push({ type: "RUN", args: [c] });
        break;
      }
      case "COPY": {
        const body = rest.replace(/^(?:--\S+\s+)*/, "");
        let owner = "";
        for (const flag of words(rest.slice(0, rest.length - body.length))) {
          const chown = /^--chown=(.+)$/.exec(flag);
          if (!chown) throw invalidInput(`${at}: option ${flag} is not supported`);
          owner = chown[1] as string;
        }
        let list = words(body);
        if (body.startsWith("[")) {
          execForm(body, at);
          list = JSON.parse(body) as string[];
        }
        if (list.length < 2) throw invalidInput(`${at}: COPY takes sources and a destination`);
        const dest = list[list.length - 1] as string;
        const sources = list.slice(0, -1);
        if (sources.length > 1 && !dest.endsWith("/")) {
          throw invalidInput(`${at}: with several sources the destination must end with /`);
        }
        for (const src of sources) {
          if (/[*?[]/.test(src)) throw invalidInput(`${at}: wildcards in COPY are not supported`);
          checkContextPath(src, `${at}: source`);
          steps.push({ type: "COPY", args: [src, dest, owner, ""] });
        }
        break;
      }
      case "ENV": {
        const w = words(rest);
        const args: string[] = [];
        if (w.length >= 1 && !(w[0] as string).includes("=")) {
          args.push(
            w[0] as string,
            rest.slice(rest.indexOf(w[0] as string) + (w[0] as string).length).trim(),
          );
        } else {
          for (const kv of w) {
            const eq = kv.indexOf("=");
            if (eq <= 0) throw invalidInput(`${at}: expected NAME=value, got ${kv}`);
            args.push(kv.slice(0, eq), kv.slice(eq + 1));
          }
        }
        if (args.length === 0) throw invalidInput(`${at}: ENV needs a variable`);
        steps.push({ type: "ENV", args });
        break;
      }
      case "WORKDIR":
      case "USER":
        if (rest === "") throw invalidInput(`${at}: needs a value`);
        steps.push({ type: op, args: [rest] });
        break;
      case "CMD":
        cmd = execForm(rest, at) ?? rest;
        break;
      case "ENTRYPOINT":
        entrypoint = execForm(rest, at) ?? rest;
        break;
      default:
        if (IGNORED.has(op)) break;
        throw invalidInput(
          `${at}: ${op} is not supported${WHY[op] ? `: ${WHY[op]}` : ""} (supported: FROM, RUN, COPY, ENV, WORKDIR, USER, CMD, ENTRYPOINT)`,
        );
    }
  }
  if (from === undefined) throw invalidInput("the Dockerfile has no FROM");
  const start = [entrypoint, cmd].filter(Boolean).join(" ");
  // As E2B's SDK turns a Dockerfile into steps (and as Docker runs them): as root in /, then
  // sandboxes run as E2B's `user` in its home unless the Dockerfile said otherwise.
  const all: ParsedDockerfile["steps"] = [
    { type: "USER", args: ["root"] },
    { type: "WORKDIR", args: ["/"] },
    ...steps,
  ];
  if (!steps.some((st) => st.type === "USER")) all.push({ type: "USER", args: ["user"] });
  if (!steps.some((st) => st.type === "WORKDIR")) {
    all.push({ type: "WORKDIR", args: ["/home/user"] });
  }
  return { from, steps: all, ...(start ? { startCmd: start } : {}) };
}
