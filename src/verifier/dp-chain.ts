/**
 * @module verifier/dp-chain
 *
 * The differentially private chain bundle `zktally-bundle/v3` (`kind: "dp-chain"`, docs/bundle.md "DP chain
 * bundles", design.md section 8): a count or (clamped) sum over a chunked dataset whose noise is drawn in the
 * final proof from the seed the signed manifest commits to (`noiseCommitment`). Like a chain bundle, plus
 * `privacy` = {mechanism, epsilon, delta, sensitivity, coins, scaleBits}; the answer is the noisy value, a
 * signed decimal; no minimum group size (withholding on the noisy value is the reader's post-processing).
 *
 * `verifyDpChain` checks, in order: the structure (strict, as chain bundles); the request nonce when given;
 * the manifest (pinned / signed) and that it commits to a noise seed; the chunk circuit the signed schema,
 * layout and clamp determine and the noisy final circuit of its shape, both announced by the manifest and
 * pinned; the statement text; the privacy claim (the mechanism, the sensitivity the query implies, params
 * that fit the final circuit, and a delta recomputed from them at epsilon no larger than the stated delta);
 * every chunk's and the final proof's public signals (chunk-statement.ts, noise-statement.ts); and every
 * proof (batch pairing check for the chunks, naming the first bad one, then the final proof).
 *
 * Security caveats: keys come only from `options.keys`. The guarantee is (epsilon, delta) per answer: the
 * verifier checks one answer; composition over many answers is the budget's job (docs/privacy.md).
 * Browser-safe: no Node.js imports, no prover code, no snarkjs.
 */
import { type ChunkShape, chunkCircuitId, chunkQueryShape, chunkShapeFor } from "../circuits/chunk-shape.ts";
import type { ChainCheck } from "../circuits/chunk-statement.ts";
import {
  checkNoiseParams,
  NOISE_MECHANISM,
  type NoiseParams,
  type NoisyFinalShape,
  noiseDelta,
  noisyFinalCircuitId,
  noisyFinalPublicSignalNames,
  noisyFinalShapeFromId,
  parsePrivacyNumber,
  sensitivityOf,
} from "../circuits/noise.ts";
import { checkNoisyChainSignals } from "../circuits/noise-statement.ts";
import { fieldDomains } from "../dataset/chunk-layout.ts";
import { type ChunkedManifest, manifestHash } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import { queryHash } from "../query/canonical.ts";
import { decodeAggregateElement, encodeQueryPublic, type QueryPublicElements } from "../query/lower.ts";
import type { Query } from "../query/model.ts";
import { findInvalidParsedBatchItems, type RandomBytes } from "./batch.ts";
import {
  claimsFormat,
  describeValue,
  expectFields,
  expectString,
  frozenJsonCopy,
  parseBundleQuery,
  parseCreatedAt,
  parseStatementText,
  parseVkeyHash,
  readJsonInput,
} from "./bundle.ts";
import {
  type ChainProofEntry,
  parseChainManifest,
  parseChunkCircuit,
  parseChunks,
  parseEntry,
} from "./chain-bundle.ts";
import { describePredicate, groupDigits, summedField } from "./describe.ts";
import { VerifierInputError } from "./errors.ts";
import { groth16EquationHolds } from "./groth16.ts";
import type { ParsedProof } from "./parse.ts";
import { parseScalar } from "./parse.ts";
import {
  checkManifest,
  checkOptions,
  pinnedChainKeys,
  type RejectionCheck,
  type VerifyOptions,
} from "./verify-bundle.ts";
import type { PreparedVerifyingKey } from "./vkey.ts";

export const DP_CHAIN_BUNDLE_FORMAT = "zktally-bundle/v3";

/** The privacy claim of a noisy answer (design.md 8.2, 8.5). */
export interface PrivacyClaim {
  readonly mechanism: typeof NOISE_MECHANISM;
  /** Decimal string, e.g. "1" or "0.5". */
  readonly epsilon: string;
  /** Decimal string, rounded up, e.g. "9.28e-10". */
  readonly delta: string;
  /** Largest change of the answer by one record (decimal). */
  readonly sensitivity: string;
  readonly coins: number;
  readonly scaleBits: number;
}

