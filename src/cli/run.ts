/**
 * @module cli/run
 *
 * `runCli(argv)`: the `zktally` command line without the process around it (cli/main.ts is the entry;
 * tests run it in process). cli/program.ts builds the commander tree. Exit codes (`zktally --help`,
 * README): 0 success, 1 a check failed (an `IntegrityError`: corruption, tampering, a pin mismatch), 2 bad
 * usage or bad input (any other `ZktallyError`, printed with its hint), 3 malformed bundle and 4 refused
 * insecure keys (verify, inspect: cli/verify-command.ts), 70 an internal error (anything else: a bug,
 * reported as such, never blamed on the input). snarkjs worker threads are always shut down before exit.
 *
 * `zktally --version` prints the package version; `zktally <command> --help` (or `zktally help <command>`)
 * prints that command's help and exits 0. A usage error prints that command's usage only, with a pointer
 * to `--help`.
 *
 * Startup: the operator commands (snarkjs, express, SQLite, ...) are imported only when one of them runs;
 * `verify`, `inspect`, `--version` and `--help` load just the verifier SDK, so a partner's check starts in a
 * fraction of a second.
 */
import { readFileSync } from "node:fs";
import { isZktallyError } from "../util/errors.ts";
import { errorReport, exitCodeOf, UsageError } from "./command.ts";
import { installNativeCommands } from "./native-commands.ts";
import {
  buildProgram,
  type Commander,
  CommanderError,
  CommandUsageError,
  delegatedUsage,
  EXIT,
  loaded,
  type Outcome,
} from "./program.ts";

/** The version of the zktally package (package.json two folders up, from src/cli or dist/cli). */
function packageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/** Shuts down snarkjs worker threads when operator code ran (else there are none). */
export async function terminateWorkersIfLoaded(): Promise<void> {
  if (!loaded.operator) return;
  const { terminateCurveWorkers } = await import("../setup/ptau.ts");
  await terminateCurveWorkers();
}

/**
 * snarkjs leaves some file handles to the garbage collector (harmless, but Node prints two warnings each
 * time); keep every other warning.
 */
export function quietSnarkjsFileHandleWarnings(): void {
  const defaults = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (warning) => {
    if (/Closing (file descriptor \d+|a FileHandle object) on garbage collection/.test(warning.message))
      return;
    for (const listener of defaults) listener(warning);
  });
}

/** `zktally <path>` as typed: the command names from the program down to `command`. */
function commandPath(command: Commander): string {
  const names: string[] = [];
  for (let at: Commander | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(" ");
}

/** A usage error: the message, the usage of the command it concerns only, and where the help is. */
function reportUsage(error: UsageError, outcome: Outcome, program: Commander): number {
  const command = error instanceof CommandUsageError ? error.command : undefined;
  const name =
    command === undefined ? `zktally ${outcome.delegated?.name ?? ""}`.trim() : commandPath(command);
  const usage =
    command !== undefined
      ? `usage: ${name} ${command.usage()}\n`
      : outcome.delegated !== undefined
        ? delegatedUsage(outcome.delegated)
        : `usage: ${program.name()} ${program.usage()}\n`;
  process.stderr.write(`${name}: ${error.message}\n${usage}(${name} --help for details)\n`);
  return EXIT.usage;
}

/**
 * `zktally help CMD ...` is `zktally CMD ... --help`. For a word that is no command (`zktally help typo`,
 * `zktally typo --help`) the help flag is dropped, so that commander reports the unknown command (exit 2)
 * instead of printing the program's help as if it had been asked for.
 */
function expandHelp(argv: readonly string[], program: Commander): string[] {
  const expanded = argv[0] === "help" && argv.length > 1 ? [...argv.slice(1), "--help"] : [...argv];
  const [first] = expanded;
  const known = first === undefined || first.startsWith("-") || first === "help";
  if (known || program.commands.some((command) => command.name() === first)) return expanded;
  return expanded.filter((arg) => arg !== "--help" && arg !== "-h");
}

/** Runs one command line; returns its exit code (a non-`ZktallyError` escapes: an internal error). */
export async function runCli(argv: readonly string[]): Promise<number> {
  const outcome: Outcome = { code: EXIT.ok };
  const program = buildProgram(packageVersion(), outcome, installNativeCommands);
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(expandHelp(argv, program), { from: "user" });
    return outcome.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed options.
    const code = (error as { code?: string }).code ?? "";
    if (error instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
      return reportUsage(error as UsageError, outcome, program);
    }
    if (isZktallyError(error)) {
      process.stderr.write(errorReport(outcome.delegated?.name ?? argv[0] ?? "", error));
      return exitCodeOf(error);
    }
    throw error;
  }
}
