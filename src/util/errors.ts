/**
 * @module util/errors
 *
 * The one error model of zktally. Every failure the code means to report is a {@link ZktallyError}: a stable
 * machine `code` (snake_case, part of the CLI and HTTP contract), the `path` of the offending input when there
 * is one (`predicate[2].value`, `bundle.json:3`, `publicSignals[4]`), a message and an optional `hint` saying
 * what to do next. A handful of subclasses say what KIND of failure it is, and callers branch on the kind
 * (or, where they must, on the code), never on message text:
 *
 *   InputError      the caller's input is malformed or not meaningful (fix the input)
 *   NotFoundError   the thing named does not exist (or is not yours)
 *   ConflictError   the request contradicts current state (retrying the same request will not help)
 *   LimitError      a size, rate, queue or budget limit was hit (`retryAfterSeconds` when waiting helps)
 *   AccessError     not authenticated or not allowed
 *   IntegrityError  stored or received data fails a check (corruption, tampering, a broken pin)
 *   UnavailableError a dependency is down right now (retry later)
 *   ProverFailure   the circuit or the prover rejected a statement
 *
 * Anything thrown that is NOT a ZktallyError (a TypeError from a bug, a failed assertion) is a programming
 * error: boundaries (HTTP, job runner, CLI) report it as an internal error and never attribute it to the
 * caller. Built-in errors therefore carry no domain meaning: do not throw `RangeError`/`TypeError` for bad
 * input, and do not catch them to produce a domain answer.
 *
 * Browser-safe: no imports, so the verifier SDK shares it.
 *
 * Security caveat: `message`, `path`, `hint` and `details` may be shown to whoever supplied the input (a
 * partner, an admin, a page user). Build them from that input and public state only; never from records,
 * salts, secrets, witness values or another party's data. `cause` is for the operator's log only.
 */

/** What kind of failure; one per subclass. */
export type ErrorKind =
  | "input"
  | "not_found"
  | "conflict"
  | "limit"
  | "access"
  | "integrity"
  | "unavailable"
  | "prover";

/** Public, JSON-safe extra fields (ids, counts, states) that a boundary may return with the error. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface ZktallyErrorOptions {
  /** Where in the input the problem is, e.g. `predicate[2].value` or `data.csv:14`. */
  readonly path?: string;
  /** What to do next, one short sentence. */
  readonly hint?: string;
  /** Public extra fields (see the security caveat). */
  readonly details?: ErrorDetails;
  /** The underlying error, for the operator's log only. */
  readonly cause?: unknown;
  /** Seconds after which the same request may succeed (a queue drains, a proof finishes, a window resets). */
  readonly retryAfterSeconds?: number;
}

/** The base of every deliberate zktally error. */
export abstract class ZktallyError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: string;
  readonly path: string | undefined;
  readonly hint: string | undefined;
  readonly details: ErrorDetails;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: string, message: string, options: ZktallyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.path = options.path;
    this.hint = options.hint;
    this.details = options.details ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The public description: `{code, message, path?, hint?, ...details}`. */
  toJSON(): Record<string, unknown> {
    return {
      ...this.details,
      code: this.code,
      message: this.message,
      ...(this.path === undefined ? {} : { path: this.path }),
      ...(this.hint === undefined ? {} : { hint: this.hint }),
    };
  }
}

/** The caller's input is malformed or does not fit (fix the input and try again). */
export class InputError extends ZktallyError {
  readonly kind = "input";
}

/** The named thing does not exist (or is not visible to the caller). */
export class NotFoundError extends ZktallyError {
  readonly kind = "not_found";
  constructor(what: string, options: ZktallyErrorOptions & { code?: string } = {}) {
    super(options.code ?? "not_found", `${what} not found`, options);
  }
}

/** The request contradicts the current state (already exists, wrong epoch, not ready, failed). */
export class ConflictError extends ZktallyError {
  readonly kind = "conflict";
}

/** A size, rate, queue or budget limit was reached. */
export class LimitError extends ZktallyError {
  readonly kind = "limit";
}

/** Not authenticated, or authenticated but not allowed. */
export class AccessError extends ZktallyError {
  readonly kind = "access";
}

/** Stored or received data fails an integrity check (corruption, tampering, a pin mismatch). */
export class IntegrityError extends ZktallyError {
  readonly kind = "integrity";
}

/** A dependency (audit log, database, prover process) cannot serve right now; retrying later may work. */
export class UnavailableError extends ZktallyError {
  readonly kind = "unavailable";
}

/** The circuit or the prover rejected a statement (witness failure, unusable key). */
export class ProverFailure extends ZktallyError {
  readonly kind = "prover";
}

export function isZktallyError(error: unknown): error is ZktallyError {
  return error instanceof ZktallyError;
}

/** `error.message` for an Error, a neutral text otherwise (never `String(object)` of unknown content). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : `non-error value of type ${typeof error}`;
}
