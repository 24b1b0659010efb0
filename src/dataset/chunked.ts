/**
 * @module dataset/chunked
 *
 * The streaming commitment of a chunked (layout v2) dataset, design.md section 7: the file is read in
 * batches of exactly S records (`streamDataset`), each batch is padded, salted per leaf, hashed into its
 * chunk root and handed to `onChunk` (the caller stores it, e.g. storage/chunk-store), and only the chunk
 * roots are kept; the fixed-depth dataset tree over them gives the root the version-2 manifest signs.
 * Memory is bounded by one read slice, one chunk and the chunk roots (32 bytes per S records).
 *
 * String-keyed schemas (dataset/string-key.ts) are the exception: hashed keys follow no file order, so the
 * file is loaded whole (names hashed, collisions, duplicates and bad cells refused naming file:line as in every
 * load), the records are sorted by hashed key (`commitmentOrder`) and only then cut into chunks. Memory is then
 * the whole dataset: about 0.5 GB resident for 10^6 records of five fields (docs/query-language.md).
 *
 * Security caveats: a stream that fails part-way has already passed earlier chunks to `onChunk`; the caller
 * must discard them unless `commitFileChunked` resolves (the chunk store stages and commits atomically).
 * Chunks carry records and salts in clear: they are operator-private. Keys of keyed schemas must be strictly
 * increasing in commitment order (the chunk circuit enforces it): numeric keys in file order (the loader
 * refuses anything else up front), string keys by the sort.
 */

import { InputError } from "../util/errors.ts";
import {
  assertKeyOrder,
  type ChunkLayout,
  chunkCountOf,
  chunkRootOf,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_TREE_DEPTH,
  datasetTree,
  defaultLeafRecords,
  type FieldDomain,
  fieldDomains,
  leafHash,
  makeChunkLayout,
  subtreeRoot,
} from "./chunk-layout.ts";
import { getPoseidon, type PoseidonEx } from "./commitment.ts";
import { streamDataset } from "./load.ts";
import { buildChunkedManifest, type ChunkedManifest } from "./manifest.ts";
import { signManifest } from "./manifest-sign.ts";
import { deriveLeafSalts } from "./salt.ts";
import { keyFieldIndex, type Schema, stringKeyField } from "./schema.ts";
import { type StringKeyHasher, stringKeyHasher } from "./string-key.ts";

/** One committed chunk as handed to `onChunk`: real records only (padding is implied by the layout). */
export interface CommittedChunkRecords {
  readonly chunkIndex: number;
  /** The chunk's real records (encoded values in schema order), at most S. */
  readonly records: readonly (readonly bigint[])[];
  readonly chunkRoot: bigint;
}

export interface ChunkedCommitResult {
  readonly manifest: ChunkedManifest;
  readonly layout: ChunkLayout;
  readonly recordCount: number;
  readonly chunkCount: number;
  readonly chunkRoots: readonly bigint[];
  readonly root: bigint;
}

export interface CommitFileChunkedInput {
  readonly datasetId: string;
  readonly epoch: number;
  readonly schema: Schema;
  /** Defaults: chunkSize 128, leafRecords the largest that fits (design.md 7.1), treeDepth 4. */
  readonly layout?: Partial<Omit<ChunkLayout, "version">>;
  /** 32-byte dataset secret the leaf salts derive from. */
  readonly secret: Uint8Array;
  /** Ed25519 secret key of the operator. */
  readonly operatorSecretKey: Uint8Array;
  /** Circuit ids the manifest announces (chunk and final circuits). */
  readonly circuits: readonly string[];
  readonly createdAt?: Date | string;
  /** `manifestHash` of the dataset's previous epoch (design.md section 5, epoch chain). */
  readonly previousManifestHash?: string;
  /** The noise-seed commitment the manifest states (design.md 8.1), for datasets answered with noise. */
  readonly noiseCommitment?: bigint;
  /** Receives every chunk in order; awaited before the next chunk is read. */
  readonly onChunk?: (chunk: CommittedChunkRecords) => void | Promise<void>;
  /** Poseidon to hash with (default: the fast WebAssembly one). */
  readonly poseidon?: PoseidonEx;
}

