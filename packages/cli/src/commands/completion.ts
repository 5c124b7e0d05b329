// Shell completion scripts, generated from the command tree itself so they never drift.
import type { Command } from "commander";
import { usageError } from "../exit-codes.js";

interface Node {
  path: string[];
  subcommands: { name: string; description: string }[];
  options: string[];
  /** Its arguments are sandbox ids: completed from `wrenn sandbox ls -q` at the prompt. */
  takesSandboxIds: boolean;
}

/** Sandbox commands name their id argument `id` or `ids` (keys use `ids` under `keys`). */
function takesSandboxIds(command: Command, path: string[]): boolean {
  const first = command.registeredArguments[0]?.name();
  return path[0] !== "keys" && (first === "id" || first === "ids");
}

function walk(command: Command, path: string[] = []): Node[] {
  const visible = command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  const node: Node = {
    path,
    subcommands: visible.flatMap((c) =>
      [c.name(), ...c.aliases()].map((name) => ({ name, description: c.description() })),
    ),
    options: command.options
      .flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)))
      .concat("--help"),
    takesSandboxIds: takesSandboxIds(command, path),
  };
  // Aliases (sbx, ls/list) complete like the names they stand for.
  return [
    node,
    ...visible.flatMap((c) => [c.name(), ...c.aliases()].flatMap((n) => walk(c, [...path, n]))),
  ];
}

function bash(root: Command): string {
  const nodes = walk(root);
  const cases = nodes
    .map(
      (n) =>
        `    "${n.path.join(" ")}") words="${[...n.subcommands.map((s) => s.name), ...n.options].join(" ")}"${n.takesSandboxIds ? " ids=1" : ""} ;;`,
    )
    .join("\n");
  return `# wrenn completion for bash: eval "$(wrenn completion bash)" (e.g. in ~/.bashrc)
_wrenn() {
  local cur path="" i w words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_wrenn_words "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  words="$(_wrenn_words "$path")"
  case "$cur" in -*) ;; *) [ "$(_wrenn_ids "$path")" = 1 ] && words="$words $(timeout "\${WRENN_COMPLETE_TIMEOUT:-5}" wrenn sandbox ls -q 2>/dev/null)" ;; esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
_wrenn_words() {
  local words="" ids=0
  case "$1" in
${cases}
  esac
  echo "$words"
}
_wrenn_ids() {
  local words="" ids=0
  case "$1" in
${cases}
  esac
  echo "$ids"
}
complete -o filenames -F _wrenn wrenn
`;
}

function zsh(root: Command): string {
  return `#compdef wrenn
# wrenn completion for zsh: eval "$(wrenn completion zsh)" (e.g. in ~/.zshrc)
autoload -U +X bashcompinit && bashcompinit
${bash(root).split("\n").slice(1).join("\n")}`;
}

function fish(root: Command): string {
  const lines = [
    "# wrenn completion for fish: wrenn completion fish > ~/.config/fish/completions/wrenn.fish",
  ];
  lines.push("complete -c wrenn -f");
  for (const n of walk(root)) {
    const seen = n.path.map((p) => `__fish_seen_subcommand_from ${p}`);
    const guard =
      n.path.length === 0
        ? "__fish_use_subcommand"
        : `${seen.join("; and ")}; and not __fish_seen_subcommand_from ${n.subcommands.map((s) => s.name).join(" ") || "__none__"}`;
    for (const s of n.subcommands)
      lines.push(
        `complete -c wrenn -n '${guard}' -a ${s.name} -d '${s.description.replaceAll("'", "\\'")}'`,
      );
    if (n.takesSandboxIds)
      lines.push(
        `complete -c wrenn -n '${seen.join("; and ")}' -a '(wrenn sandbox ls -q 2>/dev/null)'`,
      );
    for (const o of n.options.filter((x) => x.startsWith("--")))
      lines.push(
        `complete -c wrenn -n '${n.path.length ? seen.join("; and ") : "true"}' -l ${o.slice(2)}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("Print a shell completion script")
    .argument("<shell>", "bash, zsh or fish")
    .addHelpText(
      "after",
      `
Examples:
  echo 'eval "$(wrenn completion bash)"' >> ~/.bashrc
  echo 'eval "$(wrenn completion zsh)"' >> ~/.zshrc
  wrenn completion fish > ~/.config/fish/completions/wrenn.fish`,
    )
    .action((shell: string) => {
      const scripts: Record<string, (root: Command) => string> = { bash, zsh, fish };
      const make = scripts[shell];
      if (!make) throw usageError(`unknown shell ${JSON.stringify(shell)}: bash, zsh or fish`);
      process.stdout.write(make(program));
    });
}
