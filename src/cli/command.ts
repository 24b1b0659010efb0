/**
 * @module cli/command
 *
 * The shape of a CLI command: a name, usage lines for `zktally help`, and `run(args)` returning the exit code
 * (0 success, 1 a check failed, 2 bad usage or malformed input).
 */
import { InputError, type ZktallyError, type ZktallyErrorOptions } from "../util/errors.ts";

export interface Command {
  readonly name: string;
  /** One line per form, e.g. `verify BUNDLE --manifest FILE --keys DIR [--json]   check a proof bundle`. */
  readonly usage: readonly string[];
  /** The full text of `zktally <command> --help` (options, exit codes); default: the usage lines. */
  readonly help?: string;
  run(args: string[]): Promise<number>;
}

/** A usage error: printed with the usage text, exit code 2. */
export class UsageError extends InputError {
  constructor(message: string, options: ZktallyErrorOptions = {}) {
    super("usage", message, options);
  }
}

/** How a command reports a `ZktallyError`: `zktally <command>: <message>` plus a `hint:` line when it has one. */
export function errorReport(command: string, error: ZktallyError): string {
  return `zktally ${command}: ${error.message}
${
  error.hint === undefined
    ? ""
    : `  hint: ${error.hint}
`
}`;
}

/** Exit code for a `ZktallyError`: 1 when a check found corruption or tampering, 2 for everything else. */
export function exitCodeOf(error: ZktallyError): number {
  return error.kind === "integrity" ? 1 : 2;
}