/** The layout for a schema with defaults filled in and validated against the schema's domains. */
export function chunkLayoutFor(schema: Schema, layout: CommitFileChunkedInput["layout"] = {}): ChunkLayout {
  const domains = fieldDomains(schema);
  const chunkSize = layout.chunkSize ?? DEFAULT_CHUNK_SIZE;
  return makeChunkLayout(
    {
      chunkSize,
      leafRecords: layout.leafRecords ?? defaultLeafRecords(domains, chunkSize),
      treeDepth: layout.treeDepth ?? DEFAULT_TREE_DEPTH,
    },
    domains,
  );
}

/**
 * Hashes chunks one at a time (each: S/B leaf salts, S/B leaves, the in-chunk tree, the chunk root) and keeps
 * the chunk roots; `finish` builds the dataset tree. Chunks must arrive in order, every one but the last full.
 */
export class ChunkCommitter {
  private readonly roots: bigint[] = [];
  private recordCount = 0;
  private lastWasPartial = false;
  private readonly domains: FieldDomain[];
  private readonly zeroRecord: bigint[];

  constructor(
    private readonly poseidon: PoseidonEx,
    readonly layout: ChunkLayout,
    schema: Schema,
    private readonly secret: Uint8Array,
    private readonly datasetId: string,
    private readonly epoch: number,
  ) {
    this.domains = fieldDomains(schema);
    this.zeroRecord = this.domains.map(() => 0n);
  }

  /** Commits the next chunk's real records (1..S of them; fewer than S only for the last chunk). */
  add(records: readonly (readonly bigint[])[]): bigint {
    const { chunkSize } = this.layout;
    if (records.length < 1 || records.length > chunkSize) {
      throw new RangeError(`a chunk holds 1..${chunkSize} records (got ${records.length})`);
    }
    if (this.lastWasPartial)
      throw new RangeError("only the last chunk may hold fewer than chunkSize records");
    const chunkIndex = this.roots.length;
    this.assertFits(this.recordCount + records.length);
    const root = this.hashChunk(chunkIndex, records);
    this.roots.push(root);
    this.recordCount += records.length;
    this.lastWasPartial = records.length < chunkSize;
    return root;
  }

  private assertFits(recordCount: number): void {
    try {
      chunkCountOf(this.layout, recordCount);
    } catch (error) {
      if (!(error instanceof RangeError || error instanceof InputError)) throw error;
      throw new InputError("dataset_too_large", error.message, {
        hint: "commit with a larger treeDepth or chunkSize",
      });
    }
  }

  /** Chunks added so far (= the index of the next chunk). */
  get chunksAdded(): number {
    return this.roots.length;
  }

  /** The chunk root of chunk `chunkIndex` holding `records` (padded with all-zero slots). */
  hashChunk(chunkIndex: number, records: readonly (readonly bigint[])[]): bigint {
    const { chunkSize, leafRecords } = this.layout;
    const leafCount = chunkSize / leafRecords;
    const salts = deriveLeafSalts(this.secret, this.datasetId, this.epoch, chunkIndex * leafCount, leafCount);
    const leaves = salts.map((salt, leaf) => {
      const slots = Array.from(
        { length: leafRecords },
        (_, b) => records[leaf * leafRecords + b] ?? this.zeroRecord,
      );
      return leafHash(this.poseidon, this.domains, salt, slots);
    });
    return chunkRootOf(this.poseidon, chunkIndex, subtreeRoot(this.poseidon, leaves));
  }

  /** Dataset root over the chunk roots (one all-padding chunk when no record was added). */
  finish(): { root: bigint; chunkRoots: bigint[]; recordCount: number; chunkCount: number } {
    if (this.roots.length === 0) this.roots.push(this.hashChunk(0, []));
    const tree = datasetTree(this.poseidon, this.roots, this.layout.treeDepth);
    return {
      root: tree.root,
      chunkRoots: [...this.roots],
      recordCount: this.recordCount,
      chunkCount: this.roots.length,
    };
  }
}

/**
 * Streams a CSV/JSONL file into a chunked commitment and signs its version-2 manifest. Rejects with the
 * loader's `DatasetError` (file, line, column) for the first bad row, or a RangeError when the records do
 * not fit the layout; in both cases nothing is signed. A string-keyed file is loaded whole and committed in
 * hashed-key order (module header).
 */
