/**
 * @module verifier/errors
 *
 * The typed error thrown by the verifier SDK for malformed input. The SDK separates two outcomes:
 * input that is not a well-formed proof, key or signal list throws {@link VerifierInputError};
 * a well-formed proof that does not satisfy the pairing equation makes `verify*` return `false`.
 *
 * {@link InsecureKeysError}, a subclass, refuses keys the keys manifest marks insecure (a development
 * setup whose toxic waste is on disk) unless the caller explicitly allows them.
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

  constructor(field: string, reason: string, code = "invalid_input", hint?: string) {
    super(code, `${field}: ${reason}`, { path: field, ...(hint === undefined ? {} : { hint }) });
    this.field = field;
    this.reason = reason;
  }
}

/**
 * The keys manifest marks the verification keys insecure (`insecure: true`: a development setup whose
 * toxic waste the setup machine keeps, so whoever holds its build folder can forge proofs), and the caller
 * did not pass `allowInsecureKeys: true`. Fail closed: such a proof says nothing about the data.
 */
export class InsecureKeysError extends VerifierInputError {
  readonly circuitId: string;

  constructor(circuitId: string) {
    super(
      "options.keysManifest",
      `the verification keys of circuit ${circuitId} come from an INSECURE development setup (keys manifest insecure: true): whoever ran it can forge proofs; refused unless allowInsecureKeys is set`,
      "insecure_keys",
      "use keys from a public ceremony; allow development keys only to check a demo or test",
    );
    this.circuitId = circuitId;
  }
}
