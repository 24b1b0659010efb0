/**
 * @module cli/main
 *
 * The `zktally` command line: dispatches to the commands of cli/commands. Exit codes: 0 success, 1 a check
 * failed (an `IntegrityError`: corruption, tampering, a pin mismatch), 2 bad usage or malformed input (any
 * other `ZktallyError`, printed with its hint), 70 an internal error (anything else: a bug, reported as
 * such, never blamed on the input). `zktally verify` and `inspect` have their own codes (cli/verify-command.ts:
 * 3 malformed, 4 refused). snarkjs worker threads are always shut down before exit.
 *
 * `zktally --version` prints the package version; `zktally <command> --help` prints that command's help and
 * exits 0. A usage error prints the command's usage lines only, with a pointer to `--help`.
 *
 * Startup: the operator commands (snarkjs, express, SQLite, ...) are imported only when one of them runs;
 * `verify`, `inspect`, `--version` and `--help` of those load just the verifier SDK, so a partner's check
 * starts in a fraction of a second.
 */
import { readFileSync } from "node:fs";
import { isZktallyError } from "../util/errors.ts";
import { type Command, errorReport, exitCodeOf, UsageError } from "./command.ts";

/** Commands that need no operator code: loaded without cli/commands (and snarkjs). */
const LIGHT_COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  verify: async () => (await import("./verify-command.ts")).verifyCommand,
  inspect: async () => (await import("./verify-command.ts")).inspectCommand,
};

/** Set once the operator commands are loaded: only then can snarkjs workers be running. */
let operatorLoaded = false;

async function allCommands(): Promise<readonly Command[]> {
  operatorLoaded = true;
  return (await import("./commands/index.ts")).COMMANDS;
}

async function commandNamed(name: string): Promise<Command | undefined> {
  const light = Object.hasOwn(LIGHT_COMMANDS, name) ? LIGHT_COMMANDS[name] : undefined;
  if (light !== undefined) return light();
  return (await allCommands()).find((candidate) => candidate.name === name);
}

/** The version of the zktally package (package.json two folders up, from src/cli or dist/cli). */
function packageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

async function terminateWorkersIfLoaded(): Promise<void> {
  if (!operatorLoaded) return;
  const { terminateCurveWorkers } = await import("../setup/ptau.ts");
  await terminateCurveWorkers();
}

/**
 * snarkjs leaves some file handles to the garbage collector (harmless, but Node prints two warnings each
 * time); keep every other warning.
 */
function quietSnarkjsFileHandleWarnings(): void {
  const defaults = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (warning) => {
    if (/Closing (file descriptor \d+|a FileHandle object) on garbage collection/.test(warning.message))
      return;
    for (const listener of defaults) listener(warning);
  });
}

async function usage(): Promise<string> {
  const lines = (await allCommands()).flatMap((command) => command.usage.map((line) => `  ${line}`));
  return `usage: zktally <command> [options]\n\ncommands:\n${lines.join("\n")}\n  help   this text\n\nzktally <command> --help for a command's options, zktally --version for the version\n`;
}

function commandUsage(command: Command): string {
  return `usage:\n${command.usage.map((line) => `  zktally ${line.trimStart()}`).join("\n")}\n`;
}

/** `--help` anywhere in a command's arguments (or `-h` as its only argument). */
function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || (args.length === 1 && args[0] === "-h");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(await usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`zktally ${packageVersion()}\n`);
    return 0;
  }
  const command = await commandNamed(name);
  if (!command) {
    process.stderr.write(`zktally: unknown command ${JSON.stringify(name)}\n${await usage()}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(command.help ?? commandUsage(command));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed options.
    const code = (error as { code?: string }).code ?? "";
    if (error instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(
        `zktally ${name}: ${(error as Error).message}\n${commandUsage(command)}(zktally ${name} --help for details)\n`,
      );
      return 2;
    }
    if (isZktallyError(error)) {
      process.stderr.write(errorReport(name, error));
      return exitCodeOf(error);
    }
    throw error;
  }
}

quietSnarkjsFileHandleWarnings();
main(process.argv.slice(2))
  .then(async (code) => {
    await terminateWorkersIfLoaded();
    process.exitCode = code;
  })
  .catch(async (error: unknown) => {
    await terminateWorkersIfLoaded();
    // Not a ZktallyError: a programming error (EX_SOFTWARE), with the stack for the bug report.
    process.stderr.write(
      `zktally: internal error: ${error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error)}\n`,
    );
    process.exitCode = 70;
  });
