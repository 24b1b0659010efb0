/**
 * @module cli/main
 *
 * The `zktally` entry point: runs the command line (cli/run.ts) and sets the exit code. Exit codes
 * (`zktally --help`, README): 0 success, 1 a check failed, 2 bad usage or bad input, 3 malformed bundle,
 * 4 refused insecure keys, 70 an internal error (reported with its stack). snarkjs worker threads are
 * always shut down before exit.
 */
import { EXIT } from "./program.ts";
import { quietSnarkjsFileHandleWarnings, runCli, terminateWorkersIfLoaded } from "./run.ts";

quietSnarkjsFileHandleWarnings();
runCli(process.argv.slice(2))
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
    process.exitCode = EXIT.internal;
  });