/** The noisy answer: count or sum, a signed decimal. */
export interface NoisyAnswer {
  readonly kind: "count" | "sum";
  readonly noisy: string;
}

export interface DpChainBundle {
  readonly format: typeof DP_CHAIN_BUNDLE_FORMAT;
  readonly kind: "dp-chain";
  readonly manifest: ChunkedManifest;
  readonly query: Query;
  readonly statement: string;
  readonly answer: NoisyAnswer;
  readonly privacy: PrivacyClaim;
  readonly nonce: string;
  readonly chunkCircuitId: string;
  readonly chunkVkeyHash: string;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  readonly chunks: readonly ChainProofEntry[];
  readonly final: ChainProofEntry;
  readonly createdAt: string;
}

export interface ParsedDpChainBundle {
  readonly bundle: DpChainBundle;
  readonly schema: Schema;
  readonly shape: ChunkShape;
  readonly finalShape: NoisyFinalShape;
  readonly nonce: bigint;
  readonly encodedQuery: QueryPublicElements;
  readonly params: NoiseParams;
  readonly epsilon: number;
  readonly delta: number;
  readonly sensitivity: bigint;
  readonly noisy: bigint;
  readonly chunkSignals: readonly (readonly bigint[])[];
  readonly chunkProofs: readonly ParsedProof[];
  readonly finalSignals: readonly bigint[];
  readonly finalProof: ParsedProof;
  readonly queryHash: string;
}

const DP_FIELDS = [
  "format",
  "kind",
  "manifest",
  "query",
  "statement",
  "answer",
  "privacy",
  "nonce",
  "chunkCircuitId",
  "chunkVkeyHash",
  "finalCircuitId",
  "finalVkeyHash",
  "chunks",
  "final",
  "createdAt",
] as const;
const PRIVACY_FIELDS = ["mechanism", "epsilon", "delta", "sensitivity", "coins", "scaleBits"] as const;
const NOISY_ANSWER_FIELDS = ["kind", "noisy"] as const;

function asInput<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof RangeError) throw new VerifierInputError(field, error.message);
    throw error;
  }
}

function parseNoisyFinal(value: unknown, clauses: number, width: number): NoisyFinalShape {
  const id = expectString(value, "finalCircuitId");
  const shape = asInput("finalCircuitId", () => noisyFinalShapeFromId(id));
  if (shape.clauses !== clauses || shape.width !== width) {
    throw new VerifierInputError(
      "finalCircuitId",
      `expected a noisy final step of C = ${clauses}, W = ${width} (the chunk circuit's), got ${id}`,
    );
  }
  return shape;
}

function parseNoisyAnswer(value: unknown, kind: Query["aggregate"]["kind"]): bigint {
  const record = expectFields(value, "answer", NOISY_ANSWER_FIELDS);
  if (record.kind !== kind || (kind !== "count" && kind !== "sum")) {
    throw new VerifierInputError(
      "answer.kind",
      `expected "count" or "sum" as the query, got ${describeValue(record.kind)}`,
    );
  }
  const noisy = expectString(record.noisy, "answer.noisy");
  if (!/^-?(0|[1-9]\d{0,39})$/.test(noisy) || noisy === "-0") {
    throw new VerifierInputError(
      "answer.noisy",
      `expected a signed decimal integer, got ${describeValue(noisy)}`,
    );
  }
  return BigInt(noisy);
}

function parsePrivacy(value: unknown, shape: NoisyFinalShape) {
  const record = expectFields(value, "privacy", PRIVACY_FIELDS);
  if (record.mechanism !== NOISE_MECHANISM) {
    throw new VerifierInputError(
      "privacy.mechanism",
      `expected ${JSON.stringify(NOISE_MECHANISM)}, got ${describeValue(record.mechanism)}`,
    );
  }
  const epsilon = asInput("privacy.epsilon", () => parsePrivacyNumber(record.epsilon as string, "epsilon"));
  const delta = asInput("privacy.delta", () => parsePrivacyNumber(record.delta as string, "delta"));
  if (delta >= 1) throw new VerifierInputError("privacy.delta", "must be below 1");
  const sensitivity = parseScalar(record.sensitivity, "privacy.sensitivity");
  const params = { coins: record.coins as number, scaleBits: record.scaleBits as number };
  asInput("privacy.coins", () => checkNoiseParams(params, shape));
  return { epsilon, delta, sensitivity, params };
}

