/**
 * @module verifier/errors
 *
 * The typed error thrown by the verifier SDK for malformed input. The SDK separates two outcomes:
 * input that is not a well-formed proof, key or signal list throws {@link VerifierInputError};
 * a well-formed proof that does not satisfy the pairing equation makes `verify*` return `false`.
 *
 * Security caveat: `field` and `reason` describe the caller's own input and never contain key or
 * witness material; they are safe to log and to show to the party that submitted the input.
 *
 * Design: `VerifierInputError` is an `InputError` of the one error model (util/errors.ts, import-free and
 * browser-safe), so a page or service that embeds the SDK handles it like every other input error (`code`,
 * `path`); `field` stays as the SDK's documented name for `path`.
 */
import { InputError } from "../util/errors.ts";

/** Malformed verifier input. `field` is the path of the offending value, e.g. `proof.pi_a[1]`. */
export class VerifierInputError extends InputError {
  /** Path of the offending value: `proof.pi_b[0][1]`, `publicSignals[3]`, `vkey.IC[2]`, ... */
  readonly field: string;
  /** Short human-readable explanation, e.g. `not a canonical decimal string`. */
  readonly reason: string;

  constructor(field: string, reason: string) {
    super("invalid_input", `${field}: ${reason}`, { path: field });
    this.field = field;
    this.reason = reason;
  }
}
