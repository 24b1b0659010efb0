/**
 * @module circuits/chunk-statement
 *
 * The public side of a chunk chain (docs/design.md 7.4-7.5): the public signals of `ChunkStep` and
 * `ChunkFinal` from public values, and the chain checks a verifier makes on top of verifying each proof:
 * chunk i carries chunkIndex i and the manifest's root (nothing omitted, repeated, reordered or foreign),
 * every proof carries the request's nonce and query elements, each accIn is the previous accOut (no broken
 * or forked chain), chunk 0 starts from the fixed initial accumulator, and the final proof closes the last
 * chunk with the manifest's recordCount and the policy's minimum group size. The first mismatch is named.
 *
 * Browser-safe: no Node.js imports, no Poseidon (the initial accumulator is a precomputed constant that
 * test/circuit-chunk.test.ts checks against Poseidon). Signals are compared as canonical decimal strings, so
 * a non-canonical encoding of a right value is a mismatch too.
 */
import type { QueryPublicElements } from "../query/lower.ts";
import {
  type AggregateOutputs,
  type AggregatePublicInputs,
  aggregatePublicSignals,
} from "./public-signals.ts";

/**
 * accIn of chunk 0: PoseidonEx([0, 0, 0, 0, 0, 0], TAG_ACC2), the all-zero state (realSeen, keyFloor, count,
 * sum, max) with blind 0 (design.md 7.3). The chunk circuit enforces it for chunk 0; verifiers may compare it
 * without hashing.
 */
export const INITIAL_ACC_COMMITMENT =
  "16517511144021923413086259132990348163047685313969015214653099260590187684359";

export interface ChunkStepPublicInputs {
  readonly root: bigint;
  readonly chunkIndex: number;
  readonly nonce: bigint;
  readonly query: QueryPublicElements;
  readonly accIn: bigint;
}

/** ChunkFinal's public inputs: the Aggregate circuit's, plus the last chunk's accumulator. */
export interface FinalPublicInputs extends AggregatePublicInputs {
  readonly accIn: bigint;
}

/** ChunkFinal's outputs are the Aggregate circuit's (suppressed flag, answer). */
export type FinalOutputs = AggregateOutputs;

/** ChunkStep's public signals in snarkjs order: accOut; root, chunkIndex, nonce, aggregate, clauses, accIn. */
export function chunkPublicSignals(inputs: ChunkStepPublicInputs, accOut: bigint): string[] {
  return [
    accOut,
    inputs.root,
    BigInt(inputs.chunkIndex),
    inputs.nonce,
    inputs.query.aggregate,
    ...inputs.query.clauses,
    inputs.accIn,
  ].map(String);
}

/** ChunkFinal's public signals: suppressed, answer; root, recordCount, minGroupSize, nonce, aggregate, clauses, accIn. */
export function finalPublicSignals(inputs: FinalPublicInputs, outputs: FinalOutputs): string[] {
  return [...aggregatePublicSignals(inputs, outputs), String(inputs.accIn)];
}

/** What a whole chain must prove, from the signed manifest, the request and the claimed answer. */
export interface ChainStatement {
  readonly root: bigint;
  readonly recordCount: number;
  /** manifest.layout.chunkSize (S). */
  readonly chunkSize: number;
  /** manifest.chunkCount; must be max(1, ceil(recordCount / S)). */
  readonly chunkCount: number;
  readonly minGroupSize: number;
  /** Dominance share (percent, sums; 0 or absent = no rule), packed into the minGroupSize element. */
  readonly dominanceShare?: number;
  readonly nonce: bigint;
  readonly query: QueryPublicElements;
  readonly outputs: FinalOutputs;
}

export type ChainCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly at: number | "final"; readonly reason: string };

/**
 * Checks the public signals of a chain (chunk proofs in order, then the final proof) against the statement.
 * Proof validity is checked separately (batch verification); this is everything else. Throws RangeError when
 * the statement itself is inconsistent (chunkCount does not fit recordCount and chunkSize).
 */