export async function commitFileChunked(
  path: string,
  input: CommitFileChunkedInput,
): Promise<ChunkedCommitResult> {
  if (stringKeyField(input.schema) !== undefined) {
    const stringKeys = stringKeyHasher(input.secret, input.datasetId, input.epoch);
    return commitRecordsChunked(await loadWhole(path, input.schema, stringKeys), input);
  }
  const layout = chunkLayoutFor(input.schema, input.layout);
  const poseidon = input.poseidon ?? (await getPoseidon());
  const committer = new ChunkCommitter(
    poseidon,
    layout,
    input.schema,
    input.secret,
    input.datasetId,
    input.epoch,
  );
  await streamDataset(
    path,
    input.schema,
    async (records) => {
      const chunkIndex = committer.chunksAdded;
      const chunkRoot = committer.add(records);
      await input.onChunk?.({ chunkIndex, records, chunkRoot });
    },
    { batchSize: layout.chunkSize, keyOrder: "increasing" },
  );
  return finishCommit(committer, input, layout);
}

/** Every record of `path` in file order, keys unique (the string-keyed case of `commitFileChunked`). */
async function loadWhole(path: string, schema: Schema, stringKeys: StringKeyHasher): Promise<bigint[][]> {
  const records: bigint[][] = [];
  await streamDataset(
    path,
    schema,
    (batch) => {
      for (const record of batch) records.push(record);
    },
    { stringKeys },
  );
  return records;
}

/**
 * The records in commitment order: a string-keyed schema's sorted by hashed key (names hash in no file order,
 * and the chunk circuits need keys increasing from record to record); any other schema's as given.
 */
export function commitmentOrder(
  records: readonly (readonly bigint[])[],
  schema: Schema,
): readonly (readonly bigint[])[] {
  const keyField = keyFieldIndex(schema);
  if (stringKeyField(schema) === undefined || keyField === undefined) return records;
  const keyOf = (record: readonly bigint[]) => record[keyField] as bigint;
  return [...records].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
}

/**
 * `commitFileChunked` for records already in memory (encoded, schema order), e.g. an admin upload: the same
 * chunks, root and manifest as streaming them from a file. Records are committed in `commitmentOrder`:
 * numeric keys must already be strictly increasing (RangeError naming the first record otherwise), string
 * keys are sorted first.
 */
export async function commitRecordsChunked(
  given: readonly (readonly bigint[])[],
  input: CommitFileChunkedInput,
): Promise<ChunkedCommitResult> {
  const layout = chunkLayoutFor(input.schema, input.layout);
  const records = commitmentOrder(given, input.schema);
  assertKeyOrder(records, keyFieldIndex(input.schema));
  const poseidon = input.poseidon ?? (await getPoseidon());
  const committer = new ChunkCommitter(
    poseidon,
    layout,
    input.schema,
    input.secret,
    input.datasetId,
    input.epoch,
  );
  for (let start = 0; start < records.length; start += layout.chunkSize) {
    const chunk = records.slice(start, start + layout.chunkSize);
    const chunkIndex = committer.chunksAdded;
    const chunkRoot = committer.add(chunk);
    await input.onChunk?.({ chunkIndex, records: chunk, chunkRoot });
  }
  return finishCommit(committer, input, layout);
}

async function finishCommit(
  committer: ChunkCommitter,
  input: CommitFileChunkedInput,
  layout: ChunkLayout,
): Promise<ChunkedCommitResult> {
  const empty = committer.chunksAdded === 0;
  const { root, chunkRoots, recordCount, chunkCount } = committer.finish();
  if (empty) await input.onChunk?.({ chunkIndex: 0, records: [], chunkRoot: chunkRoots[0] as bigint });
  const unsigned = buildChunkedManifest({
    datasetId: input.datasetId,
    epoch: input.epoch,
    schema: input.schema,
    recordCount,
    layout,
    root,
    circuits: input.circuits,
    ...(input.createdAt === undefined ? {} : { createdAt: input.createdAt }),
    ...(input.previousManifestHash === undefined ? {} : { previousManifestHash: input.previousManifestHash }),
    ...(input.noiseCommitment === undefined ? {} : { noiseCommitment: input.noiseCommitment }),
  });
  const manifest = signManifest(unsigned, input.operatorSecretKey);
  return { manifest, layout, recordCount, chunkCount, chunkRoots, root };
}
