/**
 * @module cli/program
 *
 * The `zktally` command tree on commander. Two kinds of command:
 * - commands declared here with their options (init, commit, partner, query, completion): commander parses
 *   them, prints their `--help` and reports their usage errors;
 * - commands whose module parses its own arguments (verify, inspect, setup, serve, ...): commander only
 *   routes to them, passing the arguments through untouched, and `--help` prints the module's help text.
 *
 * Every implementation is imported lazily, when its command runs, so `zktally verify`, `inspect`,
 * `--version` and `--help` load no operator code (snarkjs, express, SQLite). A usage error prints only the
 * usage of the command it concerns and exits 2 ({@link EXIT}).
 *
 * Adding a command: a module exporting a `Command` (cli/command.ts) gets an entry in `DELEGATED` below (it
 * then also appears in `--help` and the shell completion); one declared with commander's options goes in
 * cli/native-commands.ts.
 */
import { Command as Commander, CommanderError, Help } from "commander";
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";

/** The exit codes of every command (README and `zktally --help`). */
export const EXIT = { ok: 0, failed: 1, usage: 2, malformed: 3, refused: 4, internal: 70 } as const;

export const EXIT_CODES_HELP = `Exit codes:
  0   success
  1   a check failed (an invalid proof, a tampered log, a refused ptau, corrupted state)
  2   bad usage or bad input (the message says what to change)
  3   a malformed bundle, key or manifest file, or a key not pinned (verify, inspect, query, export)
  4   refused: insecure development keys without --allow-insecure-keys (verify, query)
  70  internal error (a bug: report it with the printed stack)`;

/** Where a command's result goes; the exit code is returned. */
export type Runner = (args: string[]) => Promise<number>;

/** A command whose module parses its own arguments: loaded when it runs or its help is asked for. */
interface DelegatedCommand {
  readonly name: string;
  readonly summary: string;
  /** Loads no operator code (verify, inspect). */
  readonly light?: boolean;
  readonly load: () => Promise<Command>;
}

/** Set once an operator module has been loaded: only then can snarkjs worker threads be running. */
export const loaded = { operator: false };

function operator<T>(load: () => Promise<T>): () => Promise<T> {
  return () => {
    loaded.operator = true;
    return load();
  };
}

const DELEGATED: readonly DelegatedCommand[] = [
  {
    name: "verify",
    summary: "check proof bundles offline with the verifier SDK",
    light: true,
    load: async () => (await import("./verify-command.ts")).verifyCommand,
  },
  {
    name: "inspect",
    summary: "print a bundle's statement without verifying it",
    light: true,
    load: async () => (await import("./verify-command.ts")).inspectCommand,
  },
  {
    name: "setup",
    summary: "circuit keys from a published ceremony ptau (or a development ptau)",
    load: operator(async () => (await import("./commands/setup.ts")).setupCommand),
  },
  {
    name: "ceremony",
    summary: "multi-party phase 2: init, contribute, beacon, verify, finalize",
    load: operator(async () => (await import("./commands/ceremony.ts")).ceremonyCommand),
  },
  {
    name: "export",
    summary: "Solidity verifier of a pinned key, or calldata of a bundle",
    load: operator(async () => (await import("./commands/export.ts")).exportCommand),
  },
  {
    name: "audit",
    summary: "audit verify | head | monitor: check the audit log and the transparency log",
    load: operator(async () => (await import("./commands/audit.ts")).auditCommand),
  },
  {
    name: "serve",
    summary: "run the prover service; serve admin ... administers its data directory",
    load: operator(async () => (await import("./commands/serve.ts")).serveCommand),
  },
  {
    name: "release",
    summary: "a geoeditors-style release: noisy cells proven, epsilon by country risk, TSV",
    load: operator(async () => (await import("./commands/release.ts")).releaseCommand),
  },
  {
    name: "erase",
    summary: "erase persons' records (queued, then a new epoch)",
    load: operator(async () => (await import("./commands/erase.ts")).eraseCommand),
  },
  {
    name: "worker",
    summary: "prove chunk jobs of a service started with --redis",
    load: operator(async () => (await import("./commands/worker.ts")).workerCommand),
  },
];

/** A usage error commander found in the arguments of `command`: printed with that command's usage only. */
export class CommandUsageError extends UsageError {
  constructor(
    message: string,
    readonly command: Commander,
  ) {
    super(message);
  }
}

