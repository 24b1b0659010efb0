/**
 * @module service/datasets
 *
 * Datasets the service answers queries over. Registering one (admin only) loads the records against the
 * schema (all or nothing), draws a fresh 32-byte dataset secret, commits the records under the served
 * circuit's layout, signs the manifest with the operator key and stores the records and the secret as
 * KeyRing envelopes (AES-256-GCM; the associated data binds dataset id, epoch and purpose, so an envelope
 * moved to another dataset, epoch or column does not decrypt). The manifest is stored in clear: it is public.
 *
 * Loading for a proof decrypts both envelopes, recomputes the commitment and refuses (DatasetIntegrityError)
 * unless the root and record count equal the signed manifest's, so a swapped or corrupted envelope can never
 * be proven against.
 *
 * Chunked datasets (layout v2, design.md section 7): a dataset larger than one instance of the served circuit,
 * or registered with `chunked`, is committed in chunks (`commitRecordsChunked` for an upload,
 * `commitFileChunked` streaming a file with bounded memory for `registerFile`) into a chunk store directory
 * under the data directory (storage/chunk-store.ts), encrypted under the epoch's own data key (so shredding
 * the epoch shreds its chunks); its chunk and final circuits are pinned first (`prepareCircuits`,
 * service/chunk-circuits.ts). The row's records envelope then holds only the sealed location of that
 * directory, and `loadChunked` opens it with every check of `ChunkStoreReader` (operator signature, chunk
 * roots, each chunk's root) plus equality with the row's manifest.
 *
 * String keys (dataset/string-key.ts): a schema whose key is a `string-key` is parsed with the hasher of the
 * epoch's own dataset secret, so the secret (and the epoch) are drawn before the records are read;
 * `stringKeyHasher` gives the service's name lookup the same hasher. A chunked one is committed in hashed-key
 * order (dataset/chunked.ts `commitmentOrder`; a file is then loaded whole, not streamed). They are not
 * re-committed by erasure (the stored keys are hashes under the old epoch's secret; re-register the epoch
 * from the source file).
 *
 * Security caveats: decrypted datasets are cached in memory for the life of the process (a proof needs them
 * in clear anyway). `DatasetError` messages (invalid_records) from loading quote cell values: they go back to the admin who
 * uploaded them and are never logged.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { AggregateShape } from "../circuits/shape.ts";
import { isCanonicalDecimal } from "../core/field.ts";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import type { CommittedChunk } from "../dataset/chunk-commit.ts";
import type { ChunkLayout } from "../dataset/chunk-layout.ts";
import { type ChunkedCommitResult, chunkLayoutFor } from "../dataset/chunked.ts";
import { commitDataset, getPoseidon } from "../dataset/commitment.ts";
import { type CommittedDataset, commitRecords } from "../dataset/committed.ts";
import { parseCsv, parseJsonl, streamDataset } from "../dataset/load.ts";
import {
  type AnyManifest,
  type ChunkedManifest,
  manifestHash,
  parseAnyManifest,
} from "../dataset/manifest.ts";
import { operatorKeyOf } from "../dataset/manifest-sign.ts";
import { deriveNoiseSecret, type NoiseSecret, noiseSeedCommitment } from "../dataset/noise-seed.ts";
import { DATASET_SECRET_BYTES, generateDatasetSecret } from "../dataset/salt.ts";
import { parseSchema, type Schema, stringKeyField } from "../dataset/schema.ts";
import { type StringKeyHasher, stringKeyHasher } from "../dataset/string-key.ts";
import {
  type ChunkStoreCipher,
  ChunkStoreReader,
  commitFileToChunkStore,
  commitRecordsToChunkStore,
} from "../storage/chunk-store.ts";
import { ConflictError, InputError, IntegrityError, NotFoundError } from "../util/errors.ts";
import { type Db, statement } from "./db.ts";
import { EpochKeys, epochCipher } from "./epoch-keys.ts";
import { DatasetIntegrityError } from "./errors.ts";
import { parseOrThrow } from "./partners.ts";
import { type EnvelopeCipher, openText, SERVICE_KEY_SCOPE, sealText } from "./sealed.ts";

const RECORDS_PURPOSE = "dataset-records";
const SECRET_PURPOSE = "dataset-secret";

/** How to commit: `false` one circuit instance (v1), `true` or a (partial) layout chunked (v2). */
const chunkedSchema = z.union([
  z.boolean(),
  z.strictObject({
    chunkSize: z.int().min(1).max(65_536).optional(),
    leafRecords: z.int().min(1).max(65_536).optional(),
    treeDepth: z.int().min(1).max(8).optional(),
  }),
]);

const datasetFields = {
  datasetId: z.string().regex(DATASET_ID_PATTERN, `must match ${DATASET_ID_PATTERN}`),
  /** Default: one more than the latest registered epoch (1 for a new dataset). */
  epoch: z
    .int()
    .min(0)
    .max(2 ** 31)
    .optional(),
  schema: z.unknown(),
  /**
   * Default: chunked (layout v2, the service's chunk layout) when the records do not fit one instance of the
   * served circuit, else one instance (v1). `true` or a layout forces chunks, `false` forbids them.
   */
  chunked: chunkedSchema.optional(),
};

