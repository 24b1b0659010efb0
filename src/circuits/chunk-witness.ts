/**
 * @module circuits/chunk-witness
 *
 * TypeScript twin of `circuits/lib/chunk.circom` (ChunkStep) and `circuits/lib/chunk-final.circom`
 * (ChunkFinal): the accumulator state and its commitment (design.md 7.3), the reference transition of one
 * chunk, the circuit inputs with identical signal names, and `planChain`, which computes every partial state
 * and accumulator of a chain up front so that chunk proofs can be made independently (in parallel, retried
 * anywhere with the same result).
 *
 * Security caveats: circuit inputs, states and blinds are private (records, salts, partial counts and sums);
 * they must never leave the prover side in clear, and nothing here logs them. Blinds must be fresh per chain
 * (`randomBlind`, CSPRNG); reusing one across chains links their accumulators.
 */

import { FIELD_ORDER } from "../core/field.ts";
import type { ChunkedCommitment, CommittedChunk } from "../dataset/chunk-commit.ts";
import { TAG_ACC2 } from "../dataset/chunk-layout.ts";
import type { PoseidonEx } from "../dataset/commitment.ts";
import { largerOf, loweredOutputs, loweredTotals } from "../query/evaluate.ts";
import {
  decodeAggregateElement,
  decodeClauseElement,
  type LoweredQuery,
  type QueryPublicElements,
} from "../query/lower.ts";
import { type StatementCircuitInput, statementCircuitInput } from "./aggregate-witness.ts";
import { type ChunkShape, chunkQueryShape, type FinalShape, finalShapeOf } from "./chunk-shape.ts";
import {
  type ChunkStepPublicInputs,
  chunkPublicSignals,
  type FinalOutputs,
  type FinalPublicInputs,
  finalPublicSignals,
} from "./chunk-statement.ts";

/** The accumulator state, in commitment order (design.md 7.3). */
export interface AccumulatorState {
  readonly realSeen: bigint;
  /** Last key + 1 (0 before any record, and always 0 without a key field). */
  readonly keyFloor: bigint;
  readonly count: bigint;
  readonly sum: bigint;
  /** The largest contribution of one matching record so far (the dominance rule's input, design.md 7.3). */
  readonly max: bigint;
}

export interface AccumulatorOpening {
  readonly state: AccumulatorState;
  readonly blind: bigint;
}

export const INITIAL_ACCUMULATOR: AccumulatorState = Object.freeze({
  realSeen: 0n,
  keyFloor: 0n,
  count: 0n,
  sum: 0n,
  max: 0n,
});

/** The chain starts from the zero state with blind 0 (a public constant, design.md 7.3). */
export const INITIAL_OPENING: AccumulatorOpening = Object.freeze({ state: INITIAL_ACCUMULATOR, blind: 0n });

/** Bytes of a blind: 31, so every blind is below 2^248 < r. */
const BLIND_BYTES = 31;

export function accumulatorElements(state: AccumulatorState): bigint[] {
  return [state.realSeen, state.keyFloor, state.count, state.sum, state.max];
}

/** acc = PoseidonEx([realSeen, keyFloor, count, sum, max, blind], TAG_ACC2). */
export function accumulatorCommitment(poseidon: PoseidonEx, opening: AccumulatorOpening): bigint {
  return poseidon([...accumulatorElements(opening.state), opening.blind], TAG_ACC2);
}

/** A fresh blind from the platform CSPRNG (Web Crypto, also in Node). */
export function randomBlind(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(BLIND_BYTES));
  return bytes.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

/** The lowered query encoded by public elements (re-validated against the shape's W and M). */
export function loweredFromPublic(
  shape: { width: number; setSize: number },
  query: QueryPublicElements,
): LoweredQuery {
  return {
    aggregate: decodeAggregateElement(query.aggregate, shape.width),
    clauses: query.clauses.map((element) => decodeClauseElement(element, shape.width, shape.setSize)),
  };
}

/** The chunk data a ChunkStep witness needs (a `CommittedChunk` fits). */
export type ChunkWitnessData = Pick<
  CommittedChunk,
  "chunkIndex" | "values" | "salts" | "realRecords" | "path"
>;

/**
 * Reference transition of one chunk (what the circuit computes into accOut). Refuses what the circuit
 * refuses: real records after a partial chunk and keys that do not increase.
 */
