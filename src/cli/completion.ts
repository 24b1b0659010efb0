/**
 * @module cli/completion
 *
 * `zktally completion bash|zsh`: a completion script for the command tree: command names, subcommands
 * (`partner add`, `audit verify`, ...) and each command's flags (commander's options, or the flags in a
 * delegated command's usage lines), and file names elsewhere.
 */
import type { Command as Commander } from "commander";
import { UsageError } from "./command.ts";
import { DELEGATED_COMMANDS, RETIRED_COMMANDS } from "./program.ts";

interface Completion {
  readonly name: string;
  readonly summary: string;
  /** Subcommand names and flags offered after the command. */
  readonly words: readonly string[];
}

const FLAG = /--[a-z][a-z0-9-]*/g;
/** Subcommand words in usage lines: `audit verify ...`, `serve admin ...`. */
const SUBCOMMAND = /^[a-z]+ ([a-z][a-z-]*)(?= |$)/;

async function completions(program: Commander): Promise<Completion[]> {
  const delegated = new Map<string, readonly string[]>();
  for (const spec of DELEGATED_COMMANDS) {
    const usage = (await spec.load()).usage;
    const subs = usage.flatMap((line) =>
      line.startsWith(`${spec.name} `) ? (SUBCOMMAND.exec(line)?.[1] ?? []) : [],
    );
    delegated.set(spec.name, [
      ...new Set([...subs, ...usage.flatMap((line) => line.match(FLAG) ?? []), "--help"]),
    ]);
  }
  const offered = program.commands.filter((command) => !Object.hasOwn(RETIRED_COMMANDS, command.name()));
  return offered.map((command) => ({
    name: command.name(),
    summary: command.summary() || command.description(),
    words: delegated.get(command.name()) ?? [
      ...new Set([...command.commands.map((sub) => sub.name()), ...optionWords(command), "--help"]),
    ],
  }));
}

function optionWords(command: Commander): string[] {
  const own = command.options.flatMap((option) => (option.long === undefined ? [] : [option.long]));
  return [...own, ...command.commands.flatMap(optionWords)];
}

function bash(commands: readonly Completion[]): string {
  const cases = commands.map((c) => `    ${c.name}) words="${c.words.join(" ")}" ;;`).join("\n");
  return `# zktally bash completion: eval "$(zktally completion bash)"
_zktally() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.map((c) => c.name).join(" ")} help --help --version" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _zktally zktally
`;
}

function zsh(commands: readonly Completion[]): string {
  const described = commands.map((c) => `    '${c.name}:${c.summary.replace(/['\\:]/g, " ")}'`).join("\n");
  const cases = commands.map((c) => `    ${c.name}) compadd -- ${c.words.join(" ")} ;;`).join("\n");
  return `#compdef zktally
# zktally zsh completion: zktally completion zsh > ~/.zfunc/_zktally (a folder on fpath)
_zktally() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'zktally command' commands
    return
  fi
  _files
  case $words[2] in
${cases}
  esac
}
_zktally "$@"
`;
}

export async function runCompletion(program: Commander, shell: string): Promise<number> {
  if (shell !== "bash" && shell !== "zsh")
    throw new UsageError(`unknown shell "${shell}": expected bash or zsh`);
  const commands = await completions(program);
  process.stdout.write(shell === "bash" ? bash(commands) : zsh(commands));
  return 0;
}
