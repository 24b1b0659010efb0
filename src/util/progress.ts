/**
 * @module util/progress
 *
 * A tiny progress reporter for long-running steps (circuit compilation, trusted setup, proving):
 * `(step, detail?) => void`. The console reporter prints `[setup] compiling aggregate-8x8x4 … (+1.2 s)` lines
 * to stderr with the time since the previous line; the silent one drops everything (tests, libraries).
 *
 * Security caveat: callers must never pass secrets or private witness values as `detail`; reporters write
 * to logs.
 */

/** Receives one progress line: a short step name and an optional detail. */
export type Progress = (step: string, detail?: string) => void;

/** Drops every report. */
export const silentProgress: Progress = () => {};

/** Options of the console reporter. */
export interface ConsoleProgressOptions {
  /** Bracketed tag at the start of each line, default "setup". */
  readonly tag?: string;
  /** Where lines go, default `process.stderr` (stdout stays clean for machine-readable output). */
  readonly write?: (line: string) => void;
  /** Clock in milliseconds, injectable for tests. */
  readonly now?: () => number;
}

/** A reporter printing `[tag] step detail (+s.s s)` lines with the time elapsed since the previous line. */
export function consoleProgress(options: ConsoleProgressOptions = {}): Progress {
  const tag = options.tag ?? "setup";
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => performance.now());
  let last = now();
  return (step, detail) => {
    const t = now();
    const elapsed = ((t - last) / 1000).toFixed(1);
    last = t;
    write(`[${tag}] ${step}${detail ? ` ${detail}` : ""} (+${elapsed} s)`);
  };
}

/** Runs `task`, reporting `step detail …` before and `step detail done in s.s s` after. */
export async function timedStep<T>(
  progress: Progress,
  step: string,
  detail: string,
  task: () => Promise<T>,
): Promise<T> {
  const start = performance.now();
  progress(step, `${detail} …`);
  const result = await task();
  progress(step, `${detail} done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return result;
}