export function nextAccumulator(
  shape: ChunkShape,
  query: QueryPublicElements,
  state: AccumulatorState,
  chunk: Pick<ChunkWitnessData, "chunkIndex" | "values" | "realRecords">,
): AccumulatorState {
  const { chunkSize } = shape.layout;
  checkChunk(shape, chunk);
  if (chunk.realRecords > 0 && state.realSeen !== BigInt(chunk.chunkIndex * chunkSize)) {
    throw new RangeError(`chunk ${chunk.chunkIndex} has real records but an earlier chunk was not full`);
  }
  const real = chunk.values.slice(0, chunk.realRecords);
  let keyFloor = state.keyFloor;
  if (shape.keyField !== undefined) {
    const keyBits = shape.domains[shape.keyField]?.bits as number;
    for (const record of real) {
      const key = record[shape.keyField] as bigint;
      if (key < keyFloor) throw new RangeError(`chunk ${chunk.chunkIndex}: keys must be strictly increasing`);
      keyFloor = key + 1n;
    }
    if (keyFloor > 1n << BigInt(keyBits)) throw new RangeError("a key exceeds its field's bits");
  }
  const lowered = loweredFromPublic(chunkQueryShape(shape), query);
  if (lowered.aggregate.clamp !== undefined && shape.clamp !== true) {
    throw new RangeError("a clamped sum needs the clamped chunk circuit (CLAMP = 1, design.md 8.3)");
  }
  const { count, sum, max } = loweredTotals(lowered, real);
  return {
    realSeen: state.realSeen + BigInt(real.length),
    keyFloor,
    count: state.count + BigInt(count),
    sum: state.sum + sum,
    max: largerOf(state.max, max),
  };
}

/** ChunkStep's input, names exactly as the circuit declares them (decimal strings). */
export interface ChunkStepCircuitInput {
  root: string;
  chunkIndex: string;
  nonce: string;
  aggregate: string;
  clauses: string[];
  accIn: string;
  values: string[][];
  flags: string[];
  salts: string[];
  path: string[][];
  realSeenIn: string;
  keyFloorIn: string;
  countIn: string;
  sumIn: string;
  maxIn: string;
  blindIn: string;
  blindOut: string;
  [signal: string]: unknown;
}

/** The ChunkStep input for one chunk, from the incoming opening and the blind of the outgoing accumulator. */
export function chunkStepInput(
  shape: ChunkShape,
  chunk: ChunkWitnessData,
  inputs: ChunkStepPublicInputs,
  opening: AccumulatorOpening,
  blindOut: bigint,
): ChunkStepCircuitInput {
  checkChunk(shape, chunk);
  if (chunk.chunkIndex !== inputs.chunkIndex) throw new RangeError("chunk and public chunkIndex differ");
  if (chunk.path.length !== shape.layout.treeDepth || chunk.path.some((level) => level.length !== 16)) {
    throw new RangeError(`path must have ${shape.layout.treeDepth} levels of 16 children`);
  }
  for (const [name, value] of [
    ["root", inputs.root],
    ["nonce", inputs.nonce],
    ["accIn", inputs.accIn],
    ["blindIn", opening.blind],
    ["blindOut", blindOut],
  ] as const) {
    if (value < 0n || value >= FIELD_ORDER) throw new RangeError(`${name} must be in [0, r)`);
  }
  const state = opening.state;
  return {
    root: inputs.root.toString(),
    chunkIndex: String(inputs.chunkIndex),
    nonce: inputs.nonce.toString(),
    aggregate: inputs.query.aggregate.toString(),
    clauses: inputs.query.clauses.map(String),
    accIn: inputs.accIn.toString(),
    values: chunk.values.map((record) => record.map(String)),
    flags: chunk.values.map((_, i) => (i < chunk.realRecords ? "1" : "0")),
    salts: chunk.salts.map(String),
    path: chunk.path.map((level) => level.map(String)),
    realSeenIn: state.realSeen.toString(),
    keyFloorIn: state.keyFloor.toString(),
    countIn: state.count.toString(),
    sumIn: state.sum.toString(),
    maxIn: state.max.toString(),
    blindIn: opening.blind.toString(),
    blindOut: blindOut.toString(),
  };
}

/** ChunkFinal's input, names exactly as the circuit declares them. */
export interface FinalCircuitInput extends StatementCircuitInput {
  accIn: string;
  realSeen: string;
  keyFloor: string;
  count: string;
  sum: string;
  max: string;
  blind: string;
  [signal: string]: unknown;
}