/** A dataset registered from a file (the command line): everything but the records. */
export const registerDatasetFileSchema = z.strictObject(datasetFields);

export const registerDatasetSchema = z
  .strictObject({
    ...datasetFields,
    /** Records as JSON objects keyed by field name (JSONL semantics). */
    rows: z.array(z.record(z.string(), z.unknown())).max(1_000_000).optional(),
    /** Records as CSV text with a header row. */
    csv: z.string().optional(),
    /** Records as JSONL text (one object per line; repeated keys are refused). */
    jsonl: z.string().optional(),
  })
  .refine((value) => [value.rows, value.csv, value.jsonl].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of rows, csv and jsonl",
    path: ["rows"],
  });

export type RegisterDatasetInput = z.input<typeof registerDatasetSchema>;
type DatasetFields = z.output<typeof registerDatasetFileSchema>;

export interface StoredDataset {
  readonly datasetId: string;
  readonly epoch: number;
  readonly manifest: AnyManifest;
  readonly manifestHash: string;
  readonly createdAt: number;
  /** When the epoch's data were crypto-shredded (erasure or retention); null while answerable. */
  readonly shreddedAt: number | null;
}

/** What the API shows of a stored dataset: public material only (no records, salts or secrets). */
export function datasetView(dataset: StoredDataset) {
  return {
    datasetId: dataset.datasetId,
    epoch: dataset.epoch,
    manifestHash: dataset.manifestHash,
    manifest: dataset.manifest,
  };
}

interface DatasetRow {
  dataset_id: string;
  epoch: number;
  manifest: string;
  records_envelope: string;
  secret_envelope: string;
  created_at: number;
  shredded_at: number | null;
}

/** What a shredded epoch's envelope columns hold (the manifest stays: old bundles keep verifying). */
const SHREDDED = "shredded";

/** A chunked dataset ready for `proveChain`: every chunk loaded and checked, and its records in order. */
export interface ChunkedDataset {
  readonly manifest: ChunkedManifest;
  readonly committed: {
    readonly root: bigint;
    readonly recordCount: number;
    readonly chunks: readonly CommittedChunk[];
  };
  /** The real records in commitment order (for the reference evaluator). */
  readonly records: readonly (readonly bigint[])[];
}

/** Where and how chunked datasets are stored. */
export interface ChunkedDatasetOptions {
  /** Directory holding one chunk store per dataset epoch. */
  readonly root: string;
  /** Layout used when a registration does not give one (config `chunks`). */
  readonly defaults: { readonly size: number; readonly treeDepth: number; readonly leafRecords?: number };
  /** Pins (or, in development mode, builds) the chain circuits; returns the ids the manifest announces. */
  readonly prepareCircuits: (schema: Schema, layout: ChunkLayout) => Promise<readonly string[]>;
}

/** The sealed location of a chunk store (the plaintext of a v2 row's records envelope). */
interface ChunkStorePointer {
  readonly v: 2;
  /** Relative to the chunk store root. */
  readonly chunkStore: string;
}

/** An epoch cipher as the chunk store calls it. */
function chunkStoreCipher(cipher: EnvelopeCipher): ChunkStoreCipher {
  return {
    encrypt: (plaintext, context) => cipher.encrypt(plaintext, context),
    decrypt: (envelope, context) => cipher.decrypt(envelope as never, context),
  };
}

export interface DatasetStoreOptions {
  readonly db: Db;
  readonly cipher: EnvelopeCipher;
  readonly operatorSecretKey: Uint8Array;
  readonly shape: AggregateShape;
  readonly circuitId: string;
  /** Chunked datasets; without it, only datasets that fit one circuit instance can be registered. */
  readonly chunked?: ChunkedDatasetOptions;
  readonly now?: () => number;
  /** Epochs kept answerable per dataset (the newest ones); older ones are shredded. Default: all. */
  readonly retainEpochs?: number;
}

export class DatasetStore {
  private readonly cache = new Map<string, Promise<CommittedDataset>>();
  private readonly chunkedCache = new Map<string, Promise<ChunkedDataset>>();
  private readonly epochKeys: EpochKeys;

  constructor(private readonly options: DatasetStoreOptions) {
    this.epochKeys = new EpochKeys(options.db, options.cipher, () => this.now());
  }

