/**
 * @module dataset/committed
 *
 * The operator's view of a committed dataset: loads records under a schema, commits them with the dataset
 * secret under a layout, and produces the signed manifest partners pin. Everything here except the manifest
 * is private to the operator.
 *
 * Security caveat: `CommittedDataset` holds records and salts in clear; never serialise it to a partner.
 */
import { InputError } from "../util/errors.ts";
import { type Commitment, commitDataset } from "./commitment.ts";
import type { CommitmentLayout } from "./layout.ts";
import { loadDataset } from "./load.ts";
import { buildManifest, type DatasetManifest } from "./manifest.ts";
import { signManifest } from "./manifest-sign.ts";
import type { Schema } from "./schema.ts";
import { stringKeyHasher } from "./string-key.ts";

export interface CommittedDataset {
  readonly schema: Schema;
  /** Encoded records in schema field order (real records only). */
  readonly records: readonly (readonly bigint[])[];
  readonly commitment: Commitment;
  readonly manifest: DatasetManifest;
}

export interface CommitRecordsInput {
  readonly datasetId: string;
  readonly epoch: number;
  readonly schema: Schema;
  readonly records: readonly (readonly bigint[])[];
  readonly layout: CommitmentLayout;
  /** 32-byte dataset secret the salts derive from. */
  readonly secret: Uint8Array;
  /** Ed25519 secret key of the operator. */
  readonly operatorSecretKey: Uint8Array;
  /** Circuit ids the manifest announces for this dataset. */
  readonly circuits: readonly string[];
  readonly createdAt?: Date | string;
  /** `manifestHash` of the dataset's previous epoch (design.md section 5, epoch chain). */
  readonly previousManifestHash?: string;
}

/** Commits encoded records and signs the manifest. */
export async function commitRecords(input: CommitRecordsInput): Promise<CommittedDataset> {
  if (input.schema.fields.length > input.layout.fields) {
    throw new InputError(
      "invalid_dataset",
      `schema has ${input.schema.fields.length} fields; the layout holds ${input.layout.fields}`,
      { path: "schema.fields", hint: "serve a circuit with more fields, or drop fields from the schema" },
    );
  }
  const commitment = await commitDataset({
    layout: input.layout,
    records: input.records,
    secret: input.secret,
    datasetId: input.datasetId,
    epoch: input.epoch,
  });
  const unsigned = buildManifest({
    datasetId: input.datasetId,
    epoch: input.epoch,
    schema: input.schema,
    recordCount: input.records.length,
    layout: commitment.layout,
    root: commitment.root,
    circuits: input.circuits,
    ...(input.createdAt === undefined ? {} : { createdAt: input.createdAt }),
    ...(input.previousManifestHash === undefined ? {} : { previousManifestHash: input.previousManifestHash }),
  });
  const manifest = signManifest(unsigned, input.operatorSecretKey);
  return { schema: input.schema, records: input.records, commitment, manifest };
}

/** Loads a CSV/JSONL file (the whole file or nothing) and commits it. */
export async function commitFile(
  path: string,
  input: Omit<CommitRecordsInput, "records">,
): Promise<CommittedDataset> {
  const stringKeys = stringKeyHasher(input.secret, input.datasetId, input.epoch);
  const loaded = await loadDataset(path, input.schema, { stringKeys });
  return commitRecords({ ...input, records: loaded.records });
}