/** Parses a `zktally-bundle/v3` dp-chain bundle strictly; throws {@link VerifierInputError} naming the field. */
export function parseDpChainBundle(value: unknown): ParsedDpChainBundle {
  const snapshot = frozenJsonCopy(readJsonInput(value, "bundle"));
  const record = expectFields(snapshot, "bundle", DP_FIELDS);
  if (record.format !== DP_CHAIN_BUNDLE_FORMAT) {
    throw new VerifierInputError(
      "format",
      `expected ${JSON.stringify(DP_CHAIN_BUNDLE_FORMAT)}, got ${describeValue(record.format)}`,
    );
  }
  if (record.kind !== "dp-chain")
    throw new VerifierInputError("kind", `expected "dp-chain", got ${describeValue(record.kind)}`);
  const manifest = parseChainManifest(record.manifest);
  const shape = parseChunkCircuit(record.chunkCircuitId);
  const queryShape = chunkQueryShape(shape);
  const finalShape = parseNoisyFinal(record.finalCircuitId, shape.clauses, queryShape.width);
  const query = parseBundleQuery(record.query, manifest.schema, queryShape);
  const noisy = parseNoisyAnswer(record.answer, query.aggregate.kind);
  parseStatementText(record.statement);
  const privacy = parsePrivacy(record.privacy, finalShape);
  const nonce = parseScalar(record.nonce, "nonce");
  parseVkeyHash(record.chunkVkeyHash, "chunkVkeyHash");
  parseVkeyHash(record.finalVkeyHash, "finalVkeyHash");
  const [chunkSignals, chunkProofs] = parseChunks(record.chunks, shape.clauses);
  const finalCount = noisyFinalPublicSignalNames(finalShape).length;
  const [finalSignals, finalProof] = parseEntry(record.final, "final", finalCount);
  parseCreatedAt(record.createdAt);
  return {
    bundle: snapshot as DpChainBundle,
    schema: manifest.schema,
    shape,
    finalShape,
    nonce,
    encodedQuery: encodeQueryPublic(query, manifest.schema, queryShape),
    ...privacy,
    noisy,
    chunkSignals,
    chunkProofs,
    finalSignals,
    finalProof,
    queryHash: queryHash(query, manifest.schema),
  };
}

/** The sentence of a noisy answer: `dataset d epoch e: noisy count of records where … is 17 (…-DP …)`. */
export function describeNoisyStatement(parts: {
  readonly manifest: Pick<ChunkedManifest, "datasetId" | "epoch">;
  readonly schema: Schema;
  readonly query: Query;
  readonly answer: NoisyAnswer;
  readonly privacy: PrivacyClaim;
}): string {
  const { query, answer, privacy } = parts;
  const predicate = describePredicate(query, parts.schema);
  const aggregate = query.aggregate;
  const what =
    aggregate.kind === "sum"
      ? `noisy sum of ${summedField(aggregate)} over ${predicate === undefined ? "all records" : `the records matching ${predicate}`}`
      : `noisy count of ${predicate === undefined ? "all records" : `records matching ${predicate}`}`;
  const value = answer.noisy.startsWith("-")
    ? `-${groupDigits(answer.noisy.slice(1))}`
    : groupDigits(answer.noisy);
  return (
    `dataset ${parts.manifest.datasetId} epoch ${parts.manifest.epoch}: ${what} is ${value} ` +
    `((${privacy.epsilon}, ${privacy.delta})-differentially private: ${privacy.mechanism} noise of ` +
    `${privacy.coins} coins at scale 2^${privacy.scaleBits}, sensitivity ${privacy.sensitivity}, drawn in the proof from the committed seed)`
  );
}

export interface DpChainVerified {
  readonly valid: true;
  readonly kind: "dp-chain";
  readonly statement: string;
  readonly datasetId: string;
  readonly epoch: number;
  readonly query: Query;
  readonly queryHash: string;
  readonly answer: NoisyAnswer;
  /** The stated privacy claim, checked: delta recomputed at epsilon is at most the stated delta. */
  readonly privacy: PrivacyClaim;
  /** delta recomputed from the public params (<= privacy.delta). */
  readonly computedDelta: number;
  readonly nonce: string;
  readonly manifestHash: string;
  readonly operatorKey: string;
  readonly chunkCount: number;
  readonly chunkCircuitId: string;
  readonly finalCircuitId: string;
  readonly chunkVkeyHash: string;
  readonly finalVkeyHash: string;
  readonly createdAt: string;
  /** `<finalVkeyHash>:<final public signals>`: the same request always has the same proof statement. */
  readonly dedupeKey: string;
  readonly warnings: readonly string[];
}

