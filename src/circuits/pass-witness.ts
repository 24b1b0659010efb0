/**
 * @module circuits/pass-witness
 *
 * TypeScript twin of `circuits/lib/pass.circom` (PassStep) and `circuits/lib/pass-final.circom` (PassFinal):
 * the multi-query accumulator state and its commitment (design.md 9.4), the reference transition of one chunk,
 * the circuit inputs with identical signal names, and `planPassChain`, which computes every state and
 * accumulator of a chain up front (chunk proofs are then independent, as for chunk-witness.ts).
 *
 * Security caveats: inputs, states and blinds are private (records, salts, partial counts, sums and cells);
 * they never leave the prover side in clear and nothing here logs them. Blinds are fresh per chain.
 */
import type { ChunkedCommitment } from "../dataset/chunk-commit.ts";
import { TAG_ACC2 } from "../dataset/chunk-layout.ts";
import type { PoseidonEx } from "../dataset/commitment.ts";
import { encodeClauseElement, maxValue } from "../query/lower.ts";
import type { LoweredPassQuery, PassPublicElements } from "../query/pass.ts";
import { passSlotOutputs, passTotals, type SlotTotals } from "../query/pass-evaluate.ts";
import { chunkQueryShape } from "./chunk-shape.ts";
import { type ChunkWitnessData, INITIAL_ACCUMULATOR, nextAccumulator, randomBlind } from "./chunk-witness.ts";
import type { PassShape } from "./pass-shape.ts";
import {
  loweredPassFromPublic,
  PASS_INITIAL_ACC,
  type PassFinalPublicInputs,
  type PassOutputs,
  passFinalSignals,
  passStepSignals,
} from "./pass-statement.ts";

export interface PassState {
  readonly realSeen: bigint;
  readonly keyFloor: bigint;
  /** One per query slot (Q); cells only matter for slots < H. */
  readonly slots: readonly SlotTotals[];
}

export function initialPassState(shape: PassShape): PassState {
  return {
    realSeen: 0n,
    keyFloor: 0n,
    slots: Array.from({ length: shape.queries }, () => ({
      count: 0n,
      sum: 0n,
      cellCount: new Array<bigint>(shape.cells).fill(0n),
      cellSum: new Array<bigint>(shape.cells).fill(0n),
    })),
  };
}

/** State elements in commitment order: realSeen, keyFloor, (count, sum) per query, (cells, cell sums) per H. */
export function passStateElements(shape: PassShape, state: PassState): bigint[] {
  const scalars = state.slots.flatMap((slot) => [slot.count, slot.sum]);
  const cells = state.slots
    .slice(0, shape.histogramSlots)
    .flatMap((slot) => [...slot.cellCount, ...slot.cellSum]);
  return [state.realSeen, state.keyFloor, ...scalars, ...cells];
}

/** PoseidonEx over [elements..., blind], absorbed 16 then 15 at a time after the running hash (design.md 7.3). */
export function wideCommitment(poseidon: PoseidonEx, elements: readonly bigint[], blind: bigint): bigint {
  const inputs = [...elements, blind];
  let hash = poseidon(inputs.slice(0, 16), TAG_ACC2);
  for (let at = 16; at < inputs.length; at += 15)
    hash = poseidon([hash, ...inputs.slice(at, at + 15)], TAG_ACC2);
  return hash;
}

/** Chunk bookkeeping (real records first, keys increasing) shared with ChunkStep's twin. */
function chunkBookkeeping(
  shape: PassShape,
  state: PassState,
  chunk: Pick<ChunkWitnessData, "chunkIndex" | "values" | "realRecords">,
) {
  const { width, clauses, setSize } = chunkQueryShape(shape.chunk);
  const unused = encodeClauseElement(
    {
      fieldIndex: 0,
      isSet: false,
      negate: false,
      values: [0n, maxValue(width), ...new Array<bigint>(setSize - 2).fill(0n)],
    },
    width,
    setSize,
  );
  return nextAccumulator(
    shape.chunk,
    { aggregate: 0n, clauses: new Array<bigint>(clauses).fill(unused) },
    { ...INITIAL_ACCUMULATOR, realSeen: state.realSeen, keyFloor: state.keyFloor },
    chunk,
  );
}

/** Reference transition of one chunk for all Q queries. */
export function nextPassState(
  shape: PassShape,
  lowered: readonly LoweredPassQuery[],
  state: PassState,
  chunk: Pick<ChunkWitnessData, "chunkIndex" | "values" | "realRecords">,
): PassState {
  const book = chunkBookkeeping(shape, state, chunk);
  const delta = passTotals(lowered, chunk.values.slice(0, chunk.realRecords), shape.cells);
  return {
    realSeen: book.realSeen,
    keyFloor: book.keyFloor,
    slots: state.slots.map((slot, q) => {
      const d = delta[q] as SlotTotals;
      return {
        count: slot.count + d.count,
        sum: slot.sum + d.sum,
        cellCount: slot.cellCount.map((c, g) => c + (d.cellCount[g] as bigint)),
        cellSum: slot.cellSum.map((c, g) => c + (d.cellSum[g] as bigint)),
      };
    }),
  };
}

