import { Transform } from "node:stream";
import { formatBytes } from "./table.js";

/**
 * Counts bytes as they pass and, on a TTY, keeps one line on stderr up to date (at most ten
 * times a second). Off a TTY it prints nothing: scripts read stdout and exit codes.
 */
export function progressCounter(
  label: string,
  total: number | undefined,
): Transform & { done(): void } {
  const tty = Boolean(process.stderr.isTTY);
  let bytes = 0;
  let last = 0;
  const started = Date.now();
  const draw = (final: boolean) => {
    if (!tty) return;
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const pct = total ? ` ${Math.floor((bytes / Math.max(total, 1)) * 100)}%` : "";
    const of = total ? ` / ${formatBytes(total)}` : "";
    process.stderr.write(
      `\r\x1b[2K${label}${pct}  ${formatBytes(bytes)}${of}  ${formatBytes(bytes / seconds)}/s${final ? "\n" : ""}`,
    );
  };
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      const now = Date.now();
      if (now - last > 100) {
        last = now;
        draw(false);
      }
      callback(null, chunk);
    },
  }) as Transform & { done(): void };
  counter.done = () => draw(true);
  return counter;
}