export function finalStepInput(inputs: FinalPublicInputs, opening: AccumulatorOpening): FinalCircuitInput {
  const { state } = opening;
  return {
    ...statementCircuitInput(inputs),
    accIn: inputs.accIn.toString(),
    realSeen: state.realSeen.toString(),
    keyFloor: state.keyFloor.toString(),
    count: state.count.toString(),
    sum: state.sum.toString(),
    max: state.max.toString(),
    blind: opening.blind.toString(),
  };
}

/** The final step's outputs from the last state (reference semantics, query/evaluate.ts). */
export function finalOutputs(
  shape: FinalShape,
  inputs: Pick<FinalPublicInputs, "recordCount" | "minGroupSize" | "dominanceShare" | "query">,
  state: AccumulatorState,
): FinalOutputs {
  if (state.realSeen !== BigInt(inputs.recordCount)) {
    throw new RangeError(
      `the chain saw ${state.realSeen} real records, the manifest has ${inputs.recordCount}`,
    );
  }
  const aggregate = decodeAggregateElement(inputs.query.aggregate, shape.width);
  return loweredOutputs(
    { aggregate },
    { count: Number(state.count), sum: state.sum, max: state.max },
    inputs.recordCount,
    { minGroupSize: inputs.minGroupSize, dominanceShare: inputs.dominanceShare ?? 0 },
  );
}

/** One chain, ready to prove: every circuit input with the public signals its proof must carry. */
export interface ChainPlan {
  readonly chunks: readonly { input: ChunkStepCircuitInput; publicSignals: string[] }[];
  readonly final: { input: FinalCircuitInput; publicSignals: string[] };
  readonly outputs: FinalOutputs;
}

export interface ChainRequest {
  readonly nonce: bigint;
  readonly query: QueryPublicElements;
  readonly minGroupSize: number;
  /** Dominance share (percent, sums; 0 or absent = no rule), packed into the final's minGroupSize element. */
  readonly dominanceShare?: number;
  /** One blind per chunk (accOut of chunk i); fresh random blinds when omitted. */
  readonly blinds?: readonly bigint[];
}

/** Plans a whole chain over a committed dataset: all states and accumulators, computed before any proof. */
export function planChain(
  poseidon: PoseidonEx,
  shape: ChunkShape,
  committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">,
  request: ChainRequest,
): ChainPlan {
  const blinds = request.blinds ?? committed.chunks.map(() => randomBlind());
  if (blinds.length !== committed.chunks.length) {
    throw new RangeError(`expected ${committed.chunks.length} blinds, got ${blinds.length}`);
  }
  let opening = INITIAL_OPENING;
  let accIn = accumulatorCommitment(poseidon, opening);
  const chunks = committed.chunks.map((chunk, i) => {
    const inputs: ChunkStepPublicInputs = {
      root: committed.root,
      chunkIndex: chunk.chunkIndex,
      nonce: request.nonce,
      query: request.query,
      accIn,
    };
    const next = {
      state: nextAccumulator(shape, request.query, opening.state, chunk),
      blind: blinds[i] as bigint,
    };
    const accOut = accumulatorCommitment(poseidon, next);
    const input = chunkStepInput(shape, chunk, inputs, opening, next.blind);
    opening = next;
    accIn = accOut;
    return { input, publicSignals: chunkPublicSignals(inputs, accOut) };
  });
  const finalInputs: FinalPublicInputs = {
    root: committed.root,
    recordCount: committed.recordCount,
    minGroupSize: request.minGroupSize,
    ...(request.dominanceShare ? { dominanceShare: request.dominanceShare } : {}),
    nonce: request.nonce,
    query: request.query,
    accIn,
  };
  const outputs = finalOutputs(finalShapeOf(shape), finalInputs, opening.state);
  return {
    chunks,
    final: {
      input: finalStepInput(finalInputs, opening),
      publicSignals: finalPublicSignals(finalInputs, outputs),
    },
    outputs,
  };
}

function checkChunk(
  shape: ChunkShape,
  chunk: Pick<ChunkWitnessData, "chunkIndex" | "values" | "realRecords">,
): void {
  const { chunkSize } = shape.layout;
  if (chunk.values.length !== chunkSize) throw new RangeError(`a chunk has ${chunkSize} slots`);
  if (!Number.isSafeInteger(chunk.realRecords) || chunk.realRecords < 0 || chunk.realRecords > chunkSize) {
    throw new RangeError(`realRecords must be an integer in 0..${chunkSize}`);
  }
  if (!Number.isSafeInteger(chunk.chunkIndex) || chunk.chunkIndex < 0) {
    throw new RangeError("chunkIndex must be a non-negative integer");
  }
}