export function checkChainSignals(
  statement: ChainStatement,
  chunkSignals: readonly (readonly string[])[],
  finalSignals: readonly string[],
): ChainCheck {
  const links = checkChunkLinks(statement, chunkSignals);
  if (!links.ok) return links;
  const { recordCount } = statement;
  const clauses = statement.query.clauses.length;
  const accIn = links.accOut;
  const expectedFinal = finalPublicSignals(
    {
      root: statement.root,
      recordCount,
      minGroupSize: statement.minGroupSize,
      dominanceShare: statement.dominanceShare ?? 0,
      nonce: statement.nonce,
      query: statement.query,
      accIn: 0n,
    },
    statement.outputs,
  );
  if (finalSignals.length !== expectedFinal.length) {
    return fail("final", `the final proof has ${finalSignals.length} public signals`);
  }
  const mismatch = firstMismatch(finalSignals, expectedFinal, 0, finalSignals.length - 1);
  if (mismatch !== undefined) return fail("final", `final proof: ${finalSignalReason(mismatch, clauses)}`);
  if (finalSignals[finalSignals.length - 1] !== accIn) {
    return fail("final", "final proof: accIn is not the last chunk's accumulator (chain broken or forked)");
  }
  return { ok: true };
}

/**
 * The chunk half of checkChainSignals (shared by the noisy final step, design.md 8.4): chunk i carries
 * chunkIndex i, the manifest's root, the request's nonce and query, and accIn = the previous accOut from the
 * initial accumulator. Returns the last accOut, which the final proof must open.
 */
export function checkChunkLinks(
  statement: Pick<ChainStatement, "root" | "recordCount" | "chunkSize" | "chunkCount" | "nonce" | "query">,
  chunkSignals: readonly (readonly string[])[],
): { readonly ok: true; readonly accOut: string } | Extract<ChainCheck, { ok: false }> {
  const { chunkSize, recordCount, chunkCount } = statement;
  if (chunkCount !== Math.max(1, Math.ceil(recordCount / chunkSize))) {
    throw new RangeError(
      `chunkCount ${chunkCount} does not match recordCount ${recordCount} and chunkSize ${chunkSize}`,
    );
  }
  const clauses = statement.query.clauses.length;
  let accIn = INITIAL_ACC_COMMITMENT;
  for (let i = 0; i < Math.max(chunkCount, chunkSignals.length); i++) {
    const signals = chunkSignals[i];
    if (signals === undefined)
      return fail(i, `chunk ${i} is missing (the manifest has ${chunkCount} chunks)`);
    if (i >= chunkCount) return fail(i, `chunk ${i} is extra (the manifest has ${chunkCount} chunks)`);
    if (signals.length !== 6 + clauses) return fail(i, `chunk ${i} has ${signals.length} public signals`);
    const accOut = signals[0] as string;
    const expected = chunkPublicSignals(
      { root: statement.root, chunkIndex: i, nonce: statement.nonce, query: statement.query, accIn: 0n },
      0n,
    );
    const mismatch = firstMismatch(signals, expected, 1, signals.length - 1);
    if (mismatch !== undefined) return fail(i, `chunk ${i}: ${chunkSignalReason(mismatch)}`);
    if (signals[signals.length - 1] !== accIn) {
      return fail(i, `chunk ${i}: accIn is not the previous accumulator (chain broken or forked)`);
    }
    accIn = accOut;
  }
  return { ok: true, accOut: accIn };
}

function fail(at: number | "final", reason: string): Extract<ChainCheck, { ok: false }> {
  return { ok: false, at, reason };
}

function firstMismatch(
  actual: readonly string[],
  expected: readonly string[],
  from: number,
  to: number,
): number | undefined {
  for (let index = from; index < to; index++) if (actual[index] !== expected[index]) return index;
  return undefined;
}

function chunkSignalReason(index: number): string {
  if (index === 1) return "root is not the manifest's (a chunk of another dataset or epoch)";
  if (index === 2) return "chunk index out of place (a chunk omitted, repeated or reordered)";
  if (index === 3) return "nonce differs from the request's";
  return "query elements differ from the request's (a chunk of another query)";
}

function finalSignalReason(index: number, clauses: number): string {
  const names = [
    "suppressed",
    "answer",
    "root",
    "recordCount",
    "minGroupSize or dominanceShare",
    "nonce",
    "aggregate",
  ];
  return `${names[index] ?? (index < 7 + clauses ? `clauses[${index - 7}]` : "accIn")} differs from the statement`;
}
