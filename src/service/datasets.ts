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
 * Security caveats: decrypted datasets are cached in memory for the life of the process (a proof needs them
 * in clear anyway). `DatasetError` messages (invalid_records) from loading quote cell values: they go back to the admin who
 * uploaded them and are never logged.
 */
import { z } from "zod";
import type { AggregateShape } from "../circuits/shape.ts";
import { isCanonicalDecimal } from "../core/field.ts";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import { commitDataset } from "../dataset/commitment.ts";
import { type CommittedDataset, commitRecords } from "../dataset/committed.ts";
import { parseCsv, parseJsonl } from "../dataset/load.ts";
import { type DatasetManifest, manifestHash, parseManifest } from "../dataset/manifest.ts";
import { DATASET_SECRET_BYTES, generateDatasetSecret } from "../dataset/salt.ts";
import { parseSchema, type Schema } from "../dataset/schema.ts";
import { ConflictError, InputError, IntegrityError, NotFoundError } from "../util/errors.ts";
import { type Db, statement } from "./db.ts";
import { EpochKeys } from "./epoch-keys.ts";
import { DatasetIntegrityError } from "./errors.ts";
import { parseOrThrow } from "./partners.ts";
import { type EnvelopeCipher, openText, SERVICE_KEY_SCOPE, sealText } from "./sealed.ts";

const RECORDS_PURPOSE = "dataset-records";
const SECRET_PURPOSE = "dataset-secret";

export const registerDatasetSchema = z
  .strictObject({
    datasetId: z.string().regex(DATASET_ID_PATTERN, `must match ${DATASET_ID_PATTERN}`),
    /** Default: one more than the latest registered epoch (1 for a new dataset). */
    epoch: z
      .int()
      .min(0)
      .max(2 ** 31)
      .optional(),
    schema: z.unknown(),
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

export interface StoredDataset {
  readonly datasetId: string;
  readonly epoch: number;
  readonly manifest: DatasetManifest;
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

export interface DatasetStoreOptions {
  readonly db: Db;
  readonly cipher: EnvelopeCipher;
  readonly operatorSecretKey: Uint8Array;
  readonly shape: AggregateShape;
  readonly circuitId: string;
  readonly now?: () => number;
  /** Epochs kept answerable per dataset (the newest ones); older ones are shredded. Default: all. */
  readonly retainEpochs?: number;
}

export class DatasetStore {
  private readonly cache = new Map<string, Promise<CommittedDataset>>();
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
    if (parsed.datasetId === SERVICE_KEY_SCOPE) {
      throw new InputError("invalid_dataset", `dataset id ${SERVICE_KEY_SCOPE} is reserved`, {
        path: "datasetId",
      });
    }
    const schema = parseSchema(parsed.schema); // SchemaError: invalid_schema
    const records = parseRecords(parsed, schema); // DatasetError: invalid_records
    return this.commitEpoch(parsed.datasetId, schema, records, parsed.epoch, withinTransaction);
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
  ): Promise<StoredDataset> {
    const latest = this.latest(datasetId);
    const epoch = requestedEpoch ?? (latest ? latest.epoch + 1 : 1);
    this.assertNewEpoch(datasetId, epoch, latest);
    const secret = generateDatasetSecret();
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
      this.insert(committed, secret);
      const stored = this.require(datasetId, epoch);
      this.applyRetention(datasetId);
      withinTransaction?.(stored);
      return stored;
    })();
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

  private insert(committed: CommittedDataset, secret: Uint8Array): void {
    const { datasetId, epoch } = committed.manifest;
    const recordsJson = JSON.stringify({ v: 1, records: committed.records.map((r) => r.map(String)) });
    const aad = (purpose: string) => ({ datasetId, epoch, purpose });
    try {
      statement(
        this.options.db,
        `INSERT INTO datasets (dataset_id, epoch, manifest, records_envelope, secret_envelope, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(datasetId, epoch, JSON.stringify(committed.manifest), SHREDDED, SHREDDED, this.now());
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new ConflictError("epoch_fork", `dataset ${datasetId} epoch ${epoch} already exists`);
      }
      throw error;
    }
    // The row exists first (the key's foreign key), then the envelopes are sealed under its fresh key.
    const cipher = this.epochKeys.create(datasetId, epoch);
    statement(
      this.options.db,
      "UPDATE datasets SET records_envelope = ?, secret_envelope = ? WHERE dataset_id = ? AND epoch = ?",
    ).run(
      sealText(cipher, Buffer.from(recordsJson, "utf8"), aad(RECORDS_PURPOSE)),
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

  /** Drops decrypted datasets from memory (after key rotation, or for tests). */
  clearCache(): void {
    this.cache.clear();
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
    const manifest = parseManifest(JSON.parse(row.manifest));
    const aad = (purpose: string) => ({ datasetId, epoch, purpose });
    let secret: Uint8Array;
    let records: bigint[][] | undefined;
    try {
      const cipher = this.epochKeys.cipherFor(datasetId, epoch) ?? this.options.cipher;
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
  const manifest = parseManifest(JSON.parse(row.manifest));
  return {
    datasetId: row.dataset_id,
    epoch: row.epoch,
    manifest,
    manifestHash: manifestHash(manifest),
    createdAt: row.created_at,
    shreddedAt: row.shredded_at ?? null,
  };
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
): bigint[][] {
  const parsed =
    input.csv !== undefined
      ? parseCsv(input.csv, schema, "csv")
      : input.jsonl !== undefined
        ? parseJsonl(input.jsonl, schema, "jsonl")
        : parseJsonl(input.rows?.map((row) => JSON.stringify(row)).join("\n") ?? "", schema, "rows");
  return parsed.records;
}
