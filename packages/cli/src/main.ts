#!/usr/bin/env node
// `wrenn`: parse, run, and turn any failure into one line on stderr and a meaningful exit code.
import { CommanderError } from "commander";
import { toCliError } from "./api/error-exit.js";
import { lastContext } from "./command-context.js";
import { EXIT } from "./exit-codes.js";
import { flushed } from "./output/stdio.js";
import { style } from "./output/terminal-style.js";
import { buildProgram } from "./program.js";

// `wrenn ... | head` closes the pipe early: that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const program = buildProgram(() => (dash === -1 ? undefined : argv.slice(dash + 1)));
program.exitOverride();
// Every command's own usage errors (missing argument, unknown option) exit 2 too.
for (const command of [
  program,
  ...program.commands.flatMap(function all(c): typeof program.commands {
    return [c, ...c.commands.flatMap(all)];
  }),
]) {
  command.exitOverride();
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are "errors" to commander; the message was printed already.
    const ok = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(
      error.code,
    );
    process.exitCode = ok || error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    const failure = toCliError(error, lastContext?.config);
    process.stderr.write(`${style.red("wrenn:", process.stderr)} ${failure.message}\n`);
    process.exitCode = failure.exitCode;
  }
}
// Done: a stream still trying to reconnect or a keep-alive socket must not hold the CLI open.
// Writes to files and terminals are synchronous, but a pipe (`wrenn sandbox exec ID -- cat big
// | sha256sum`) may still hold queued output: that goes out first (after Ctrl-C, not waited for).
if (process.exitCode !== EXIT.interrupted) {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
}
process.exit(process.exitCode ?? 0);