export interface DpChainRejected {
  readonly valid: false;
  readonly kind: "dp-chain";
  readonly check: RejectionCheck | "chain" | "privacy";
  readonly reason: string;
  readonly at?: number | "final";
}

export type DpChainVerifyResult = DpChainVerified | DpChainRejected;

function rejectDp(check: DpChainRejected["check"], reason: string, at?: number | "final"): DpChainRejected {
  return { valid: false, kind: "dp-chain", check, reason, ...(at === undefined ? {} : { at }) };
}

interface Keys {
  readonly chunk: PreparedVerifyingKey;
  readonly final: PreparedVerifyingKey;
}

function dpKeys(
  parsed: ParsedDpChainBundle,
  options: VerifyOptions,
  warnings: string[],
): Keys | DpChainRejected {
  const { bundle, schema } = parsed;
  const clamp = bundle.query.aggregate.kind === "sum" && bundle.query.aggregate.clamp !== undefined;
  const shape = chunkShapeFor(schema, bundle.manifest.layout, {
    clauses: parsed.shape.clauses,
    setSize: parsed.shape.setSize,
    clamp,
  });
  const expectedId = chunkCircuitId(shape);
  if (bundle.chunkCircuitId !== expectedId) {
    return rejectDp(
      "circuit",
      `chunk circuit ${bundle.chunkCircuitId} is not the one of the manifest's schema, layout and clamp (${expectedId})`,
    );
  }
  if (bundle.finalCircuitId !== noisyFinalCircuitId(parsed.finalShape)) {
    return rejectDp("circuit", `final circuit ${bundle.finalCircuitId} is not canonical`);
  }
  const keys = pinnedChainKeys(
    {
      stepCircuitId: bundle.chunkCircuitId,
      stepVkeyHash: bundle.chunkVkeyHash,
      stepSignalCount: parsed.chunkSignals[0]?.length ?? 0,
      finalCircuitId: bundle.finalCircuitId,
      finalVkeyHash: bundle.finalVkeyHash,
      finalSignalCount: parsed.finalSignals.length,
    },
    bundle.manifest.circuits,
    options,
    warnings,
  );
  if (!("step" in keys)) return { ...keys, kind: "dp-chain" };
  return { chunk: keys.step, final: keys.final };
}

/** The privacy claim: sensitivity implied by the query and a recomputed delta within the stated one. */
function checkPrivacy(parsed: ParsedDpChainBundle): { computed: number } | DpChainRejected {
  const aggregate = decodeAggregateElement(parsed.encodedQuery.aggregate, parsed.finalShape.width);
  const sensitivity = sensitivityOf(aggregate, fieldDomains(parsed.schema));
  if (sensitivity !== parsed.sensitivity) {
    return rejectDp(
      "privacy",
      `the stated sensitivity ${parsed.sensitivity} is not the query's (${sensitivity})`,
    );
  }
  const computed = noiseDelta(parsed.params, sensitivity, parsed.epsilon);
  if (!(computed <= parsed.delta * (1 + 1e-9))) {
    return rejectDp(
      "privacy",
      `noise of ${parsed.params.coins} coins at scale 2^${parsed.params.scaleBits} gives delta ${computed.toExponential(3)} at epsilon ${parsed.bundle.privacy.epsilon}, more than the stated ${parsed.bundle.privacy.delta}`,
    );
  }
  return { computed };
}

