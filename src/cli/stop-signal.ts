/**
 * @module cli/stop-signal
 *
 * When a long-running command (`serve`, `worker`) should stop: SIGTERM, SIGINT, or, when it was started
 * through npm (`npx zktally serve`, `npm run zktally -- serve`), its parent process exiting. npm forwards
 * a signal to the `sh -c` it runs the command in, and that shell exits without passing it on; the command,
 * reparented, notices its parent changed and stops as it would on SIGTERM.
 */

/** How often the parent is checked (only under npm). */
const PARENT_POLL_MS = 500;

/** Started by npm or npx: npm sets `npm_command` (npm 7+) in the environment of what it runs. */
function underNpm(): boolean {
  return process.env.npm_command !== undefined || process.env.npm_lifecycle_event !== undefined;
}

/** Resolves with what asked the process to stop: "SIGTERM", "SIGINT" or "parent exited". */
export function untilStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    const timer = underNpm()
      ? setInterval(() => {
          if (process.ppid !== parent) stop("parent exited");
        }, PARENT_POLL_MS)
      : undefined;
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    function stop(reason: string): void {
      if (timer !== undefined) clearInterval(timer);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      resolve(reason);
    }
    process.once("SIGTERM", onTerm);
    process.once("SIGINT", onInt);
  });
}
