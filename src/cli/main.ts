/**
 * @module cli/main
 *
 * The `zktally` command line: dispatches to the commands of cli/commands. Exit codes: 0 success, 1 a check
 * failed (an `IntegrityError`: corruption, tampering, a pin mismatch), 2 bad usage or malformed input (any
 * other `ZktallyError`, printed with its hint), 70 an internal error (anything else: a bug, reported as
 * such, never blamed on the input). snarkjs worker threads are always shut down before exit.
 */
import { terminateCurveWorkers } from "../setup/ptau.ts";
import { isZktallyError } from "../util/errors.ts";
import { errorReport, exitCodeOf, UsageError } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";

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

function usage(): string {
  const lines = COMMANDS.flatMap((command) => command.usage.map((line) => `  ${line}`));
  return `usage: zktally <command> [options]\n\ncommands:\n${lines.join("\n")}\n  help   this text\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(`zktally: unknown command ${JSON.stringify(name)}\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed options.
    const code = (error as { code?: string }).code ?? "";
    if (error instanceof UsageError || code.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`zktally ${name}: ${(error as Error).message}\n${usage()}`);
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
    await terminateCurveWorkers();
    process.exitCode = code;
  })
  .catch(async (error: unknown) => {
    await terminateCurveWorkers();
    // Not a ZktallyError: a programming error (EX_SOFTWARE), with the stack for the bug report.
    process.stderr.write(
      `zktally: internal error: ${error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error)}\n`,
    );
    process.exitCode = 70;
  });