export interface PassStepCircuitInput {
  [signal: string]: unknown;
}

function queryInput(query: PassPublicElements) {
  return { aggregates: query.aggregates.map(String), clauses: query.clauses.map((row) => row.map(String)) };
}

export function passStepInput(
  shape: PassShape,
  chunk: ChunkWitnessData,
  inputs: { root: bigint; nonce: bigint; query: PassPublicElements; accIn: bigint | string },
  opening: { state: PassState; blind: bigint },
  blindOut: bigint,
): PassStepCircuitInput {
  if (chunk.values.length !== shape.chunk.layout.chunkSize) throw new RangeError("a chunk has S slots");
  return {
    root: String(inputs.root),
    chunkIndex: String(chunk.chunkIndex),
    nonce: String(inputs.nonce),
    ...queryInput(inputs.query),
    accIn: String(inputs.accIn),
    values: chunk.values.map((record) => record.map(String)),
    flags: chunk.values.map((_, i) => (i < chunk.realRecords ? "1" : "0")),
    salts: chunk.salts.map(String),
    path: chunk.path.map((level) => level.map(String)),
    stateIn: passStateElements(shape, opening.state).map(String),
    blindIn: String(opening.blind),
    blindOut: String(blindOut),
  };
}

export function passFinalInput(
  shape: PassShape,
  inputs: PassFinalPublicInputs,
  opening: { state: PassState; blind: bigint },
): PassStepCircuitInput {
  return {
    root: String(inputs.root),
    recordCount: String(inputs.recordCount),
    minGroupSize: String(inputs.minGroupSize),
    nonce: String(inputs.nonce),
    ...queryInput(inputs.query),
    accIn: String(inputs.accIn),
    state: passStateElements(shape, opening.state).map(String),
    blind: String(opening.blind),
  };
}

/** PassFinal's outputs from the last state (circuit semantics, query/pass-evaluate.ts). */
export function passOutputs(
  shape: PassShape,
  lowered: readonly LoweredPassQuery[],
  state: PassState,
  recordCount: number,
  minGroupSize: number,
): PassOutputs {
  if (state.realSeen !== BigInt(recordCount)) {
    throw new RangeError(`the chain saw ${state.realSeen} real records, the manifest has ${recordCount}`);
  }
  const slots = lowered.map((query, q) =>
    passSlotOutputs(query, state.slots[q] as SlotTotals, recordCount, minGroupSize),
  );
  return {
    suppressed: slots.map((slot) => slot.suppressed),
    answers: slots.map((slot) => slot.answer),
    counts: slots.map((slot) => slot.count),
    cells: slots.slice(0, shape.histogramSlots).map((slot) => slot.cells),
  };
}

export interface PassChainPlan {
  readonly chunks: readonly { input: PassStepCircuitInput; publicSignals: string[] }[];
  readonly final: { input: PassStepCircuitInput; publicSignals: string[] };
  readonly outputs: PassOutputs;
  /** The last state and its blind (what a final step opens; private). */
  readonly opening: { readonly state: PassState; readonly blind: bigint };
}

export interface PassChainRequest {
  readonly nonce: bigint;
  readonly query: PassPublicElements;
  readonly minGroupSize: number;
  readonly blinds?: readonly bigint[];
}

/** Plans a whole pass chain: every state and accumulator, before any proof. */
export function planPassChain(
  poseidon: PoseidonEx,
  shape: PassShape,
  committed: Pick<ChunkedCommitment, "root" | "recordCount" | "chunks">,
  request: PassChainRequest,
): PassChainPlan {
  const lowered = loweredPassFromPublic(shape, request.query);
  const blinds = request.blinds ?? committed.chunks.map(() => randomBlind());
  if (blinds.length !== committed.chunks.length) {
    throw new RangeError(`expected ${committed.chunks.length} blinds, got ${blinds.length}`);
  }
  let opening = { state: initialPassState(shape), blind: 0n };
  let accIn: bigint | string = PASS_INITIAL_ACC;
  const base = { root: committed.root, nonce: request.nonce, query: request.query };
  const chunks = committed.chunks.map((chunk, i) => {
    const next = { state: nextPassState(shape, lowered, opening.state, chunk), blind: blinds[i] as bigint };
    const accOut = wideCommitment(poseidon, passStateElements(shape, next.state), next.blind);
    const input = passStepInput(shape, chunk, { ...base, accIn }, opening, next.blind);
    const publicSignals = passStepSignals({ ...base, chunkIndex: chunk.chunkIndex, accIn }, accOut);
    opening = next;
    accIn = accOut;
    return { input, publicSignals };
  });
  const finalInputs: PassFinalPublicInputs = {
    ...base,
    recordCount: committed.recordCount,
    minGroupSize: request.minGroupSize,
    accIn,
  };
  const outputs = passOutputs(shape, lowered, opening.state, committed.recordCount, request.minGroupSize);
  return {
    chunks,
    final: {
      input: passFinalInput(shape, finalInputs, opening),
      publicSignals: passFinalSignals(finalInputs, outputs),
    },
    outputs,
    opening,
  };
}
