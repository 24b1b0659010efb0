/**
 * @module cli/start-main
 *
 * Entry point of `npm start` (cli/start.ts): runs the main job and exits with its status, also when prover
 * processes or curve worker threads are left behind; errors print their message (and hint) to stderr with
 * exit 1.
 */
import { terminateCurveWorkers } from "../setup/ptau.ts";
import { isZktallyError } from "../util/errors.ts";
import { startCommand } from "./start.ts";

let code = 1;
try {
  code = await startCommand();
} catch (error) {
  const hint = isZktallyError(error) && error.hint ? `\nhint: ${error.hint}` : "";
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? error.message : String(error)}${hint}\n`,
  );
} finally {
  await terminateCurveWorkers();
}
process.exit(code);
