/**
 * @module dataset/chunk-commit
 *
 * The in-memory reference of the chunked commitment v2 (design.md 7.2): pads, salts (from the dataset
 * secret), hashes every chunk with `chunk-layout.ts` and builds the dataset tree. For tests, witnesses and
 * small datasets; large datasets go through the streaming pipeline (`chunked.ts`), which must give the same
 * root.
 *
 * Security caveat: operator-only (it holds the dataset secret, records and salts; outside the verifier SDK's
 * import closure).
 */
import {
  assertInDomains,
  assertKeyOrder,
  type ChunkLayout,
  type ChunkSlots,
  chunkCountOf,
  commitChunk,
  datasetTree,
  type FieldDomain,
  makeChunkLayout,
} from "./chunk-layout.ts";
import type { PoseidonEx } from "./commitment.ts";
import { deriveLeafSalts } from "./salt.ts";

/** A committed chunk: its slots, how many are real, its root and its path in the dataset tree. */
export interface CommittedChunk extends ChunkSlots {
  readonly realRecords: number;
  readonly chunkRoot: bigint;
  /** path[l] = the 16 children of level l above this chunk (bottom first). */
  readonly path: readonly (readonly bigint[])[];
}

export interface ChunkedCommitment {
  readonly layout: ChunkLayout;
  readonly recordCount: number;
  readonly chunkCount: number;
  readonly root: bigint;
  readonly chunks: readonly CommittedChunk[];
}

export interface CommitChunksInput {
  readonly layout: ChunkLayout;
  readonly domains: readonly FieldDomain[];
  /** Index of the key field: records must be strictly increasing in it. */
  readonly keyField?: number;
  /** Encoded records in schema order, in commitment order. */
  readonly records: readonly (readonly bigint[])[];
  readonly secret: Uint8Array;
  readonly datasetId: string;
  readonly epoch: number;
}

/** Pads, salts and hashes every chunk and builds the dataset tree (see the module comment). */
export function commitChunks(poseidon: PoseidonEx, input: CommitChunksInput): ChunkedCommitment {
  const { layout, domains, records } = input;
  const { chunkSize, leafRecords } = makeChunkLayout(layout, domains);
  assertKeyOrder(records, input.keyField);
  const chunkCount = chunkCountOf(layout, records.length);
  const leavesPerChunk = chunkSize / leafRecords;
  const zero = domains.map(() => 0n);
  const slots = Array.from({ length: chunkCount }, (_, chunkIndex): ChunkSlots & { realRecords: number } => {
    const real = records.slice(chunkIndex * chunkSize, (chunkIndex + 1) * chunkSize);
    real.forEach((record, i) => {
      assertInDomains(domains, record, `record ${chunkIndex * chunkSize + i}`);
    });
    const values = Array.from({ length: chunkSize }, (_, i) => [...(real[i] ?? zero)]);
    const salts = deriveLeafSalts(
      input.secret,
      input.datasetId,
      input.epoch,
      chunkIndex * leavesPerChunk,
      leavesPerChunk,
    );
    return { chunkIndex, values, salts, realRecords: real.length };
  });
  const roots = slots.map((chunk) => commitChunk(poseidon, layout, domains, chunk));
  const tree = datasetTree(poseidon, roots, layout.treeDepth);
  const chunks = slots.map((chunk, c) => ({ ...chunk, chunkRoot: roots[c] as bigint, path: tree.path(c) }));
  return { layout, recordCount: records.length, chunkCount, root: tree.root, chunks };
}