  /**
   * Validates, commits, signs and stores a dataset (admin). `withinTransaction` runs in the transaction that
   * inserts the row (the caller's audit entry), so the dataset exists exactly when its registration is logged.
   */
  async register(
    input: unknown,
    withinTransaction?: (stored: StoredDataset) => void,
  ): Promise<StoredDataset> {
    const parsed = parseOrThrow(registerDatasetSchema, input, "invalid_dataset");
    const schema = this.schemaOf(parsed);
    const drawn = this.drawForStringKeys(parsed, schema);
    const records = parseRecords(parsed, schema, drawn?.stringKeys); // DatasetError: invalid_records
    refuseEmpty(
      records.length,
      parsed.csv !== undefined ? "csv" : parsed.jsonl !== undefined ? "jsonl" : "rows",
    );
    if (this.wantsChunks(parsed.chunked, records.length)) {
      return this.registerChunked(
        parsed,
        schema,
        withinTransaction,
        (dir, commit, cipher) => commitRecordsToChunkStore(records, dir, cipher, commit),
        drawn,
      );
    }
    const epoch = drawn?.epoch ?? parsed.epoch;
    return this.commitEpoch(parsed.datasetId, schema, records, epoch, withinTransaction, drawn?.secret);
  }

  /**
   * For a schema keyed by a string key: the epoch and dataset secret drawn before the records are read, and
   * the hasher they give (undefined for other schemas).
   */
  private drawForStringKeys(
    parsed: DatasetFields,
    schema: Schema,
  ): { epoch: number; secret: Uint8Array; stringKeys: StringKeyHasher } | undefined {
    if (stringKeyField(schema) === undefined) return undefined;
    const latest = this.latest(parsed.datasetId);
    const epoch = parsed.epoch ?? (latest ? latest.epoch + 1 : 1);
    const secret = generateDatasetSecret();
    return { epoch, secret, stringKeys: stringKeyHasher(secret, parsed.datasetId, epoch) };
  }

  /**
   * The string-key hasher of a stored epoch (the service's name lookup), from its sealed dataset secret.
   * Secret: operator side only.
   */
  stringKeyHasher(datasetId: string, epoch: number): StringKeyHasher {
    const secret = this.openSecret(datasetId, epoch);
    const hasher = stringKeyHasher(secret, datasetId, epoch);
    secret.fill(0);
    return hasher;
  }

  /**
   * Registers a dataset from a CSV or JSONL file (format by extension; the command line's `dataset add`).
   * A chunked file is streamed (`commitFileChunked`, bounded memory; a string-keyed one is loaded whole and
   * sorted by hashed key); otherwise it is read only as far as one circuit instance holds, and committed as
   * `register` would.
   */
  async registerFile(
    input: unknown,
    file: string,
    withinTransaction?: (stored: StoredDataset) => void,
  ): Promise<StoredDataset> {
    const parsed = parseOrThrow(registerDatasetFileSchema, input, "invalid_dataset");
    const schema = this.schemaOf(parsed);
    const drawn = this.drawForStringKeys(parsed, schema);
    const forced = parsed.chunked === true || typeof parsed.chunked === "object";
    const limit = parsed.chunked === false ? Number.POSITIVE_INFINITY : this.options.shape.capacity;
    const small = forced ? undefined : await readAtMost(file, schema, limit, drawn?.stringKeys);
    if (small !== undefined) refuseEmpty(small.length, path.basename(file));
    if (small === undefined) {
      return this.registerChunked(
        parsed,
        schema,
        withinTransaction,
        (dir, commit, cipher) => commitFileToChunkStore(file, dir, cipher, commit),
        drawn,
      );
    }
    const epoch = drawn?.epoch ?? parsed.epoch;
    return this.commitEpoch(parsed.datasetId, schema, small, epoch, withinTransaction, drawn?.secret);
  }

  /** Checks the id and parses the schema. */
  private schemaOf(parsed: DatasetFields): Schema {
    if (parsed.datasetId === SERVICE_KEY_SCOPE) {
      throw new InputError("invalid_dataset", `dataset id ${SERVICE_KEY_SCOPE} is reserved`, {
        path: "datasetId",
      });
    }
    return parseSchema(parsed.schema); // SchemaError: invalid_schema
  }

  private wantsChunks(chunked: DatasetFields["chunked"], recordCount: number): boolean {
    if (chunked === undefined) return recordCount > this.options.shape.capacity;
    return chunked !== false;
  }

