/**
 * @module cli/command
 *
 * The shape of a CLI command: a name, usage lines for `zktally help`, and `run(args)` returning the exit code
 * (0 success, 1 a check failed, 2 bad usage or malformed input).
 */
export interface Command {
  readonly name: string;
  /** One line per form, e.g. `verify BUNDLE --manifest FILE --keys DIR [--json]   check a proof bundle`. */
  readonly usage: readonly string[];
  run(args: string[]): Promise<number>;
}

/** A usage error: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
