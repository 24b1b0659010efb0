/**
 * @module circuits/pass-statement
 *
 * The public side of a multi-query chain (docs/design.md 9.4-9.5): the public signals of `PassStep` and
 * `PassFinal` from public values, and the chain checks a verifier makes besides verifying each proof: chunk i
 * carries chunkIndex i, the manifest's root, the request's nonce and every query's elements; chunk 0 starts
 * from accIn = 0; each accIn is the previous accOut; the final proof closes the last chunk with the manifest's
 * recordCount, the policy's minimum group size and exactly the claimed outputs of every query. The first
 * mismatch is named. Browser-safe: no Node.js imports, no Poseidon.
 */
import { decodeClauseElement } from "../query/lower.ts";
import {
  decodePassAggregate,
  type LoweredPassAggregate,
  type LoweredPassQuery,
  type PassPublicElements,
  type PassResult,
} from "../query/pass.ts";
import { type PassShape, passQueryShape } from "./pass-shape.ts";

/** The lowered queries encoded by the public elements (re-validated for the shape). */
export function loweredPassFromPublic(shape: PassShape, query: PassPublicElements): LoweredPassQuery[] {
  const { width, clauses, setSize } = passQueryShape(shape);
  if (query.aggregates.length !== shape.queries || query.clauses.length !== shape.queries) {
    throw new RangeError(`a pass has exactly Q = ${shape.queries} query slots`);
  }
  return query.aggregates.map((element, q) => ({
    aggregate: decodePassAggregate(element, width, clauses),
    clauses: (query.clauses[q] ?? []).map((clause) => decodeClauseElement(clause, width, setSize)),
  }));
}

/** accIn of chunk 0 of a pass chain (the circuit forces the zero state there and opens nothing). */
export const PASS_INITIAL_ACC = "0";

export interface PassOutputs {
  readonly suppressed: readonly bigint[];
  readonly answers: readonly bigint[];
  readonly counts: readonly bigint[];
  /** H x G cell signals (2 * value + hidden). */
  readonly cells: readonly (readonly bigint[])[];
}

export interface PassStepPublicInputs {
  readonly root: bigint;
  readonly chunkIndex: number;
  readonly nonce: bigint;
  readonly query: PassPublicElements;
  readonly accIn: bigint | string;
}

export interface PassFinalPublicInputs {
  readonly root: bigint;
  readonly recordCount: number;
  readonly minGroupSize: number;
  readonly nonce: bigint;
  readonly query: PassPublicElements;
  readonly accIn: bigint | string;
}

function queryElements(query: PassPublicElements): bigint[] {
  return [...query.aggregates, ...query.clauses.flat()];
}

export function passStepSignals(inputs: PassStepPublicInputs, accOut: bigint | string): string[] {
  return [
    accOut,
    inputs.root,
    BigInt(inputs.chunkIndex),
    inputs.nonce,
    ...queryElements(inputs.query),
    inputs.accIn,
  ].map(String);
}

export function passFinalSignals(inputs: PassFinalPublicInputs, outputs: PassOutputs): string[] {
  return [
    ...outputs.suppressed,
    ...outputs.answers,
    ...outputs.counts,
    ...outputs.cells.flat(),
    inputs.root,
    BigInt(inputs.recordCount),
    BigInt(inputs.minGroupSize),
    inputs.nonce,
    ...queryElements(inputs.query),
    inputs.accIn,
  ].map(String);
}

export interface PassChainStatement {
  readonly root: bigint;
  readonly recordCount: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  readonly minGroupSize: number;
  readonly nonce: bigint;
  readonly query: PassPublicElements;
  readonly outputs: PassOutputs;
}

export type PassChainCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly at: number | "final"; readonly reason: string };

/** Checks a pass chain's public signals against the statement (proof validity is checked separately). */
export function checkPassChainSignals(
  statement: PassChainStatement,
  chunkSignals: readonly (readonly string[])[],
  finalSignals: readonly string[],
): PassChainCheck {
  const links = checkPassChunkLinks(statement, chunkSignals);
  if (!links.ok) return links;
  const expected = passFinalSignals(
    {
      root: statement.root,
      recordCount: statement.recordCount,
      minGroupSize: statement.minGroupSize,
      nonce: statement.nonce,
      query: statement.query,
      accIn: links.accOut,
    },
    statement.outputs,
  );
  if (finalSignals.length !== expected.length) {
    return { ok: false, at: "final", reason: `the final proof has ${finalSignals.length} public signals` };
  }
  const index = expected.findIndex((value, j) => finalSignals[j] !== value);
  if (index >= 0) return { ok: false, at: "final", reason: `final proof: ${finalReason(index, statement)}` };
  return { ok: true };
}

/**
 * Checks the chunk proofs' signals of a pass chain (index, root, nonce, query, accIn from 0) and returns the
 * last accOut, which the final step (PassFinal or PassFinalNoisy) must open.
 */
