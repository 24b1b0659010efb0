/**
 * @module prover/backend
 *
 * The prover backend interface: turns a circuit id plus a witness input into a Groth16 proof and its public
 * signals. Implementations: `snarkjs-backend.ts` (in process), `worker-backend.ts` (snarkjs in a child
 * process); `backends.ts` chooses one by name, and faster native backends register there.
 *
 * Security caveat: witness inputs contain the private dataset. Backends must never put input values into
 * error messages, logs or progress lines; `WitnessError` carries only a sanitised reason.
 */
import { ProverFailure, type ZktallyErrorOptions } from "../util/errors.ts";

/** A Groth16 proof in snarkjs JSON form (projective coordinates as decimal strings). */
export interface Groth16Proof {
  pi_a: string[];
  pi_b: string[][];
  pi_c: string[];
  protocol: string;
  curve: string;
}

/** Wall-clock timings of one proof, in milliseconds. */
export interface ProveTimings {
  readonly witnessMs: number;
  readonly proveMs: number;
}

export interface ProveResult {
  readonly proof: Groth16Proof;
  /** Public signals in snarkjs order (outputs first, then public inputs), canonical decimal strings. */
  readonly publicSignals: string[];
  readonly timings: ProveTimings;
}

export interface ProverBackend {
  /** Short backend name for logs and receipts, e.g. "snarkjs". */
  readonly name: string;
  /** Reads and pin-checks a circuit's keys ahead of the first proof (optional: `prove` loads on demand). */
  load?(circuitId: string): Promise<void>;
  /** Computes the witness for `witnessInput` and proves it with the pinned key of `circuitId`. */
  prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult>;
  /** Releases keys held in memory and any worker threads. */
  close(): Promise<void>;
}

/**
 * Witness calculation failed (a circom `assert` or `===` does not hold, or the input does not match the
 * circuit's signals). The message names the circuit and a whitelisted reason (template and line, or the
 * input signal name), never a signal value.
 */
export class WitnessError extends ProverFailure {
  constructor(
    readonly circuitId: string,
    /** Sanitised reason, e.g. "Assert Failed. Error in template Multiplier_3 line: 20". */
    readonly reason: string,
  ) {
    super("witness_failed", `witness calculation failed for circuit ${circuitId}: ${reason}`);
  }
}

/** The prover itself failed (missing or unusable key, snarkjs error) after a witness was computed. */
export class ProverError extends ProverFailure {
  constructor(message: string, options: ZktallyErrorOptions = {}) {
    super("prover_error", message, options);
  }
}
