/**
 * @module verifier/verify-chain
 *
 * Verifies `zktally-bundle/v2` chain bundles offline (docs/bundle.md "Chain bundles"): nothing but the
 * bundle, the verifier's pinned keys of the chunk and final circuits, and the operator's public key and/or
 * the pinned signed manifest. Steps, in order (the first that fails is the stated reason):
 *
 * 1. parse strictly (`parseChainBundle`; malformed input throws `VerifierInputError`); with
 *    `expectedNonce`, the bundle must answer that request;
 * 2. the manifest: equal to the pinned one, signed by the expected operator key (as for v1);
 * 3. the circuits: the chunk circuit id must be the one the signed schema and layout determine, and the
 *    manifest must announce both circuits;
 * 4. both keys: pinned (keys manifest hash and nPublic), insecure keys refused unless allowed, and each
 *    `*VkeyHash` equal to its pinned key's hash;
 * 5. the `statement` text must be exactly the sentence the manifest, query, answer and group size say;
 * 6. the chain: every chunk's public signals recomputed from manifest + query + nonce (chunkIndex i, the
 *    manifest's root, accIn = the previous accOut from the fixed initial accumulator) and the final
 *    proof's from the answer, recordCount and group size (circuits/chunk-statement.ts), and every chunk
 *    proof checked by one randomised batch pairing check (batch.ts, bisecting to the bad ones), then the
 *    final proof. The rejection names the FIRST bad chunk (`at`: its index, or "final"), whether its
 *    signals or its proof are wrong.
 *
 * Security caveats: keys come only from `options.keys`; batching scalars come from `crypto.getRandomValues`
 * unless a test passes `rng`. A chain bundle reveals only the final answer: chunk signals hold hiding
 * commitments. Browser-safe: no Node.js imports, no prover code, no snarkjs.
 */
import { chunkCircuitId, chunkShapeFor } from "../circuits/chunk-shape.ts";
import { type ChainCheck, type ChainStatement, checkChainSignals } from "../circuits/chunk-statement.ts";
import { claimedOutputs } from "../circuits/statement.ts";
import { manifestHash } from "../dataset/manifest.ts";
import { findInvalidParsedBatchItems, type RandomBytes } from "./batch.ts";
import { claimsFormat } from "./bundle.ts";
import { CHAIN_BUNDLE_FORMAT, type ParsedChainBundle, parseChainBundle } from "./chain-bundle.ts";
import { type DpChainVerifyResult, isDpChainBundle, verifyDpChain } from "./dp-chain.ts";
import { groth16EquationHolds } from "./groth16.ts";
import {
  type BundleRejected,
  type BundleVerifyResult,
  checkManifest,
  checkOptions,
  pinnedChainKeys,
  type RejectionCheck,
  reject,
  statementOf,
  type VerifiedStatement,
  type VerifyOptions,
  verify,
} from "./verify-bundle.ts";
import type { PreparedVerifyingKey } from "./vkey.ts";

export interface ChainVerified extends VerifiedStatement {
  readonly kind: "chain";
  readonly chunkCount: number;
  readonly chunkCircuitId: string;
  readonly finalCircuitId: string;
  readonly chunkVkeyHash: string;
  readonly finalVkeyHash: string;
  /** Deduplication key: `<finalVkeyHash>:<final public signals joined by ",">` (nonce and root included). */
  readonly dedupeKey: string;
}

export interface ChainRejected {
  readonly valid: false;
  readonly kind: "chain";
  /** `chain`: a chunk's or the final proof's public signals do not fit the statement. */
  readonly check: RejectionCheck | "chain";
  readonly reason: string;
  /** The first bad proof of the chain (its chunk index, or "final"), for checks `chain` and `proof`. */
  readonly at?: number | "final";
}

export type ChainVerifyResult = ChainVerified | ChainRejected;

function rejectChain(rejected: BundleRejected): ChainRejected {
  return { ...rejected, kind: "chain" };
}

function rejectAt(check: "chain" | "proof", at: number | "final", reason: string): ChainRejected {
  return { valid: false, kind: "chain", check, reason, at };
}

interface ChainKeys {
  readonly chunk: PreparedVerifyingKey;
  readonly final: PreparedVerifyingKey;
}

