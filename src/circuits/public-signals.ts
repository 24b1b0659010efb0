/**
 * @module circuits/public-signals
 *
 * The public signals of `circuits/lib/aggregate.circom` in snarkjs order (outputs first, then public inputs;
 * see shape.publicSignalNames): what a prover predicts and a verifier recomputes. Browser-safe and free of
 * operator code (no records, salts or reference evaluator), so the verifier SDK can import it.
 */
import type { QueryPublicElements } from "../query/lower.ts";

/** The public part of a statement: everything a verifier recomputes from manifest, query and request. */
export interface AggregatePublicInputs {
  readonly root: bigint;
  readonly recordCount: number;
  readonly minGroupSize: number;
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
    BigInt(inputs.minGroupSize),
    inputs.nonce,
    inputs.query.aggregate,
    ...inputs.query.clauses,
  ].map((value) => value.toString());
}
