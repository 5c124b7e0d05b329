import { invalidInput } from "../errors/error-codes.js";
import { IO_LIMITS } from "../limits.js";
import { checkText } from "./text.js";

/**
 * A path inside a sandbox as a client gives it (files, watch, a read of a failed sandbox's
 * disk): absolute, or relative to the user's home; not empty, not past IO_LIMITS.pathLength,
 * no NUL. The control plane checks it at the edge and the host agent again (it is root).
 */
export function checkSandboxPath(path: unknown, name = "path"): string {
  if (typeof path !== "string" || path.length === 0) throw invalidInput(`${name} is required`);
  if (path.length > IO_LIMITS.pathLength)
    throw invalidInput(`${name} is longer than ${IO_LIMITS.pathLength} characters`);
  checkText(name, path);
  return path;
}

const userPattern = new RegExp(IO_LIMITS.userPattern);

/**
 * A read of a failed sandbox's disk (the host agent's ReadStoppedFiles): the path checked, as
 * an absolute path inside the sandbox; a relative one starts in `user`'s home (/root for root,
 * /home/USER otherwise, as envd resolves it).
 */
export function checkStoppedFilesRead(path: unknown, user = "user"): string {
  const p = checkSandboxPath(path);
  if (!userPattern.test(user)) throw invalidInput(`user must match ${IO_LIMITS.userPattern}`);
  const home = user === "root" ? "/root" : `/home/${user}`;
  return posixResolve(p.startsWith("/") ? p : `${home}/${p}`);
}

/** `.` and `..` resolved and repeated slashes folded, as path.posix.resolve does for "/…". */
function posixResolve(absolute: string): string {
  const out: string[] = [];
  for (const part of absolute.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}