/**
 * Runs a commander-declared command's implementation: a usage error it throws (its own checks, or
 * parseArgs on the options passed through) is reported against `command`, with that command's usage.
 */
export async function inCommand(command: Commander, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const parseArgsError = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
    if (error instanceof CommandUsageError || !(error instanceof UsageError || parseArgsError)) throw error;
    throw new CommandUsageError((error as Error).message, command);
  }
}

/** The usage lines of a delegated command, as `zktally <command> ...`. */
export function delegatedUsage(command: Command): string {
  const lines = command.usage.map((line) =>
    line.startsWith(`${command.name} `) ? `  zktally ${line}` : `          ${line}`,
  );
  return `usage:\n${lines.join("\n")}\n`;
}

/** `--help` anywhere in a delegated command's arguments (or `-h` as its only argument). */
function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || (args.length === 1 && args[0] === "-h");
}

/** What the chosen command's action decided: its exit code, and the delegated command it ran, if any. */
export interface Outcome {
  code: number;
  delegated?: Command;
}

/** Usage errors of commander become {@link CommandUsageError}; help and version stay exit 0. */
export function strict(command: Commander): Commander {
  return command
    .exitOverride((error: CommanderError) => {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") throw error;
      if (error.code === "commander.help") throw error;
      throw new CommandUsageError(error.message.replace(/^error: /, ""), command);
    })
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true);
}

function addDelegated(program: Commander, spec: DelegatedCommand, outcome: Outcome): void {
  const sub = program
    .command(spec.name)
    .summary(spec.summary)
    .description(spec.summary)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]")
    .action(async (_args: string[], _options: unknown, self: Commander) => {
      const command = await spec.load();
      outcome.delegated = command;
      if (wantsHelp(self.args)) {
        process.stdout.write(command.help ?? delegatedUsage(command));
        outcome.code = EXIT.ok;
        return;
      }
      outcome.code = await command.run([...self.args]);
    });
  strict(sub);
}

/**
 * Removed commands and where their job went: `zktally NAME` prints the pointer and exits 2. Hidden from help
 * and completion. `demo` duplicated `npm start` (cli/start.ts) and `commit` + `query`.
 */
export const RETIRED_COMMANDS: Readonly<Record<string, string>> = {
  demo: "demo was removed: the end-to-end demo is npm start (it commits the sample, serves it and queries it); for your own data: zktally init FILE, zktally commit, then zktally query (README, Command line)",
};

function addRetired(program: Commander, name: string, pointer: string, outcome: Outcome): void {
  program
    .command(name, { hidden: true })
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[args...]")
    .action(() => {
      process.stderr.write(`zktally ${pointer}\n`);
      outcome.code = EXIT.usage;
    });
}

/** The delegated commands' names and their usage lines (shell completion reads their flags). */
export const DELEGATED_COMMANDS: readonly Pick<DelegatedCommand, "name" | "load">[] = DELEGATED;

/** Adds the commands declared with commander (cli/commands-native.ts). */
export type NativeInstaller = (program: Commander, outcome: Outcome) => void;

/** The program: version, help with the exit codes, every command. */
export function buildProgram(version: string, outcome: Outcome, installNative: NativeInstaller): Commander {
  const program = strict(
    new Commander("zktally")
      .description(
        "Provable aggregate answers over a privately held, publicly committed dataset (Groth16 proofs).",
      )
      .version(`zktally ${version}`, "-V, --version", "print the version")
      .helpOption("-h, --help", "this text")
      .helpCommand("help [command]", "help for a command")
      .configureHelp({
        // A delegated command's arguments are its own: list it by name (its --help has the rest).
        subcommandTerm: (command) =>
          DELEGATED.some((spec) => spec.name === command.name())
            ? command.name()
            : new Help().subcommandTerm(command),
      })
      .addHelpText("after", `\nzktally <command> --help for a command's options.\n\n${EXIT_CODES_HELP}\n`),
  );
  for (const spec of DELEGATED) addDelegated(program, spec, outcome);
  for (const [name, pointer] of Object.entries(RETIRED_COMMANDS)) addRetired(program, name, pointer, outcome);
  installNative(program, outcome);
  return program;
}

export { Commander, CommanderError };
