/**
 * @module cli/start-main
 *
 * Entry point of `npm start` (cli/start.ts): runs the main job and exits with its status; errors print their
 * message (and hint) to stderr with exit 1.
 */
import { isZktallyError } from "../util/errors.ts";
import { startCommand } from "./start.ts";

try {
  process.exitCode = await startCommand();
} catch (error) {
  const hint = isZktallyError(error) && error.hint ? `\nhint: ${error.hint}` : "";
  process.stderr.write(
    `npm start failed: ${error instanceof Error ? error.message : String(error)}${hint}\n`,
  );
  process.exitCode = 1;
}
