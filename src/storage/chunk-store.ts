/**
 * @module storage/chunk-store
 *
 * At-rest storage of a chunked (layout v2) dataset for proving, one directory per dataset epoch:
 * `manifest.json` (the signed manifest, public), `secret.env` (the dataset secret), `index.env` (the chunk
 * roots) and `chunks/<c>.env` (the real records of chunk c). Every `.env` file is a KeyRing envelope
 * (AES-256-GCM) whose associated data binds dataset id, epoch and purpose (`dataset-chunk-<c>` for chunk c),
 * as the service stores datasets today, so an envelope copied to another chunk, dataset or epoch does not
 * decrypt. A prover loads one chunk at a time (`ChunkStoreReader.loadChunk`) without reading the others.
 *
 * Writing is staged: everything goes to a fresh `.tmp-*` directory beside the target, renamed into place only
 * after the last chunk and the manifest are written; a failed or interrupted commit leaves nothing behind
 * (stale staging directories of dead processes are removed by the next writer).
 *
 * Security caveats: loaded chunks hold records and salts in clear (operator-private). The reader recomputes
 * the dataset root from the stored chunk roots and each loaded chunk's root from its records, and refuses
 * (`ChunkStoreError`) anything that differs from the signed manifest, so a swapped or corrupted file is never
 * proven against. Node-only.
 */
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isCanonicalDecimal } from "../core/field.ts";
import { type ChunkLayout, datasetTree } from "../dataset/chunk-layout.ts";
import {
  ChunkCommitter,
  type ChunkedCommitResult,
  type CommitFileChunkedInput,
  type CommittedChunkRecords,
  commitFileChunked,
  commitRecordsChunked,
} from "../dataset/chunked.ts";
import { getPoseidon, type PoseidonEx } from "../dataset/commitment.ts";
import { type ChunkedManifest, parseAnyManifest, verifyManifest } from "../dataset/manifest.ts";
import { DATASET_SECRET_BYTES, deriveLeafSalts } from "../dataset/salt.ts";
import { ConflictError, InputError, IntegrityError } from "../util/errors.ts";
import { commitStagingDir, makeStagingDir } from "./atomic-write.ts";
import type { EnvelopeContext } from "./keyring.ts";

/** What the store needs from a KeyRing. */
export interface ChunkStoreCipher {
  encrypt(plaintext: Uint8Array, context: EnvelopeContext): unknown;
  decrypt(envelope: unknown, context: EnvelopeContext): Uint8Array;
}

export const CHUNK_INDEX_PURPOSE = "dataset-chunk-index";
export const DATASET_SECRET_PURPOSE = "dataset-secret";

/** Purpose (associated data) of chunk c's envelope. */
export function chunkPurpose(chunkIndex: number): string {
  return `dataset-chunk-${chunkIndex}`;
}

/** A stored dataset is missing, unreadable, or does not match its signed manifest. */
export class ChunkStoreError extends IntegrityError {
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super("dataset_integrity", `chunk store ${dir}: ${reason}`);
  }
}

const MANIFEST_FILE = "manifest.json";
const SECRET_FILE = "secret.env";
const INDEX_FILE = "index.env";

