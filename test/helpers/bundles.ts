/**
 * @module test/helpers/bundles
 *
 * Real proof bundles for the verifier SDK tests: a small fixed dataset (`wiki-editors`, epoch 3) of the
 * test circuit shape, committed and signed with a fixed test operator key, queries of every aggregate
 * kind proven with snarkjs under the pinned development keys of `TEST_KEYS_DIR` (built by the vitest
 * global setup), and wrapped with `makeBundle`. Also signs the manifests of another dataset and of
 * another epoch with the same operator key, for replay tests.
 *
 * Caveat: about 2 s per proof on two cores; ask only for the kinds a test file needs.
 */
import { circuitId } from "../../src/circuits/shape.ts";
import { type CommittedDataset, commitRecords } from "../../src/dataset/committed.ts";
import { operatorKeyOf } from "../../src/dataset/manifest-sign.ts";
import type { Schema } from "../../src/dataset/schema.ts";
import { makeBundle } from "../../src/prover/bundle.ts";
import { proveQuery, type QueryProof } from "../../src/prover/prove-query.ts";
import { createSnarkjsBackend, type SnarkjsBackend } from "../../src/prover/snarkjs-backend.ts";
import { type KeysManifest, loadPinnedVkey, readKeysManifest } from "../../src/setup/keys-manifest.ts";
import type { ProofBundle } from "../../src/verifier/bundle.ts";
import { vkeyHash } from "../../src/verifier/vkey.ts";
import { EDITORS_SCHEMA, TEST_SHAPE } from "./circuits.ts";
import { TEST_KEYS_DIR } from "./keys.ts";

export const BUNDLE_KINDS = ["count", "sum", "threshold", "membership", "suppressed"] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];

export const TEST_CIRCUIT_ID = circuitId(TEST_SHAPE);
/** Fixed test operator key (never use a constant key outside tests). */
export const OPERATOR_SECRET = new Uint8Array(32).fill(7);
export const OPERATOR_KEY = operatorKeyOf(OPERATOR_SECRET);
export const BUNDLE_CREATED_AT = "2025-05-01T09:30:00.000Z";

export const SCHEMA: Schema = EDITORS_SCHEMA;

/** userId, country (0 DE, 1 FR, 2 US), edits, bot. */
export const RECORDS: bigint[][] = [
  [101n, 1n, 150n, 0n],
  [102n, 1n, 90n, 0n],
  [103n, 0n, 300n, 1n],
  [104n, 1n, 1200n, 0n],
  [105n, 2n, 5n, 0n],
  [106n, 0n, 2500n, 0n],
];

/** The query, group size and nonce of each kind, and the statement its bundle must carry. */
export const BUNDLE_REQUESTS: Record<
  BundleKind,
  { query: unknown; minGroupSize: number; nonce: bigint; statement: string }
> = {
  count: {
    query: {
      predicate: [
        { field: "edits", op: "gte", value: 100 },
        { field: "country", op: "eq", value: "FR" },
      ],
      aggregate: { kind: "count" },
    },
    minGroupSize: 0,
    nonce: 2n ** 200n + 12345n,
    statement: "dataset wiki-editors epoch 3: 2 records match country = FR AND edits ≥ 100",
  },
  sum: {
    query: {
      predicate: [{ field: "edits", op: "gte", value: 100 }],
      aggregate: { kind: "sum", field: "edits" },
    },
    minGroupSize: 2,
    nonce: 7n,
    statement:
      "dataset wiki-editors epoch 3: the sum of edits over the records matching edits ≥ 100 is 4,150 (minimum group size 2)",
  },
  threshold: {
    query: {
      predicate: [{ field: "country", op: "in", value: ["FR", "DE"] }],
      aggregate: { kind: "threshold", k: 5 },
    },
    minGroupSize: 0,
    nonce: 8n,
    statement: "dataset wiki-editors epoch 3: at least 5 records match country in {DE, FR}",
  },
  membership: {
    query: {
      predicate: [{ field: "edits", op: "between", value: [1000, 2000] }],
      aggregate: { kind: "membership", key: 104 },
    },
    minGroupSize: 0,
    nonce: 9n,
    statement:
      "dataset wiki-editors epoch 3: a record with userId = 104 exists and matches edits between 1000 and 2000",
  },
  suppressed: {
    query: { predicate: [{ field: "country", op: "eq", value: "US" }], aggregate: { kind: "count" } },
    minGroupSize: 2,
    nonce: 10n,
    statement:
      "dataset wiki-editors epoch 3: answer suppressed by the minimum group size 2: count of records where country = US",
  },
};

