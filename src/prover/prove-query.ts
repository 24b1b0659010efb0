/**
 * @module prover/prove-query
 *
 * Answers a partner's query over a committed dataset with a Groth16 proof: canonicalises and lowers the query
 * for the circuit shape, builds the witness, predicts the outputs with the reference evaluator, proves through
 * a `ProverBackend` (or, split into chunk tasks, through a `ChunkProver`) and refuses to return any proof whose
 * public signals differ from the prediction.
 *
 * Security caveats: nothing returned here contains a record, salt or witness value; the true count of a
 * suppressed answer is never returned. The nonce is the partner's and is bound into the proof as-is.
 */
import { aggregateCircuitInput, expectedOutputs } from "../circuits/aggregate-witness.ts";
import { type AggregatePublicInputs, aggregatePublicSignals } from "../circuits/public-signals.ts";
import { type AggregateShape, assertLayoutOf, circuitId } from "../circuits/shape.ts";
import type { CommittedDataset } from "../dataset/committed.ts";
import { canonicalQuery, describeQuery, queryHash } from "../query/canonical.ts";
import { evaluateQuery } from "../query/evaluate.ts";
import { encodeQueryPublic } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import {
  type Groth16Proof,
  type ProveResult,
  type ProverBackend,
  ProverError,
  type ProveTimings,
} from "./backend.ts";
import type { ChunkProgressListener, ChunkProver, ChunkTask } from "./chunks.ts";

/** The readable answer: a number for count/sum (decimal string), a boolean for threshold/membership. */
export type ReadableAnswer =
  | { readonly kind: "count" | "sum"; readonly suppressed: false; readonly value: string }
  | { readonly kind: "threshold" | "membership"; readonly suppressed: false; readonly value: boolean }
  | { readonly kind: Query["aggregate"]["kind"]; readonly suppressed: true; readonly value: null };

export interface QueryProof {
  readonly circuitId: string;
  /** Canonical query (readable). */
  readonly query: Query;
  readonly queryHash: string;
  readonly statement: string;
  readonly answer: ReadableAnswer;
  readonly minGroupSize: number;
  /** Dominance share of the statement (percent, sums); absent = 0, no dominance rule. */
  readonly dominanceShare?: number;
  readonly nonce: string;
  readonly publicSignals: string[];
  readonly proof: Groth16Proof;
  readonly timings: ProveTimings;
}

export interface ProveQueryRequest {
  readonly dataset: CommittedDataset;
  readonly shape: AggregateShape;
  /** Readable query JSON (validated here). */
  readonly query: unknown;
  /** Minimum group size g set by policy (0 = off). */
  readonly minGroupSize: number;
  /**
   * Dominance share d set by policy (percent, 0 = off): a sum where one matching record contributes more than
   * d% of it is suppressed, proven in the circuit.
   */
  readonly dominanceShare?: number;
  /** The partner's request nonce, a field element. */
  readonly nonce: bigint;
}

/** The optional dominanceShare field of a bundle or statement: present only when the rule is on. */
export function dominanceField(share: number | undefined): { dominanceShare?: number } {
  return share !== undefined && share > 0 ? { dominanceShare: share } : {};
}

/** Interprets the circuit outputs (public signals 0 and 1) for an aggregate kind. */
export function readableAnswer(
  kind: Query["aggregate"]["kind"],
  suppressed: bigint,
  answer: bigint,
): ReadableAnswer {
  if (suppressed === 1n) return { kind, suppressed: true, value: null };
  if (kind === "count" || kind === "sum") return { kind, suppressed: false, value: answer.toString() };
  return { kind, suppressed: false, value: answer === 1n };
}

/**
 * A query proof split into its chunk tasks (built up front) and the step that assembles their results in
 * task order. Today's single-instance circuit has one task; chained chunk circuits have one per chunk.
 */
export interface QueryProofPlan {
  readonly circuitId: string;
  readonly tasks: readonly ChunkTask[];
  /** Checks the results against the prediction and assembles the proof; `ProverError` if they differ. */
  finish(results: readonly ProveResult[]): QueryProof;
}

/**
 * Canonicalises and lowers the query, builds the witness input and predicts the public signals (checked
 * against the reference evaluator). Throws QueryError/RangeError for queries the shape cannot take.
 */
export function planQueryProof(request: ProveQueryRequest): QueryProofPlan {
  const { dataset, shape, minGroupSize, nonce } = request;
  const dominanceShare = request.dominanceShare ?? 0;
  const { schema, commitment } = dataset;
  assertLayoutOf(shape, commitment.layout, "dataset");
  const query = canonicalQuery(request.query, schema);
  const inputs: AggregatePublicInputs = {
    root: commitment.root,
    recordCount: commitment.recordCount,
    minGroupSize,
    dominanceShare,
    nonce,
    query: encodeQueryPublic(query, schema, shape),
  };
  const predicted = expectedOutputs(shape, commitment.slots, inputs);
  const reference = evaluateQuery(query, schema, dataset.records, { minGroupSize, dominanceShare });
  const referenceAnswer = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
  if (predicted.answer !== referenceAnswer || predicted.suppressed !== (reference.suppressed ? 1n : 0n)) {
    throw new ProverError("internal error: lowered and reference semantics disagree; refusing to prove");
  }
  const id = circuitId(shape);
  const expectedSignals = aggregatePublicSignals(inputs, predicted);
  const task: ChunkTask = {
    circuitId: id,
    input: aggregateCircuitInput(shape, commitment.slots, inputs),
    expectedPublicSignals: expectedSignals,
  };
  return {
    circuitId: id,
    tasks: [task],
    finish(results) {
      const result = results[0];
      if (results.length !== 1 || result === undefined) {
        throw new ProverError(`circuit ${id}: expected 1 proof, got ${results.length}`);
      }
      if (result.publicSignals.join(",") !== expectedSignals.join(",")) {
        throw new ProverError(`circuit ${id} produced public signals that differ from the reference answer`);
      }
      return {
        circuitId: id,
        query,
        queryHash: queryHash(query, schema),
        statement: describeQuery(query, schema),
        answer: readableAnswer(query.aggregate.kind, predicted.suppressed, predicted.answer),
        minGroupSize,
        ...dominanceField(dominanceShare),
        nonce: nonce.toString(),
        publicSignals: result.publicSignals,
        proof: result.proof,
        timings: result.timings,
      };
    },
  };
}

/** Proves the answer to `request.query`; throws QueryError/RangeError for queries the shape cannot take. */
export async function proveQuery(backend: ProverBackend, request: ProveQueryRequest): Promise<QueryProof> {
  const plan = planQueryProof(request);
  const results: ProveResult[] = [];
  for (const task of plan.tasks) results.push(await backend.prove(task.circuitId, task.input));
  return plan.finish(results);
}

/** Proves the answer through a chunk prover (process pool or distributed workers), reporting progress. */
export async function proveQueryChunked(
  prover: ChunkProver,
  jobId: string,
  request: ProveQueryRequest,
  onProgress?: ChunkProgressListener,
): Promise<QueryProof> {
  const plan = planQueryProof(request);
  return plan.finish(await prover.proveChunks({ id: jobId, tasks: plan.tasks }, onProgress));
}
