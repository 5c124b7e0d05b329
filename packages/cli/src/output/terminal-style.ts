// Colours only where a person reads them: a TTY, and not when NO_COLOR is set (no-color.org).
export function colourEnabled(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  if (process.env.FORCE_COLOR === "0") return false;
  return Boolean(stream.isTTY);
}

const wrap =
  (code: string) =>
  (text: string, stream: NodeJS.WriteStream = process.stdout) =>
    colourEnabled(stream) ? `\x1b[${code}m${text}\x1b[0m` : text;

export const style = {
  bold: wrap("1"),
  dim: wrap("2"),
  red: wrap("31"),
  green: wrap("32"),
  yellow: wrap("33"),
  cyan: wrap("36"),
};

/** State names coloured by what they mean for the reader. */
export function stateColour(state: string, stream: NodeJS.WriteStream = process.stdout): string {
  if (state === "running") return style.green(state, stream);
  if (state === "error" || state === "missing") return style.red(state, stream);
  if (state === "paused" || state === "hibernated") return style.yellow(state, stream);
  return style.dim(state, stream);
}