  /**
   * The chunked `commitEpoch`: pins the chain circuits, commits the records into a fresh chunk store
   * directory (atomically, under a fresh epoch key), then inserts the row with that key in one transaction;
   * the directory is removed again when the row cannot be inserted. `drawn`: a string-keyed dataset's epoch
   * and secret, drawn before its names were hashed (`drawForStringKeys`).
   */
  private async registerChunked(
    parsed: DatasetFields,
    schema: Schema,
    withinTransaction: ((stored: StoredDataset) => void) | undefined,
    commit: (
      dir: string,
      input: Parameters<typeof commitFileToChunkStore>[3],
      cipher: ChunkStoreCipher,
    ) => Promise<ChunkedCommitResult>,
    drawn?: { epoch: number; secret: Uint8Array },
  ): Promise<StoredDataset> {
    const chunked = this.options.chunked;
    if (!chunked) {
      throw new InputError(
        "invalid_dataset",
        "this service commits datasets in one circuit instance only (chunked datasets are not configured)",
      );
    }
    const { datasetId } = parsed;
    const latest = this.latest(datasetId);
    const epoch = drawn?.epoch ?? parsed.epoch ?? (latest ? latest.epoch + 1 : 1);
    this.assertNewEpoch(datasetId, epoch, latest);
    const layout = this.chunkLayout(schema, parsed.chunked);
    const circuits = await chunked.prepareCircuits(schema, layout);
    const relative = path.join(datasetId, `${epoch}-${randomUUID()}`);
    const dir = path.join(chunked.root, relative);
    const secret = drawn?.secret ?? generateDatasetSecret();
    const key = new Uint8Array(randomBytes(32));
    // The noise seed derives from the (sealed) dataset secret: only its commitment leaves this function.
    const noiseCommitment = noiseSeedCommitment(
      await getPoseidon(),
      deriveNoiseSecret(secret, datasetId, epoch),
    );
    const input = {
      datasetId,
      epoch,
      schema,
      layout,
      secret,
      noiseCommitment,
      operatorSecretKey: this.options.operatorSecretKey,
      circuits,
      createdAt: new Date(this.now()),
      ...(latest ? { previousManifestHash: latest.manifestHash } : {}),
    };
    const result = await commit(dir, input, chunkStoreCipher(epochCipher(key))).catch((error: unknown) => {
      throw error instanceof RangeError ? new InputError("invalid_dataset", error.message) : error;
    });
    const pointer: ChunkStorePointer = { v: 2, chunkStore: relative };
    try {
      return this.options.db.transaction(() => {
        if (this.latest(datasetId)?.manifestHash !== latest?.manifestHash) {
          throw new ConflictError(
            "epoch_fork",
            `dataset ${datasetId} gained an epoch while committing; retry`,
          );
        }
        this.insert(result.manifest, Buffer.from(JSON.stringify(pointer), "utf8"), secret, key);
        const stored = this.require(datasetId, epoch);
        this.applyRetention(datasetId);
        withinTransaction?.(stored);
        return stored;
      })();
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    } finally {
      key.fill(0);
    }
  }