function chunkFile(chunkIndex: number): string {
  return join("chunks", `${String(chunkIndex).padStart(8, "0")}.env`);
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** Stages a dataset directory chunk by chunk; `commit` moves it into place, `abort` removes it. */
export class ChunkStoreWriter {
  private constructor(
    readonly dir: string,
    private readonly staging: string,
    private readonly cipher: ChunkStoreCipher,
    private readonly datasetId: string,
    private readonly epoch: number,
  ) {}

  /** Opens a staging directory for `dir`; throws ChunkStoreError when `dir` already exists. */
  static async create(
    dir: string,
    cipher: ChunkStoreCipher,
    datasetId: string,
    epoch: number,
  ): Promise<ChunkStoreWriter> {
    if (await exists(dir))
      throw new ChunkStoreError(dir, "already exists (a stored epoch is never overwritten)");
    const staging = await makeStagingDir(dirname(dir));
    await mkdir(join(staging, "chunks"));
    return new ChunkStoreWriter(dir, staging, cipher, datasetId, epoch);
  }

  async writeChunk(chunk: CommittedChunkRecords): Promise<void> {
    const plaintext = encodeChunk(chunk.chunkIndex, chunk.records);
    await this.seal(chunkFile(chunk.chunkIndex), plaintext, chunkPurpose(chunk.chunkIndex));
  }

  /** Writes the index, secret and manifest, then renames the staging directory to `dir`. */
  async commit(result: ChunkedCommitResult, secret: Uint8Array): Promise<void> {
    const index = JSON.stringify({ v: 1, chunkRoots: result.chunkRoots.map(String) });
    await this.seal(INDEX_FILE, new TextEncoder().encode(index), CHUNK_INDEX_PURPOSE);
    await this.seal(SECRET_FILE, secret, DATASET_SECRET_PURPOSE);
    await writeFile(join(this.staging, MANIFEST_FILE), JSON.stringify(result.manifest));
    if (!(await commitStagingDir(this.staging, this.dir))) {
      throw new ConflictError(
        "epoch_not_newer",
        `chunk store ${this.dir} was created concurrently by another writer`,
      );
    }
  }

  async abort(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
  }

  private async seal(file: string, plaintext: Uint8Array, purpose: string): Promise<void> {
    const envelope = this.cipher.encrypt(plaintext, {
      datasetId: this.datasetId,
      epoch: this.epoch,
      purpose,
    });
    await writeFile(join(this.staging, file), JSON.stringify(envelope));
  }
}

/**
 * Streams a file into a chunked commitment and stores it under `dir` (encrypted, atomically): either the
 * whole dataset is stored and its manifest returned, or the promise rejects and nothing is left on disk.
 */
export function commitFileToChunkStore(
  path: string,
  dir: string,
  cipher: ChunkStoreCipher,
  input: Omit<CommitFileChunkedInput, "onChunk">,
): Promise<ChunkedCommitResult> {
  return storeCommitted(dir, cipher, input, (onChunk) => commitFileChunked(path, { ...input, onChunk }));
}

/** `commitFileToChunkStore` for records already in memory (an upload): same chunks, same atomicity. */
export function commitRecordsToChunkStore(
  records: readonly (readonly bigint[])[],
  dir: string,
  cipher: ChunkStoreCipher,
  input: Omit<CommitFileChunkedInput, "onChunk">,
): Promise<ChunkedCommitResult> {
  return storeCommitted(dir, cipher, input, (onChunk) =>
    commitRecordsChunked(records, { ...input, onChunk }),
  );
}

async function storeCommitted(
  dir: string,
  cipher: ChunkStoreCipher,
  input: Omit<CommitFileChunkedInput, "onChunk">,
  commit: (onChunk: (chunk: CommittedChunkRecords) => Promise<void>) => Promise<ChunkedCommitResult>,
): Promise<ChunkedCommitResult> {
  const writer = await ChunkStoreWriter.create(dir, cipher, input.datasetId, input.epoch);
  try {
    const result = await commit((chunk) => writer.writeChunk(chunk));
    await writer.commit(result, input.secret);
    return result;
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/** One chunk ready for a witness: S padded slots, its leaf salts, root and Merkle path (design.md 7.4). */
export interface LoadedChunk {
  readonly chunkIndex: number;
  /** S slots, encoded values in schema order; padding slots are all 0. */
  readonly values: bigint[][];
  /** S/B leaf salts. */
  readonly salts: bigint[];
  readonly realRecords: number;
  readonly chunkRoot: bigint;
  /** path[l] = the 16 children of level l above the chunk (bottom first). */
  readonly path: bigint[][];
}

/** Opens a stored dataset (checked against its manifest) and loads chunks one at a time. */
export class ChunkStoreReader {
  private constructor(
    readonly dir: string,
    readonly manifest: ChunkedManifest,
    private readonly cipher: ChunkStoreCipher,
    private readonly secret: Uint8Array,
    private readonly chunkRoots: readonly bigint[],
    private readonly tree: ReturnType<typeof datasetTree>,
    private readonly poseidon: PoseidonEx,
  ) {}

  /**
   * Reads the manifest (verified, and signed by `expectedOperatorKey` when given), the secret and the chunk
   * roots, and checks that the roots rebuild the manifest's root. Throws ChunkStoreError otherwise.
   */
  static async open(
    dir: string,
    cipher: ChunkStoreCipher,
    expectedOperatorKey?: string,
  ): Promise<ChunkStoreReader> {
    const manifest = await readManifest(dir);
    if (!verifyManifest(manifest, expectedOperatorKey))
      throw new ChunkStoreError(dir, "manifest signature is not valid");
    const context = (purpose: string) => ({ datasetId: manifest.datasetId, epoch: manifest.epoch, purpose });
    const secret = await openEnvelope(dir, SECRET_FILE, cipher, context(DATASET_SECRET_PURPOSE));
    if (secret.length !== DATASET_SECRET_BYTES)
      throw new ChunkStoreError(dir, "stored secret has the wrong length");
    const index = await openEnvelope(dir, INDEX_FILE, cipher, context(CHUNK_INDEX_PURPOSE));
    const chunkRoots = decodeIndex(dir, index, manifest.chunkCount);
    const poseidon = await getPoseidon();
    const tree = datasetTree(poseidon, chunkRoots, manifest.layout.treeDepth);
    if (tree.root.toString() !== manifest.root) {
      throw new ChunkStoreError(dir, "stored chunk roots do not rebuild the signed manifest's root");
    }
    return new ChunkStoreReader(dir, manifest, cipher, secret, chunkRoots, tree, poseidon);
  }

  get layout(): ChunkLayout {
    return this.manifest.layout;
  }

  /** Decrypts chunk c, pads it, derives its salts and checks its root against the index. */
  async loadChunk(chunkIndex: number): Promise<LoadedChunk> {
    const { manifest } = this;
    if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= manifest.chunkCount) {
      throw new RangeError(`chunk index ${chunkIndex} is not in 0..${manifest.chunkCount - 1}`);
    }
    const { chunkSize, leafRecords } = manifest.layout;
    const context = {
      datasetId: manifest.datasetId,
      epoch: manifest.epoch,
      purpose: chunkPurpose(chunkIndex),
    };
    const plaintext = await openEnvelope(this.dir, chunkFile(chunkIndex), this.cipher, context);
    const records = decodeChunk(this.dir, plaintext, chunkIndex, manifest.schema.fields.length);
    const expected = Math.min(chunkSize, Math.max(0, manifest.recordCount - chunkIndex * chunkSize));
    if (records.length !== expected) {
      throw new ChunkStoreError(
        this.dir,
        `chunk ${chunkIndex} holds ${records.length} records, expected ${expected}`,
      );
    }
    const committer = new ChunkCommitter(
      this.poseidon,
      manifest.layout,
      manifest.schema,
      this.secret,
      manifest.datasetId,
      manifest.epoch,
    );
    let chunkRoot: bigint;
    try {
      chunkRoot = committer.hashChunk(chunkIndex, records);
    } catch (error) {
      if (error instanceof RangeError || error instanceof InputError)
        throw new ChunkStoreError(this.dir, `chunk ${chunkIndex}: ${error.message}`);
      throw error;
    }
    if (chunkRoot !== this.chunkRoots[chunkIndex]) {
      throw new ChunkStoreError(this.dir, `chunk ${chunkIndex} does not match its committed root`);
    }
    const leafCount = chunkSize / leafRecords;
    const zero = manifest.schema.fields.map(() => 0n);
    return {
      chunkIndex,
      values: Array.from({ length: chunkSize }, (_, i) => [...(records[i] ?? zero)]),
      salts: deriveLeafSalts(
        this.secret,
        manifest.datasetId,
        manifest.epoch,
        chunkIndex * leafCount,
        leafCount,
      ),
      realRecords: records.length,
      chunkRoot,
      path: this.tree.path(chunkIndex),
    };
  }
}

async function readManifest(dir: string): Promise<ChunkedManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), "utf8");
  } catch {
    throw new ChunkStoreError(dir, "no manifest.json (not a stored dataset)");
  }
  const manifest = parseAnyManifest(JSON.parse(text));
  if (manifest.version !== 2)
    throw new ChunkStoreError(dir, "manifest is not a chunked (version 2) manifest");
  return manifest;
}