function checkProofs(
  parsed: ParsedDpChainBundle,
  keys: Keys,
  signals: ChainCheck,
  rng?: RandomBytes,
): DpChainRejected | undefined {
  const limit = !signals.ok && typeof signals.at === "number" ? signals.at : parsed.chunkProofs.length;
  const items = parsed.chunkProofs
    .slice(0, limit)
    .map((proof, index) => ({ proof, signals: parsed.chunkSignals[index] as readonly bigint[] }));
  const invalid = items.length === 0 ? [] : findInvalidParsedBatchItems(keys.chunk, items, rng);
  if (invalid.length > 0) {
    const at = Math.min(...invalid);
    return rejectDp(
      "proof",
      `the proof of chunk ${at} does not verify under the pinned key of circuit ${parsed.bundle.chunkCircuitId}`,
      at,
    );
  }
  if (!signals.ok) return rejectDp("chain", signals.reason, signals.at);
  if (!groth16EquationHolds(keys.final, parsed.finalSignals, parsed.finalProof)) {
    return rejectDp(
      "proof",
      `the final proof does not verify under the pinned key of circuit ${parsed.bundle.finalCircuitId}`,
      "final",
    );
  }
  return undefined;
}

/**
 * Verifies a dp-chain bundle (object or JSON text, read strictly); see the module comment for the steps.
 * Throws {@link VerifierInputError} for malformed input or options.
 */
export function verifyDpChain(
  bundle: unknown,
  options: VerifyOptions,
  rng?: RandomBytes,
): DpChainVerifyResult {
  const parsed = parseDpChainBundle(bundle);
  const { operatorKey, pinned, expectedNonce } = checkOptions(options);
  const dp = parsed.bundle;
  if (expectedNonce !== undefined && parsed.nonce !== expectedNonce) {
    return rejectDp(
      "nonce",
      `the bundle answers request nonce ${dp.nonce}, expected ${expectedNonce} (a replay?)`,
    );
  }
  const manifestProblem = checkManifest(dp.manifest, operatorKey, pinned);
  if (manifestProblem !== undefined) return { ...manifestProblem, kind: "dp-chain" };
  if (dp.manifest.noiseCommitment === undefined) {
    return rejectDp(
      "privacy",
      "the manifest commits to no noise seed (noiseCommitment), so no noise can be proven",
    );
  }
  const warnings: string[] = [];
  const keys = dpKeys(parsed, options, warnings);
  if (!("chunk" in keys)) return keys;
  const statement = describeNoisyStatement({ ...dp, schema: parsed.schema });
  if (dp.statement !== statement) {
    return rejectDp(
      "statement",
      `the statement text ${JSON.stringify(dp.statement)} does not say what is proven: ${JSON.stringify(statement)}`,
    );
  }
  const privacy = checkPrivacy(parsed);
  if (!("computed" in privacy)) return privacy;
  const signals = checkNoisyChainSignals(
    {
      root: BigInt(dp.manifest.root),
      recordCount: dp.manifest.recordCount,
      chunkSize: dp.manifest.layout.chunkSize,
      chunkCount: dp.manifest.chunkCount,
      nonce: parsed.nonce,
      query: parsed.encodedQuery,
      seedCommitment: BigInt(dp.manifest.noiseCommitment),
      params: parsed.params,
      noisy: parsed.noisy,
    },
    dp.chunks.map((entry) => entry.publicSignals),
    dp.final.publicSignals,
  );
  const proofProblem = checkProofs(parsed, keys, signals, rng);
  if (proofProblem !== undefined) return proofProblem;
  return {
    valid: true,
    kind: "dp-chain",
    statement,
    datasetId: dp.manifest.datasetId,
    epoch: dp.manifest.epoch,
    query: dp.query,
    queryHash: parsed.queryHash,
    answer: dp.answer,
    privacy: dp.privacy,
    computedDelta: privacy.computed,
    nonce: dp.nonce,
    manifestHash: manifestHash(dp.manifest),
    operatorKey: dp.manifest.operatorKey,
    chunkCount: dp.chunks.length,
    chunkCircuitId: dp.chunkCircuitId,
    finalCircuitId: dp.finalCircuitId,
    chunkVkeyHash: keys.chunk.hash,
    finalVkeyHash: keys.final.hash,
    createdAt: dp.createdAt,
    dedupeKey: `${keys.final.hash}:${dp.final.publicSignals.join(",")}`,
    warnings,
  };
}

/** True when `value` (object or JSON text) claims the dp-chain format. */
export function isDpChainBundle(value: unknown): boolean {
  return claimsFormat(value, DP_CHAIN_BUNDLE_FORMAT);
}