  /** The requested layout with the service's defaults filled in; InputError when the schema cannot take it. */
  private chunkLayout(schema: Schema, requested: DatasetFields["chunked"]): ChunkLayout {
    const defaults = (this.options.chunked as ChunkedDatasetOptions).defaults;
    const given = typeof requested === "object" ? requested : {};
    const leafRecords =
      given.leafRecords ?? (given.chunkSize === undefined ? defaults.leafRecords : undefined);
    try {
      return chunkLayoutFor(schema, {
        chunkSize: given.chunkSize ?? defaults.size,
        treeDepth: given.treeDepth ?? defaults.treeDepth,
        ...(leafRecords === undefined ? {} : { leafRecords }),
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new InputError("invalid_dataset", error.message, { path: "chunked" });
    }
  }

  /**
   * Commits records as the dataset's next epoch, linked to the latest one (design.md section 5, epoch
   * chain), signs and stores it under a fresh epoch key, then applies the retention setting. An epoch at or
   * below the latest is refused: `epoch_fork` when that epoch exists (a second manifest for it would fork
   * the chain), `epoch_not_newer` otherwise.
   */
  async commitEpoch(
    datasetId: string,
    schema: Schema,
    records: bigint[][],
    requestedEpoch?: number,
    withinTransaction?: (stored: StoredDataset) => void,
    secret = generateDatasetSecret(),
  ): Promise<StoredDataset> {
    const latest = this.latest(datasetId);
    const epoch = requestedEpoch ?? (latest ? latest.epoch + 1 : 1);
    this.assertNewEpoch(datasetId, epoch, latest);
    // Records beyond the layout's capacity or a schema wider than it: InputError invalid_dataset.
    const committed = await commitRecords({
      datasetId,
      epoch,
      schema,
      records,
      layout: this.options.shape,
      secret,
      operatorSecretKey: this.options.operatorSecretKey,
      circuits: [this.options.circuitId],
      createdAt: new Date(this.now()),
      ...(latest ? { previousManifestHash: latest.manifestHash } : {}),
    });
    return this.options.db.transaction(() => {
      if (this.latest(datasetId)?.manifestHash !== latest?.manifestHash) {
        throw new ConflictError("epoch_fork", `dataset ${datasetId} gained an epoch while committing; retry`);
      }
      this.insert(committed.manifest, recordsPlaintext(committed.records), secret);
      const stored = this.require(datasetId, epoch);
      this.applyRetention(datasetId);
      withinTransaction?.(stored);
      return stored;
    })();
  }

  /**
   * Commits `records` as the dataset's next epoch in the latest epoch's form: one circuit instance
   * (`commitEpoch`) or chunks in its layout (a chunked epoch stays chunked). Erasure re-commits this way.
   */
  commitNextEpoch(
    latest: StoredDataset,
    records: bigint[][],
    withinTransaction?: (stored: StoredDataset) => void,
  ): Promise<StoredDataset> {
    const { datasetId, manifest } = latest;
    if (stringKeyField(manifest.schema) !== undefined) {
      throw new InputError(
        "invalid_dataset",
        `dataset ${datasetId} has a string key: its stored keys are hashes under the epoch's own secret and cannot be re-committed; register the next epoch from the source file without the erased persons`,
      );
    }
    if (manifest.version === 1) {
      return this.commitEpoch(datasetId, manifest.schema, records, undefined, withinTransaction);
    }
    const { chunkSize, leafRecords, treeDepth } = manifest.layout;
    const fields = { datasetId, schema: manifest.schema, chunked: { chunkSize, leafRecords, treeDepth } };
    return this.registerChunked(fields, manifest.schema, withinTransaction, (dir, commit, cipher) =>
      commitRecordsToChunkStore(records, dir, cipher, commit),
    );
  }

  /** The records and schema of a stored epoch of either form (decrypted and checked, as for a proof). */
  async loadRecords(
    datasetId: string,
    epoch: number,
  ): Promise<{ schema: Schema; records: readonly (readonly bigint[])[] }> {
    const stored = this.require(datasetId, epoch);
    if (stored.manifest.version === 2) {
      return { schema: stored.manifest.schema, records: (await this.loadChunked(datasetId, epoch)).records };
    }
    const committed = await this.loadCommitted(datasetId, epoch);
    return { schema: committed.schema, records: committed.records };
  }

  private assertNewEpoch(datasetId: string, epoch: number, latest: StoredDataset | undefined): void {
    if (this.row(datasetId, epoch)) {
      throw new ConflictError(
        "epoch_fork",
        `dataset ${datasetId} epoch ${epoch} already has a signed manifest; a second one would fork its history`,
        { hint: "commit the change as a new epoch (omit epoch to take the next one)" },
      );
    }
    if (latest && epoch <= latest.epoch) {
      throw new ConflictError("epoch_not_newer", `epoch must be above ${latest.epoch} for ${datasetId}`);
    }
  }

  /** Shreds answerable epochs beyond the newest `retainEpochs` (inside the caller's transaction). */
  private applyRetention(datasetId: string): number {
    const keep = this.options.retainEpochs;
    if (keep === undefined) return 0;
    const old = statement(
      this.options.db,
      `SELECT epoch FROM datasets WHERE dataset_id = ? AND shredded_at IS NULL
         ORDER BY epoch DESC LIMIT -1 OFFSET ?`,
    ).all(datasetId, keep) as { epoch: number }[];
    for (const { epoch } of old) this.shred(datasetId, epoch);
    return old.length;
  }

  /**
   * Crypto-shreds one epoch (inside the caller's transaction): destroys its epoch key and overwrites its
   * envelopes; the manifest stays, so bundles over it still verify, but it can no longer be answered.
   */
  shred(datasetId: string, epoch: number): void {
    this.epochKeys.destroy(datasetId, epoch);
    statement(
      this.options.db,
      `UPDATE datasets SET records_envelope = ?, secret_envelope = ?, shredded_at = ?
         WHERE dataset_id = ? AND epoch = ? AND shredded_at IS NULL`,
    ).run(SHREDDED, SHREDDED, this.now(), datasetId, epoch);
    this.cache.delete(`${datasetId}@${epoch}`);
    this.chunkedCache.delete(`${datasetId}@${epoch}`);
  }

  /** Every epoch of a dataset, oldest first (the manifests of its chain, shredded ones included). */
  history(datasetId: string): StoredDataset[] {
    const rows = statement(this.options.db, "SELECT * FROM datasets WHERE dataset_id = ? ORDER BY epoch").all(
      datasetId,
    ) as DatasetRow[];
    return rows.map(toStored);
  }

  /** The epoch a query may be asked of: the latest, or a named one that is still retained. */
  answerable(datasetId: string, epoch?: number): StoredDataset | undefined {
    const stored = epoch === undefined ? this.latest(datasetId) : this.get(datasetId, epoch);
    if (stored?.shreddedAt != null) {
      throw new ConflictError(
        "epoch_retired",
        `dataset ${datasetId} epoch ${stored.epoch} is past retention or erased and can no longer be answered`,
        { hint: "ask the latest epoch (omit epoch)" },
      );
    }
    return stored;
  }

  get(datasetId: string, epoch: number): StoredDataset | undefined {
    const row = this.row(datasetId, epoch);
    return row === undefined ? undefined : toStored(row);
  }

  /**
   * Inserts the row, then seals the records plaintext (a v1 dataset's records, a v2 dataset's chunk store
   * location) and the secret under the epoch's fresh key (`key`, or a random one).
   */
  private insert(
    manifest: AnyManifest,
    recordsPlain: Uint8Array,
    secret: Uint8Array,
    key?: Uint8Array,
  ): void {
    const { datasetId, epoch } = manifest;
    const aad = (purpose: string) => ({ datasetId, epoch, purpose });
    try {
      statement(
        this.options.db,
        `INSERT INTO datasets (dataset_id, epoch, manifest, records_envelope, secret_envelope, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(datasetId, epoch, JSON.stringify(manifest), SHREDDED, SHREDDED, this.now());
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new ConflictError("epoch_fork", `dataset ${datasetId} epoch ${epoch} already exists`);
      }
      throw error;
    }
    // The row exists first (the key's foreign key), then the envelopes are sealed under its fresh key.
    const cipher = this.epochKeys.create(datasetId, epoch, key);
    statement(
      this.options.db,
      "UPDATE datasets SET records_envelope = ?, secret_envelope = ? WHERE dataset_id = ? AND epoch = ?",
    ).run(
      sealText(cipher, recordsPlain, aad(RECORDS_PURPOSE)),
      sealText(cipher, secret, aad(SECRET_PURPOSE)),
      datasetId,
      epoch,
    );
  }

  /** The storage cipher (KeyRing) envelopes and epoch keys are sealed under. */
  get storageCipher(): EnvelopeCipher {
    return this.options.cipher;
  }

  /** The latest epoch of every dataset, by id. */
  listLatest(): StoredDataset[] {
    const rows = statement(
      this.options.db,
      `SELECT d.* FROM datasets d
         JOIN (SELECT dataset_id, MAX(epoch) AS epoch FROM datasets GROUP BY dataset_id) m
           ON d.dataset_id = m.dataset_id AND d.epoch = m.epoch
         ORDER BY d.dataset_id`,
    ).all() as DatasetRow[];
    return rows.map(toStored);
  }

  latest(datasetId: string): StoredDataset | undefined {
    const row = statement(
      this.options.db,
      "SELECT * FROM datasets WHERE dataset_id = ? ORDER BY epoch DESC LIMIT 1",
    ).get(datasetId) as DatasetRow | undefined;
    return row === undefined ? undefined : toStored(row);
  }

  require(datasetId: string, epoch: number): StoredDataset {
    const row = this.row(datasetId, epoch);
    if (!row) throw new NotFoundError(`dataset ${datasetId} epoch ${epoch}`);
    return toStored(row);
  }

  /**
   * The dataset with records and commitment, decrypted and checked against its manifest (cached).
   * Throws DatasetIntegrityError when an envelope does not decrypt or the recomputed root differs.
   */
  loadCommitted(datasetId: string, epoch: number): Promise<CommittedDataset> {
    const key = `${datasetId}@${epoch}`;
    let loading = this.cache.get(key);
    if (!loading) {
      loading = this.decryptAndCheck(datasetId, epoch);
      this.cache.set(key, loading);
      loading.catch(() => this.cache.delete(key));
    }
    return loading;
  }

  /**
   * A chunked (v2) dataset with every chunk decrypted and checked (cached): the chunk store's manifest must
   * be this row's and carry the operator's signature, the stored chunk roots must rebuild its root and each
   * chunk its root. Throws an IntegrityError (DatasetIntegrityError, ChunkStoreError) otherwise.
   */
  loadChunked(datasetId: string, epoch: number): Promise<ChunkedDataset> {
    const key = `${datasetId}@${epoch}`;
    let loading = this.chunkedCache.get(key);
    if (!loading) {
      loading = this.openChunked(datasetId, epoch);
      this.chunkedCache.set(key, loading);
      loading.catch(() => this.chunkedCache.delete(key));
    }
    return loading;
  }

  /**
   * The noise seed and blind of a chunked epoch (design.md 8.1), derived from its sealed dataset secret and
   * checked against the manifest's noiseCommitment. Secret: for the noisy final step's witness only.
   */
  async noiseSecret(datasetId: string, epoch: number): Promise<NoiseSecret> {
    const secret = this.openSecret(datasetId, epoch);
    const manifest = parseAnyManifest(JSON.parse((this.row(datasetId, epoch) as DatasetRow).manifest));
    const noise = deriveNoiseSecret(secret, datasetId, epoch);
    secret.fill(0);
    const commitment = noiseSeedCommitment(await getPoseidon(), noise);
    if (manifest.version !== 2 || manifest.noiseCommitment !== String(commitment)) {
      throw new DatasetIntegrityError(
        datasetId,
        epoch,
        "the noise seed does not open the manifest's commitment",
      );
    }
    return noise;
  }

  /** The epoch's dataset secret, decrypted (the caller zeroes it); DatasetIntegrityError when unavailable. */
  private openSecret(datasetId: string, epoch: number): Uint8Array {
    const row = this.row(datasetId, epoch);
    if (!row || row.shredded_at !== null)
      throw new DatasetIntegrityError(datasetId, epoch, "not stored or shredded");
    try {
      return openText(this.cipherOf(datasetId, epoch), row.secret_envelope, {
        datasetId,
        epoch,
        purpose: SECRET_PURPOSE,
      });
    } catch (error) {
      if (!(error instanceof IntegrityError)) throw error;
      throw new DatasetIntegrityError(datasetId, epoch, "stored secret does not decrypt");
    }
  }

  /** Drops decrypted datasets from memory (after key rotation, or for tests). */
  clearCache(): void {
    this.cache.clear();
    this.chunkedCache.clear();
  }

  /** The epoch's cipher: its own key, or the storage KeyRing for epochs registered before epoch keys. */
  private cipherOf(datasetId: string, epoch: number): EnvelopeCipher {
    return this.epochKeys.cipherFor(datasetId, epoch) ?? this.options.cipher;
  }

  /** The chunk store directory a v2 row's sealed pointer names. */
  private chunkStoreDir(row: DatasetRow, cipher: EnvelopeCipher): string {
    const { dataset_id: datasetId, epoch } = row;
    const root = this.options.chunked?.root;
    if (root === undefined) {
      throw new DatasetIntegrityError(datasetId, epoch, "chunked datasets are not configured");
    }
    let pointer: Partial<ChunkStorePointer> | undefined;
    try {
      const plain = openText(cipher, row.records_envelope, { datasetId, epoch, purpose: RECORDS_PURPOSE });
      pointer = JSON.parse(Buffer.from(plain).toString("utf8"));
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof SyntaxError)) throw error;
      throw new DatasetIntegrityError(datasetId, epoch, "stored chunk store location does not decrypt");
    }
    const relative = pointer?.chunkStore;
    if (
      pointer?.v !== 2 ||
      typeof relative !== "string" ||
      path.isAbsolute(relative) ||
      path.normalize(relative).startsWith("..")
    ) {
      throw new DatasetIntegrityError(datasetId, epoch, "stored chunk store location is malformed");
    }
    return path.join(root, relative);
  }

  private async openChunked(datasetId: string, epoch: number): Promise<ChunkedDataset> {
    const row = this.row(datasetId, epoch);
    if (!row) throw new DatasetIntegrityError(datasetId, epoch, "not stored");
    if (row.shredded_at !== null)
      throw new DatasetIntegrityError(datasetId, epoch, "shredded (erased or past retention)");
    const manifest = parseAnyManifest(JSON.parse(row.manifest));
    if (manifest.version !== 2) throw new DatasetIntegrityError(datasetId, epoch, "not a chunked dataset");
    const cipher = this.cipherOf(datasetId, epoch);
    const reader = await ChunkStoreReader.open(
      this.chunkStoreDir(row, cipher),
      chunkStoreCipher(cipher),
      operatorKeyOf(this.options.operatorSecretKey),
    );
    if (manifestHash(reader.manifest) !== manifestHash(manifest)) {
      throw new DatasetIntegrityError(datasetId, epoch, "the chunk store holds another manifest");
    }
    const chunks: CommittedChunk[] = [];
    const records: bigint[][] = [];
    for (let c = 0; c < manifest.chunkCount; c++) {
      const chunk = await reader.loadChunk(c);
      chunks.push(chunk);
      records.push(...chunk.values.slice(0, chunk.realRecords));
    }
    const committed = { root: BigInt(manifest.root), recordCount: manifest.recordCount, chunks };
    return { manifest, committed, records };
  }

  /** Re-encrypts every envelope under the cipher's current key (after a KeyRing rotation); returns how many. */
  reencryptAll(
    reencrypt: (envelopeText: string, aad: { datasetId: string; epoch: number; purpose: string }) => string,
  ): number {
    // Epochs with an epoch key: only the key is re-sealed; shredded epochs hold nothing to re-encrypt.
    const rows = statement(
      this.options.db,
      `SELECT d.* FROM datasets d WHERE d.shredded_at IS NULL AND NOT EXISTS
         (SELECT 1 FROM epoch_keys k WHERE k.dataset_id = d.dataset_id AND k.epoch = d.epoch)`,
    ).all() as DatasetRow[];
    const update = statement(
      this.options.db,
      "UPDATE datasets SET records_envelope = ?, secret_envelope = ? WHERE dataset_id = ? AND epoch = ?",
    );
    let keys = 0;
    this.options.db.transaction(() => {
      keys = this.epochKeys.resealAll(reencrypt);
      for (const row of rows) {
        const aad = (purpose: string) => ({ datasetId: row.dataset_id, epoch: row.epoch, purpose });
        update.run(
          reencrypt(row.records_envelope, aad(RECORDS_PURPOSE)),
          reencrypt(row.secret_envelope, aad(SECRET_PURPOSE)),
          row.dataset_id,
          row.epoch,
        );
      }
    })();
    return rows.length * 2 + keys;
  }

  private row(datasetId: string, epoch: number): DatasetRow | undefined {
    return statement(this.options.db, "SELECT * FROM datasets WHERE dataset_id = ? AND epoch = ?").get(
      datasetId,
      epoch,
    ) as DatasetRow | undefined;
  }

  private async decryptAndCheck(datasetId: string, epoch: number): Promise<CommittedDataset> {
    const row = this.row(datasetId, epoch);
    if (!row) throw new DatasetIntegrityError(datasetId, epoch, "not stored");
    if (row.shredded_at !== null)
      throw new DatasetIntegrityError(datasetId, epoch, "shredded (erased or past retention)");
    const manifest = parseAnyManifest(JSON.parse(row.manifest));
    if (manifest.version !== 1) {
      throw new DatasetIntegrityError(datasetId, epoch, "a chunked dataset is loaded with loadChunked");
    }
    const aad = (purpose: string) => ({ datasetId, epoch, purpose });
    let secret: Uint8Array;
    let records: bigint[][] | undefined;
    try {
      const cipher = this.cipherOf(datasetId, epoch);
      secret = openText(cipher, row.secret_envelope, aad(SECRET_PURPOSE));
      const plain = openText(cipher, row.records_envelope, aad(RECORDS_PURPOSE));
      records = parseRecordsPlaintext(Buffer.from(plain).toString("utf8"));
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof SyntaxError)) throw error;
      // The cipher's own message may name key versions; callers only need to know the data is unusable.
      throw new DatasetIntegrityError(datasetId, epoch, "stored records or secret do not decrypt");
    }
    if (records === undefined) {
      throw new DatasetIntegrityError(datasetId, epoch, "decrypted records are not in the stored format");
    }
    if (secret.length !== DATASET_SECRET_BYTES) {
      throw new DatasetIntegrityError(datasetId, epoch, "stored secret has the wrong length");
    }
    const commitment = await commitDataset({ layout: manifest.layout, records, secret, datasetId, epoch });
    if (commitment.root.toString() !== manifest.root || records.length !== manifest.recordCount) {
      throw new DatasetIntegrityError(datasetId, epoch, "decrypted records do not match the signed manifest");
    }
    return { schema: manifest.schema, records, commitment, manifest };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

function toStored(row: DatasetRow): StoredDataset {
  const manifest = parseAnyManifest(JSON.parse(row.manifest));
  return {
    datasetId: row.dataset_id,
    epoch: row.epoch,
    manifest,
    manifestHash: manifestHash(manifest),
    createdAt: row.created_at,
    shreddedAt: row.shredded_at ?? null,
  };
}

/** The plaintext of a v1 dataset's records envelope. */
function recordsPlaintext(records: readonly (readonly bigint[])[]): Uint8Array {
  return Buffer.from(JSON.stringify({ v: 1, records: records.map((r) => r.map(String)) }), "utf8");
}

/**
 * The records of a file when it holds at most `limit` of them (read and validated as `loadDataset` does);
 * `undefined` as soon as it holds more, having read only `limit + 1` records.
 */
/** A dataset with no records (a header-only file) is refused: a signed 0-record manifest helps nobody. */
function refuseEmpty(recordCount: number, source: string): void {
  if (recordCount > 0) return;
  throw new InputError("invalid_records", `${source}: no records (only a header, or an empty file)`, {
    path: source,
    hint: "add the records below the header; a dataset needs at least one record",
  });
}

async function readAtMost(
  file: string,
  schema: Schema,
  limit: number,
  stringKeys?: StringKeyHasher,
): Promise<bigint[][] | undefined> {
  const tooMany = Symbol("too many records");
  let records: bigint[][] = [];
  try {
    await streamDataset(
      file,
      schema,
      (batch) => {
        if (batch.length > limit) throw tooMany;
        records = batch;
      },
      {
        batchSize: Number.isFinite(limit) ? limit + 1 : Number.MAX_SAFE_INTEGER,
        ...(stringKeys === undefined ? {} : { stringKeys }),
      },
    );
  } catch (error) {
    if (error === tooMany) return undefined;
    throw error instanceof RangeError ? new InputError("invalid_dataset", error.message) : error;
  }
  return records;
}

/** The decrypted records; `undefined` when the plaintext is not in the stored format. */
function parseRecordsPlaintext(text: string): bigint[][] | undefined {
  let value: { v?: unknown; records?: unknown };
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value?.v !== 1 || !Array.isArray(value.records)) return undefined;
  const records: bigint[][] = [];
  for (const record of value.records) {
    if (!Array.isArray(record)) return undefined;
    if (!record.every((cell) => isCanonicalDecimal(cell, 20))) {
      return undefined;
    }
    records.push(record.map((cell) => BigInt(cell)));
  }
  return records;
}

/** The admin sees which row and column is wrong (their own upload); the message is never logged. */
function parseRecords(
  input: { rows?: Record<string, unknown>[]; csv?: string; jsonl?: string },
  schema: Schema,
  stringKeys: StringKeyHasher | undefined,
): bigint[][] {
  const options = stringKeys === undefined ? {} : { stringKeys };
  const parsed =
    input.csv !== undefined
      ? parseCsv(input.csv, schema, "csv", options)
      : input.jsonl !== undefined
        ? parseJsonl(input.jsonl, schema, "jsonl", options)
        : parseJsonl(input.rows?.map((row) => JSON.stringify(row)).join("\n") ?? "", schema, "rows", options);
  return parsed.records;
}