export interface BundleFixture {
  readonly vkey: Awaited<ReturnType<typeof loadPinnedVkey>>;
  readonly vkeyHash: string;
  readonly keysManifest: KeysManifest;
  /** The dataset the bundles are about: `wiki-editors` epoch 3. */
  readonly dataset: CommittedDataset;
  /** Same operator and schema, another dataset id and other records. */
  readonly otherDataset: CommittedDataset;
  /** The same records of `wiki-editors`, epoch 4 (new salts, so a new root). */
  readonly otherEpoch: CommittedDataset;
  readonly proofs: Partial<Record<BundleKind, QueryProof>>;
  readonly bundles: Partial<Record<BundleKind, ProofBundle>>;
  /** The bundle of `kind`, which must have been requested. */
  bundle(kind: BundleKind): ProofBundle;
  /** Stops the snarkjs worker threads. */
  release(): Promise<void>;
}

function commit(datasetId: string, epoch: number, records: bigint[][]): Promise<CommittedDataset> {
  return commitRecords({
    datasetId,
    epoch,
    schema: SCHEMA,
    records,
    layout: TEST_SHAPE,
    secret: new Uint8Array(32).fill(datasetId.length + epoch),
    operatorSecretKey: OPERATOR_SECRET,
    circuits: [TEST_CIRCUIT_ID],
    createdAt: "2025-05-01T09:00:00.000Z",
  });
}

/** Proves the requested kinds over `wiki-editors` epoch 3 and bundles them. */
export async function buildBundleFixture(kinds: readonly BundleKind[]): Promise<BundleFixture> {
  const vkey = await loadPinnedVkey(TEST_KEYS_DIR, TEST_CIRCUIT_ID);
  const keysManifest = await readKeysManifest(TEST_KEYS_DIR);
  if (!keysManifest) throw new Error(`no keys manifest in ${TEST_KEYS_DIR}: run the vitest global setup`);
  const hash = vkeyHash(vkey);
  const dataset = await commit("wiki-editors", 3, RECORDS);
  const otherDataset = await commit("wiki-editors-de", 3, RECORDS.slice(0, 5));
  const otherEpoch = await commit("wiki-editors", 4, RECORDS);
  const backend: SnarkjsBackend = createSnarkjsBackend({ keysDir: TEST_KEYS_DIR });
  const proofs: Partial<Record<BundleKind, QueryProof>> = {};
  const bundles: Partial<Record<BundleKind, ProofBundle>> = {};
  for (const kind of kinds) {
    const { query, minGroupSize, nonce } = BUNDLE_REQUESTS[kind];
    const proof = await proveQuery(backend, { dataset, shape: TEST_SHAPE, query, minGroupSize, nonce });
    proofs[kind] = proof;
    bundles[kind] = makeBundle(proof, dataset.manifest, hash, BUNDLE_CREATED_AT);
  }
  return {
    vkey,
    vkeyHash: hash,
    keysManifest,
    dataset,
    otherDataset,
    otherEpoch,
    proofs,
    bundles,
    bundle(kind) {
      const bundle = bundles[kind];
      if (!bundle) throw new Error(`bundle fixture: ${kind} was not requested`);
      return bundle;
    },
    release: () => backend.close(),
  };
}

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
type JsonPath = readonly (string | number)[];

/** A deep, mutable copy of a bundle for tampering. */
export function mutableCopy(bundle: ProofBundle): Mutable<ProofBundle> {
  return JSON.parse(JSON.stringify(bundle));
}

function parentOf(root: unknown, path: JsonPath): Record<string | number, unknown> {
  let cursor = root as Record<string | number, unknown>;
  for (const step of path.slice(0, -1)) cursor = cursor[step] as Record<string | number, unknown>;
  return cursor;
}

/** A copy of `value` with the element at `path` replaced (any JSON, including ill-typed values). */
export function withValue(value: unknown, path: JsonPath, replacement: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(value));
  parentOf(copy, path)[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/** A copy of `value` without the object field at `path`. */
export function withoutField(value: unknown, path: JsonPath): unknown {
  const copy = JSON.parse(JSON.stringify(value));
  delete parentOf(copy, path)[path[path.length - 1] as string | number];
  return copy;
}