async function openEnvelope(
  dir: string,
  file: string,
  cipher: ChunkStoreCipher,
  context: EnvelopeContext,
): Promise<Uint8Array> {
  try {
    return cipher.decrypt(JSON.parse(await readFile(join(dir, file), "utf8")), context);
  } catch {
    // The cipher's own message may name key versions; callers only need to know the file is unusable.
    throw new ChunkStoreError(dir, `${file} is missing or does not decrypt for ${context.purpose}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Plaintext codecs (JSON with decimal strings, versioned)

/** Decimal digits of 2^64 - 1: record values are at most 64 bits. */
const U64_DIGITS = 20;

function encodeChunk(chunkIndex: number, records: readonly (readonly bigint[])[]): Uint8Array {
  const json = JSON.stringify({ v: 1, chunkIndex, records: records.map((record) => record.map(String)) });
  return new TextEncoder().encode(json);
}

function parseJson(dir: string, plaintext: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(plaintext));
    if (typeof value === "object" && value !== null) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ChunkStoreError(dir, `${what} plaintext is not a JSON object`);
}

function decodeChunk(dir: string, plaintext: Uint8Array, chunkIndex: number, fields: number): bigint[][] {
  const bad = (what: string) => new ChunkStoreError(dir, `chunk ${chunkIndex} plaintext: ${what}`);
  const value = parseJson(dir, plaintext, `chunk ${chunkIndex}`);
  if (value.v !== 1 || value.chunkIndex !== chunkIndex || !Array.isArray(value.records))
    throw bad("bad format");
  return value.records.map((record: unknown) => {
    if (!Array.isArray(record) || record.length !== fields) throw bad("record of the wrong length");
    return record.map((cell: unknown) => {
      if (!isCanonicalDecimal(cell, U64_DIGITS)) throw bad("bad value");
      return BigInt(cell);
    });
  });
}

function decodeIndex(dir: string, plaintext: Uint8Array, chunkCount: number): bigint[] {
  const value = parseJson(dir, plaintext, "index");
  if (value.v !== 1 || !Array.isArray(value.chunkRoots) || value.chunkRoots.length !== chunkCount) {
    throw new ChunkStoreError(dir, `index does not list ${chunkCount} chunk roots`);
  }
  return value.chunkRoots.map((root: unknown) => {
    if (!isCanonicalDecimal(root)) {
      throw new ChunkStoreError(dir, "index holds a malformed chunk root");
    }
    return BigInt(root);
  });
}
