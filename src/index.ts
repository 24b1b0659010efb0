/**
 * @module zktally
 *
 * The operator's API, chosen name by name (README "Package API"; `test/package-api.test.ts` pins the list so
 * growth is deliberate): define a schema and load a dataset, commit it and sign its manifest, model, check and
 * evaluate queries, prove answers and package them as bundles, and build or ceremonially set up the keys.
 * Everything else under `src/` is internal and may change without notice.
 *
 * Partners and third parties use the standalone verifier instead: `import … from "zktally/verifier"`.
 *
 * Security caveats: a dataset secret and the operator's signing key are the only secrets this API handles;
 * `buildDevKeys` makes INSECURE development keys (their manifest says `insecure: true`).
 */

export { type AggregateShape, circuitId, makeShape, STANDARD_SHAPE, shapeFromId } from "./circuits/shape.ts";
// Formats and the field: dataset ids, and the BN254 scalar order every public value (e.g. a nonce) stays below.
export { FIELD_ORDER } from "./core/field.ts";
export { assertDatasetId, DATASET_ID_PATTERN } from "./core/formats.ts";

// Datasets: schema, loading, commitment, signed manifest.
export type { ChunkLayout } from "./dataset/chunk-layout.ts";
export {
  type ChunkedCommitResult,
  type CommitFileChunkedInput,
  commitFileChunked,
} from "./dataset/chunked.ts";
export {
  type CommitRecordsInput,
  type CommittedDataset,
  commitFile,
  commitRecords,
} from "./dataset/committed.ts";
export { DatasetError, type DatasetErrorLocation, ManifestError, SchemaError } from "./dataset/errors.ts";
export {
  type DatasetFormat,
  type LoadedDataset,
  loadDataset,
  parseCsv,
  parseJsonl,
  type StreamDatasetOptions,
  type StreamedDataset,
  streamDataset,
} from "./dataset/load.ts";
export {
  type BuildManifestInput,
  buildManifest,
  type ChunkedManifest,
  type DatasetManifest,
  manifestHash,
  parseManifest,
  type UnsignedManifest,
  verifyManifest,
} from "./dataset/manifest.ts";
export { generateOperatorKey, operatorKeyOf, signManifest } from "./dataset/manifest-sign.ts";
export { generateDatasetSecret } from "./dataset/salt.ts";
export { type FieldSpec, parseSchema, type Schema, schemaHash } from "./dataset/schema.ts";
// Proving: backends, proofs, bundles.
export { type ProverBackend, ProverError, WitnessError } from "./prover/backend.ts";
export { makeBundle, serializeBundle } from "./prover/bundle.ts";
export { createNativeBackend, type NativeBackendOptions } from "./prover/native-backend.ts";
export { ProverPool, type ProverPoolOptions } from "./prover/pool.ts";
export { type ProveChainRequest, proveChain } from "./prover/prove-chain.ts";
export {
  type ProveQueryRequest,
  proveQuery,
  proveQueryChunked,
  type QueryProof,
  type ReadableAnswer,
} from "./prover/prove-query.ts";
export { createSnarkjsBackend, type SnarkjsBackendOptions } from "./prover/snarkjs-backend.ts";
// Queries: model, canonical form and hash, reference evaluator.
export { canonicalQuery, describeQuery, queryHash } from "./query/canonical.ts";
export { QueryError } from "./query/errors.ts";
export { evaluateQuery, type QueryResult } from "./query/evaluate.ts";
export {
  AGGREGATE_KINDS,
  type Aggregate,
  type AggregateKind,
  type Clause,
  DEFAULT_QUERY_LIMITS,
  OPS,
  type Op,
  parseQuery,
  type Query,
  type QueryLimits,
} from "./query/model.ts";
// Setup: development keys, ceremony ptau, multi-party phase 2, the pinned keys manifest.
export {
  type BeaconOptions,
  beaconCeremony,
  CeremonyError,
  type CeremonyReport,
  type ContributeOptions,
  contributeCeremony,
  type FinalizeCeremonyOptions,
  finalizeCeremony,
  type InitCeremonyOptions,
  initCeremony,
  type VerifyCeremonyOptions,
  verifyCeremony,
} from "./setup/ceremony/index.ts";
export {
  type CeremonySetupOptions,
  setupWithCeremonyPtau,
  UntrustedPtauError,
} from "./setup/ceremony-ptau.ts";
export { type CompiledCircuit, CompileError, compileCircuit } from "./setup/compile.ts";
export { type BuildDevKeysOptions, type BuildDevKeysResult, buildDevKeys } from "./setup/index.ts";
export {
  type KeysManifest,
  loadPinnedVkey,
  PinMismatchError,
  type PinnedCircuit,
  readKeysManifest,
} from "./setup/keys-manifest.ts";
// Circuits: shapes and their main files.
export { ensureMainFile } from "./setup/main-files.ts";
export { terminateCurveWorkers } from "./setup/ptau.ts";
export { SetupError } from "./setup/setup-common.ts";
// Chunked datasets at rest: the encrypted chunk store a chain is proven from.
export { ChunkStoreReader, commitFileToChunkStore, type LoadedChunk } from "./storage/chunk-store.ts";

// The error model: every deliberate failure is a ZktallyError of one kind, with a stable code and a path.
export {
  AccessError,
  ConflictError,
  type ErrorKind,
  InputError,
  IntegrityError,
  isZktallyError,
  LimitError,
  NotFoundError,
  ProverFailure,
  UnavailableError,
  ZktallyError,
  type ZktallyErrorOptions,
} from "./util/errors.ts";
