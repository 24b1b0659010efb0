/**
 * @module service/erasure
 *
 * Erasure on request (GDPR Article 17, docs/operations.md): an admin names a dataset and a record key; the
 * request waits, sealed, until `erasureBatch` requests are pending for the dataset (or the admin forces
 * it), then one new epoch is committed without those persons' records and every older epoch still holding
 * data is crypto-shredded (its epoch key destroyed, its envelopes overwritten; manifests stay, so old bundles
 * keep verifying). The pending requests are deleted in the same transaction and the database checkpointed,
 * so no stored byte decrypts to an erased record.
 *
 * Batching is the exact-mode mitigation of erasure differencing: asked before and after an epoch that
 * removed one person, exact counts tell which predicates that person matched; with at least a minimum group
 * size of persons removed at once, a difference describes a group, not one person (docs/operations.md).
 *
 * Security caveats: the audit entry (`admin.dataset.erase`) records that an erasure was requested or applied,
 * the dataset, the new epoch and how many requests, never whose: the key goes nowhere but its sealed pending
 * row. Pending keys are sealed by the storage KeyRing under `{datasetId, epoch 0, purpose erasure-request}`.
 */
import { z } from "zod";
import { keyFieldIndex, stringKeyField } from "../dataset/schema.ts";
import { InputError, NotFoundError } from "../util/errors.ts";
import type { DatasetStore, StoredDataset } from "./datasets.ts";
import { type Db, scalar, statement } from "./db.ts";
import { parseOrThrow } from "./partners.ts";
import { type EnvelopeCipher, openText, sealText } from "./sealed.ts";

const PURPOSE = "erasure-request";
const MAX_KEYS = 1_000;

export const erasureRequestSchema = z.strictObject({
  /** Record keys (the schema's key field) of the persons to erase. */
  keys: z
    .array(z.union([z.int().min(0), z.string().regex(/^(0|[1-9][0-9]{0,19})$/)]))
    .min(1)
    .max(MAX_KEYS),
  /** Apply now even with fewer than the batch size pending (weakens the differencing mitigation). */
  force: z.boolean().optional(),
});

export interface ErasureOutcome {
  readonly datasetId: string;
  /** Requests waiting for the batch after this call. */
  readonly pending: number;
  readonly applied: boolean;
  /** The new epoch when applied. */
  readonly epoch?: number;
  readonly manifestHash?: string;
  /** Records removed when applied. */
  readonly erased?: number;
  /** Older epochs crypto-shredded when applied. */
  readonly shreddedEpochs?: number;
}

export interface ErasureOptions {
  readonly db: Db;
  /** The storage KeyRing (pending requests are sealed under it). */
  readonly cipher: EnvelopeCipher;
  readonly datasets: DatasetStore;
  readonly batch: number;
  readonly now: () => number;
}

export class Erasures {
  constructor(private readonly options: ErasureOptions) {}

  /**
   * Queues erasure requests for keys present in the latest epoch (an absent key is refused, so a batch
   * counts real persons) and applies the batch when it is full or `force` is set. `within` runs in the
   * transaction that stores the requests or commits the new epoch (the audit entry).
   */
  async request(
    datasetId: string,
    input: unknown,
    within: (outcome: ErasureOutcome) => void,
  ): Promise<ErasureOutcome> {
    const parsed = parseOrThrow(erasureRequestSchema, input, "invalid_erasure");
    const keys = [...new Set(parsed.keys.map((key) => BigInt(key)))];
    const latest = this.options.datasets.answerable(datasetId);
    if (!latest) throw new NotFoundError(`dataset ${datasetId}`);
    const keyIndex = this.keyColumn(latest);
    const committed = await this.options.datasets.loadRecords(datasetId, latest.epoch);
    const present = new Set(committed.records.map((record) => record[keyIndex]));
    if (!keys.every((key) => present.has(key))) {
      throw new NotFoundError(`a record with one of the given keys in ${datasetId} epoch ${latest.epoch}`);
    }
    const pending = this.pendingKeys(datasetId).length + keys.length;
    if (pending < this.options.batch && !parsed.force) {
      return this.options.db.transaction(() => {
        this.store(datasetId, keys);
        const outcome = { datasetId, pending, applied: false };
        within(outcome);
        return outcome;
      })();
    }
    return this.apply(latest, keyIndex, keys, within);
  }

  /** How many requests wait for the batch. */
  pendingCount(datasetId: string): number {
    return scalar(this.options.db, "SELECT COUNT(*) FROM erasure_requests WHERE dataset_id = ?").get(
      datasetId,
    ) as number;
  }

  private async apply(
    latest: StoredDataset,
    keyIndex: number,
    newKeys: readonly bigint[],
    within: (outcome: ErasureOutcome) => void,
  ): Promise<ErasureOutcome> {
    const { datasetId } = latest;
    const erase = new Set([...this.pendingKeys(datasetId), ...newKeys]);
    const committed = await this.options.datasets.loadRecords(datasetId, latest.epoch);
    const kept = committed.records
      .filter((record) => !erase.has(record[keyIndex] as bigint))
      .map((record) => [...record]);
    let outcome: ErasureOutcome | undefined;
    await this.options.datasets.commitNextEpoch(latest, kept, (stored) => {
      const older = this.options.datasets
        .history(datasetId)
        .filter((item) => item.epoch < stored.epoch && item.shreddedAt === null);
      for (const item of older) this.options.datasets.shred(datasetId, item.epoch);
      statement(this.options.db, "DELETE FROM erasure_requests WHERE dataset_id = ?").run(datasetId);
      outcome = {
        datasetId,
        pending: 0,
        applied: true,
        epoch: stored.epoch,
        manifestHash: stored.manifestHash,
        erased: committed.records.length - kept.length,
        shreddedEpochs: older.length,
      };
      within(outcome);
    });
    // Old WAL frames may still hold pages written before the shredding: fold them in and truncate.
    this.options.db.pragma("wal_checkpoint(TRUNCATE)");
    return outcome as ErasureOutcome;
  }

  private store(datasetId: string, keys: readonly bigint[]): void {
    const insert = statement(
      this.options.db,
      "INSERT INTO erasure_requests (dataset_id, envelope, created_at) VALUES (?, ?, ?)",
    );
    for (const key of keys) {
      const sealed = sealText(this.options.cipher, Buffer.from(key.toString(), "utf8"), this.aad(datasetId));
      insert.run(datasetId, sealed, this.options.now());
    }
  }

  private pendingKeys(datasetId: string): bigint[] {
    const rows = statement(this.options.db, "SELECT envelope FROM erasure_requests WHERE dataset_id = ?").all(
      datasetId,
    ) as { envelope: string }[];
    return rows.map((row) =>
      BigInt(Buffer.from(openText(this.options.cipher, row.envelope, this.aad(datasetId))).toString("utf8")),
    );
  }

  private aad(datasetId: string) {
    return { datasetId, epoch: 0, purpose: PURPOSE };
  }

  private keyColumn(dataset: StoredDataset): number {
    const { schema } = dataset.manifest;
    const index = keyFieldIndex(schema);
    if (index === undefined) {
      throw new InputError("invalid_erasure", `dataset ${dataset.datasetId} has no key field to erase by`, {
        path: "keys",
      });
    }
    if (stringKeyField(schema) !== undefined) {
      // Re-committing would keep keys hashed under the old epoch's secret (service/datasets.ts).
      throw new InputError(
        "invalid_erasure",
        `dataset ${dataset.datasetId} is keyed by names (a string key): erase by registering the next epoch from the source file without those persons`,
        { path: "keys" },
      );
    }
    return index;
  }
}