export function checkPassChunkLinks(
  statement: Pick<
    PassChainStatement,
    "root" | "recordCount" | "chunkSize" | "chunkCount" | "nonce" | "query"
  >,
  chunkSignals: readonly (readonly string[])[],
): { readonly ok: true; readonly accOut: string } | Extract<PassChainCheck, { ok: false }> {
  const { chunkSize, recordCount, chunkCount } = statement;
  if (chunkCount !== Math.max(1, Math.ceil(recordCount / chunkSize))) {
    throw new RangeError(
      `chunkCount ${chunkCount} does not match recordCount ${recordCount} and chunkSize ${chunkSize}`,
    );
  }
  let accIn = PASS_INITIAL_ACC;
  for (let i = 0; i < Math.max(chunkCount, chunkSignals.length); i++) {
    const signals = chunkSignals[i];
    if (signals === undefined) return { ok: false, at: i, reason: `chunk ${i} is missing` };
    if (i >= chunkCount) return { ok: false, at: i, reason: `chunk ${i} is extra` };
    const expected = passStepSignals(
      { root: statement.root, chunkIndex: i, nonce: statement.nonce, query: statement.query, accIn },
      signals[0] ?? "",
    );
    if (signals.length !== expected.length) {
      return { ok: false, at: i, reason: `chunk ${i} has ${signals.length} public signals` };
    }
    const index = expected.findIndex((value, j) => signals[j] !== value);
    if (index >= 0) return { ok: false, at: i, reason: `chunk ${i}: ${stepReason(index, expected.length)}` };
    accIn = signals[0] as string;
  }
  return { ok: true, accOut: accIn };
}

function stepReason(index: number, count: number): string {
  if (index === 1) return "root is not the manifest's (a chunk of another dataset or epoch)";
  if (index === 2) return "chunk index out of place (a chunk omitted, repeated or reordered)";
  if (index === 3) return "nonce differs from the request's";
  if (index === count - 1) return "accIn is not the previous accumulator (chain broken or forked)";
  return "query elements differ from the request's (a chunk of another query)";
}

function finalReason(index: number, statement: PassChainStatement): string {
  const Q = statement.outputs.answers.length;
  const cells = statement.outputs.cells.flat().length;
  if (index < Q) return `suppressed flag of query ${index} differs from the claimed answer`;
  if (index < 2 * Q) return `answer of query ${index - Q} differs from the claimed answer`;
  if (index < 3 * Q) return `count of query ${index - 2 * Q} differs from the claimed answer`;
  if (index < 3 * Q + cells) {
    const G = statement.outputs.cells[0]?.length ?? 1;
    const at = index - 3 * Q;
    return `cell ${at % G} of histogram ${Math.floor(at / G)} differs from the claimed answer`;
  }
  const names = ["root", "recordCount", "minGroupSize", "nonce"];
  const rest = index - 3 * Q - cells;
  return `${names[rest] ?? "query elements or accIn"} differs from the statement`;
}

/** The readable result of the padding query in an unused slot (count of all records). */
export function paddingResult(recordCount: number, minGroupSize: number): PassResult {
  const suppressed = minGroupSize > 0;
  return { kind: "count", suppressed, value: suppressed ? 0n : BigInt(recordCount) };
}

/**
 * PassFinal's outputs for readable results (one per real query; unused slots are the padding query's) and
 * the decoded aggregates of all Q slots: what a verifier recomputes from a bundle's answers.
 */
export function passOutputsOf(
  shape: { readonly histogramSlots: number; readonly cells: number },
  aggregates: readonly LoweredPassAggregate[],
  results: readonly PassResult[],
  padding: PassResult,
): PassOutputs {
  const slots = aggregates.map((aggregate, q) => slotOutputs(shape.cells, aggregate, results[q] ?? padding));
  return {
    suppressed: slots.map((slot) => slot.suppressed),
    answers: slots.map((slot) => slot.answer),
    counts: slots.map((slot) => slot.count),
    cells: slots.slice(0, shape.histogramSlots).map((slot) => slot.cells),
  };
}

function slotOutputs(G: number, aggregate: LoweredPassAggregate, result: PassResult) {
  const cells = new Array<bigint>(G).fill(0n);
  const suppressed = result.suppressed ? 1n : 0n;
  switch (result.kind) {
    case "count":
    case "sum":
      return { suppressed, answer: result.value, count: 0n, cells };
    case "threshold":
      return { suppressed, answer: result.value ? 1n : 0n, count: 0n, cells };
    case "avg":
      return { suppressed, answer: result.sum, count: BigInt(result.count), cells };
    case "histogram":
      if (result.cells.length !== aggregate.used || aggregate.used > G) {
        throw new RangeError(`a histogram answer needs ${aggregate.used} cells, got ${result.cells.length}`);
      }
      result.cells.forEach((cell, g) => {
        cells[g] = 2n * cell.value + (cell.hidden ? 1n : 0n);
      });
      return { suppressed, answer: 0n, count: 0n, cells };
  }
}