/** Steps 3-4: the circuits the manifest determines and announces, and their pinned keys. */
function chainKeys(
  parsed: ParsedChainBundle,
  options: VerifyOptions,
  warnings: string[],
): ChainKeys | ChainRejected {
  const { bundle, shape, schema } = parsed;
  const expectedId = chunkCircuitId(
    chunkShapeFor(schema, bundle.manifest.layout, { clauses: shape.clauses, setSize: shape.setSize }),
  );
  if (bundle.chunkCircuitId !== expectedId) {
    return rejectChain(
      reject(
        "circuit",
        `chunk circuit ${bundle.chunkCircuitId} is not the one of the manifest's schema and layout (${expectedId})`,
      ),
    );
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
  if (!("step" in keys)) return rejectChain(keys);
  return { chunk: keys.step, final: keys.final };
}

function chainStatement(parsed: ParsedChainBundle): ChainStatement {
  const { bundle } = parsed;
  return {
    root: BigInt(bundle.manifest.root),
    recordCount: bundle.manifest.recordCount,
    chunkSize: bundle.manifest.layout.chunkSize,
    chunkCount: bundle.manifest.chunkCount,
    minGroupSize: bundle.minGroupSize,
    dominanceShare: bundle.dominanceShare ?? 0,
    nonce: parsed.nonce,
    query: parsed.encodedQuery,
    outputs: claimedOutputs(bundle.query, bundle.answer),
  };
}

/** Index of the first chunk proof below `limit` that fails the pairing check, if any. */
function firstBadChunkProof(
  parsed: ParsedChainBundle,
  key: PreparedVerifyingKey,
  limit: number,
  rng: RandomBytes | undefined,
): number | undefined {
  const items = parsed.chunkProofs
    .slice(0, limit)
    .map((proof, index) => ({ proof, signals: parsed.chunkSignals[index] as readonly bigint[] }));
  if (items.length === 0) return undefined;
  const invalid = findInvalidParsedBatchItems(key, items, rng);
  return invalid.length === 0 ? undefined : Math.min(...invalid);
}

/** Step 6: the first bad chunk (signals or proof), else the final proof. */
function checkChain(
  parsed: ParsedChainBundle,
  keys: ChainKeys,
  rng: RandomBytes | undefined,
): ChainRejected | undefined {
  const { bundle } = parsed;
  const signals: ChainCheck = checkChainSignals(
    chainStatement(parsed),
    bundle.chunks.map((entry) => entry.publicSignals),
    bundle.final.publicSignals,
  );
  const signalsAt = signals.ok ? undefined : signals.at;
  // Only proofs before the first signal mismatch can be an earlier bad chunk.
  const limit = typeof signalsAt === "number" ? signalsAt : bundle.chunks.length;
  const badProof = firstBadChunkProof(parsed, keys.chunk, limit, rng);
  if (badProof !== undefined) {
    return rejectAt(
      "proof",
      badProof,
      `the proof of chunk ${badProof} does not verify under the pinned key of circuit ${bundle.chunkCircuitId}`,
    );
  }
  if (!signals.ok) return rejectAt("chain", signals.at, signals.reason);
  if (!groth16EquationHolds(keys.final, parsed.finalSignals, parsed.finalProof)) {
    return rejectAt(
      "proof",
      "final",
      `the final proof does not verify under the pinned key of circuit ${bundle.finalCircuitId}`,
    );
  }
  return undefined;
}

/**
 * Verifies a chain bundle, given as a parsed object or its JSON text (read strictly). See the module comment
 * for the steps. Returns `{valid: true, kind: "chain", statement, ...}` or `{valid: false, check, reason, at}`
 * where `at` names the first bad chunk; throws {@link VerifierInputError} for malformed input or options.
 * `rng` is for tests only (batching scalars must be unpredictable to the prover).
 */
export function verifyChain(bundle: unknown, options: VerifyOptions, rng?: RandomBytes): ChainVerifyResult {
  const parsed = parseChainBundle(bundle);
  const { operatorKey, pinned, expectedNonce } = checkOptions(options);
  const chain = parsed.bundle;
  if (expectedNonce !== undefined && parsed.nonce !== expectedNonce) {
    return rejectChain(
      reject(
        "nonce",
        `the bundle answers request nonce ${chain.nonce}, expected ${expectedNonce} (a replay?)`,
      ),
    );
  }
  const manifestProblem = checkManifest(chain.manifest, operatorKey, pinned);
  if (manifestProblem !== undefined) return rejectChain(manifestProblem);
  const warnings: string[] = [];
  const keys = chainKeys(parsed, options, warnings);
  if (!("chunk" in keys)) return keys;
  const statement = statementOf(parsed);
  if (chain.statement !== statement) {
    return rejectChain(
      reject(
        "statement",
        `the statement text ${JSON.stringify(chain.statement)} does not say what is proven: ${JSON.stringify(statement)}`,
      ),
    );
  }
  const chainProblem = checkChain(parsed, keys, rng);
  if (chainProblem !== undefined) return chainProblem;
  return {
    valid: true,
    kind: "chain",
    statement,
    datasetId: chain.manifest.datasetId,
    epoch: chain.manifest.epoch,
    chunkCount: chain.chunks.length,
    chunkCircuitId: chain.chunkCircuitId,
    finalCircuitId: chain.finalCircuitId,
    query: chain.query,
    queryHash: parsed.queryHash,
    answer: chain.answer,
    minGroupSize: chain.minGroupSize,
    dominanceShare: chain.dominanceShare ?? 0,
    nonce: chain.nonce,
    manifestHash: manifestHash(chain.manifest),
    operatorKey: chain.manifest.operatorKey,
    chunkVkeyHash: keys.chunk.hash,
    finalVkeyHash: keys.final.hash,
    createdAt: chain.createdAt,
    dedupeKey: `${keys.final.hash}:${chain.final.publicSignals.join(",")}`,
    warnings,
  };
}

/** True when `value` (object or JSON text) claims the chain format; such input goes to `verifyChain`. */
export function isChainBundle(value: unknown): boolean {
  return claimsFormat(value, CHAIN_BUNDLE_FORMAT);
}

/**
 * Verifies a bundle of any format: v1 single-proof bundles with `verify`, v2 chain bundles with `verifyChain`,
 * v3 dp-chain bundles with `verifyDpChain`.
 */
export function verifyAny(
  bundle: unknown,
  options: VerifyOptions,
): BundleVerifyResult | ChainVerifyResult | DpChainVerifyResult {
  if (isDpChainBundle(bundle)) return verifyDpChain(bundle, options);
  return isChainBundle(bundle) ? verifyChain(bundle, options) : verify(bundle, options);
}
