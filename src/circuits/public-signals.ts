/**
 * @module circuits/public-signals
 *
 * The public signals of `circuits/lib/aggregate.circom` in snarkjs order (outputs first, then public inputs;
 * see shape.publicSignalNames): what a prover predicts and a verifier recomputes. Browser-safe and free of
 * operator code (no records, salts or reference evaluator), so the verifier SDK can import it.
 */
import { checkDominanceShare, type QueryPublicElements } from "../query/lower.ts";

/** Bits of the minimum group size in the packed suppression element (circuits/lib/suppression.circom). */
const GROUP_BITS = 32n;

/** The public part of a statement: everything a verifier recomputes from manifest, query and request. */
export interface AggregatePublicInputs {
  readonly root: bigint;
  readonly recordCount: number;
  readonly minGroupSize: number;
  /**
   * Dominance rule (sums): suppressed when one matching record contributes more than this percentage of the
   * sum. 0..100; 0 or absent = no rule (the statement's element is then the plain minGroupSize).
   */
  readonly dominanceShare?: number;
  readonly nonce: bigint;
  readonly query: QueryPublicElements;
}

export interface AggregateOutputs {
  readonly suppressed: bigint;
  readonly answer: bigint;
}

/** Public signals in snarkjs order (see shape.publicSignalNames), as canonical decimal strings. */
export function aggregatePublicSignals(inputs: AggregatePublicInputs, outputs: AggregateOutputs): string[] {
  return [
    outputs.suppressed,
    outputs.answer,
    inputs.root,
    BigInt(inputs.recordCount),
    suppressionElement(inputs.minGroupSize, inputs.dominanceShare ?? 0),
    inputs.nonce,
    inputs.query.aggregate,
    ...inputs.query.clauses,
  ].map((value) => value.toString());
}

/**
 * The statement's minGroupSize element: g | dominanceShare << 32 (circuits/lib/suppression.circom), so a
 * statement without a dominance rule keeps its former element. Throws RangeError outside g < 2^32, share 0..100.
 */
export function suppressionElement(minGroupSize: number, dominanceShare: number): bigint {
  if (!Number.isSafeInteger(minGroupSize) || minGroupSize < 0 || minGroupSize >= 2 ** 32) {
    throw new RangeError(`minGroupSize must be an integer in 0..2^32-1 (got ${minGroupSize})`);
  }
  checkDominanceShare(dominanceShare);
  return BigInt(minGroupSize) + (BigInt(dominanceShare) << GROUP_BITS);
}
