/**
 * @module verifier/verify-bundle
 *
 * Verifies `zktally-bundle/v1` proof bundles offline: nothing but the bundle, the verifier's pinned
 * verification keys, and the operator's public key and/or the pinned signed manifest. Steps, in order
 * (the first that fails is the stated reason):
 *
 * 1. parse the bundle strictly (`parseBundle`; malformed input throws `VerifierInputError`; bundle
 *    text with a duplicate key is malformed);
 *    with `expectedNonce`, the bundle must answer that request (replay protection);
 * 2. if a pinned manifest is given, the bundle's manifest must equal it (same `manifestHash`);
 * 3. the manifest must be signed by the expected operator key (`operatorKey`, else the pinned
 *    manifest's own key);
 * 4. the manifest must announce the bundle's circuit and have its layout;
 * 5. the verification key is looked up by circuit id in the caller's `keys` (checked against the
 *    keys manifest pin when one is given), refused if it has no phase-2 contribution or if the keys
 *    manifest marks it insecure (`InsecureKeysError`, unless `allowInsecureKeys`), and the bundle's
 *    `vkeyHash` must equal its hash;
 * 6. the public signals are recomputed from manifest + query + answer + group size + nonce
 *    (circuits/statement.ts) and must equal the bundle's, signal by signal;
 * 7. the `statement` text must be exactly the sentence those values say (describe.ts);
 * 8. the Groth16 pairing check, on the recomputed signals.
 *
 * Security caveats:
 * - A key shipped with a bundle is never used (the format has no place for one); keys come only from
 *   `options.keys`, which the caller must have pinned (e.g. by the keys manifest's `vkeySha256`).
 * - Fail closed on development keys: keys the keys manifest marks `insecure` (their setup's toxic waste
 *   is on disk) throw `InsecureKeysError` unless the caller sets `allowInsecureKeys`. Without a keys
 *   manifest the verifier cannot know, so pass it (the CLI always does).
 * - Trust is rooted in `operatorKey` or the pinned `manifest`; with neither, a self-signed manifest
 *   would prove nothing, so `verify` refuses to run.
 * - Groth16 proofs can be re-randomised: deduplicate by the returned `dedupeKey` (key hash and
 *   canonical public signals, which include the nonce), never by proof bytes.
 * - Browser-safe: no Node.js imports, no prover code, no snarkjs.
 */

import { publicSignalNames } from "../circuits/shape.ts";
import { expectedPublicSignals, statementShape } from "../circuits/statement.ts";
import { HEX32, HEX32_ANY_CASE } from "../core/formats.ts";
import { ManifestError } from "../dataset/errors.ts";
import { type AnyManifest, manifestHash, parseAnyManifest, verifyManifest } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import type { Query } from "../query/model.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { InputError } from "../util/errors.ts";
import { findInvalidParsedBatchItems, type RandomBytes } from "./batch.ts";
import { type BundleAnswer, type ParsedBundle, parseBundle, readJsonInput } from "./bundle.ts";
import { describeStatement, type StatementParts } from "./describe.ts";
import { InsecureKeysError, VerifierInputError } from "./errors.ts";
import { groth16EquationHolds } from "./groth16.ts";
import { parseScalar } from "./parse.ts";
import { type PreparedVerifyingKey, prepareVerifyingKey } from "./vkey.ts";

/**
 * Where the verifier's trust comes from. At least one of `operatorKey` and `manifest` is required.
 * `keys` entries, `keysManifest` and `manifest` are parsed objects or their JSON text; text is read
 * strictly (a duplicate key is refused with its line and column, never resolved to the last value).
 */
export interface VerifyOptions {
  /** Pinned verification keys (snarkjs `verification_key.json` objects or text) by circuit id. */
  readonly keys: Readonly<Record<string, unknown>>;
  /**
   * The keys manifest (`keys/manifest.json`): when given, each key used must hash to its
   * `circuits[id].vkeySha256` pin and have its `nPublic`.
   */
  readonly keysManifest?: unknown;
  /** The operator's Ed25519 public key (64 hex characters) the manifest must be signed with. */
  readonly operatorKey?: string;
  /** The pinned signed dataset manifest; the bundle's manifest must be identical to it. */
  readonly manifest?: unknown;
  /**
   * The nonce the partner sent with its request (canonical decimal string below r). When given, a
   * bundle answering another request (a replay) is rejected with check `nonce`.
   */
  readonly expectedNonce?: string;
  /**
   * Accept keys the keys manifest marks insecure (a development setup: whoever ran it can forge proofs).
   * Off by default: such bundles throw {@link InsecureKeysError}. For demos and tests only; an accepted
   * result then carries a warning.
   */
  readonly allowInsecureKeys?: boolean;
}

/** Which check rejected a bundle. */
export type RejectionCheck =
  | "nonce"
  | "pinned-manifest"
  | "operator-key"
  | "manifest-signature"
  | "circuit"
  | "key"
  | "public-signals"
  | "statement"
  | "proof";

export interface BundleRejected {
  readonly valid: false;
  readonly check: RejectionCheck;
  /** One sentence saying why, e.g. `public signal 1 (answer) is 5, but ... require 6`. */
  readonly reason: string;
}

/** What every verified bundle (v1 and chain) states: the dataset, the query and its answer, who signed. */
export interface VerifiedStatement {
  readonly valid: true;
  /** What was proven, in words (recomputed, equal to the bundle's `statement`). */
  readonly statement: string;
  readonly datasetId: string;
  readonly epoch: number;
  readonly query: Query;
  readonly queryHash: string;
  readonly answer: BundleAnswer;
  readonly minGroupSize: number;
  /** The dominance share the proof binds (percent, sums); 0 = no dominance rule. */
  readonly dominanceShare: number;
  readonly nonce: string;
  readonly manifestHash: string;
  readonly operatorKey: string;
  readonly createdAt: string;
  /** Non-fatal notes, e.g. keys from an insecure development setup. */
  readonly warnings: readonly string[];
}

export interface BundleVerified extends VerifiedStatement {
  readonly circuitId: string;
  readonly vkeyHash: string;
  /** Deduplication key: `<vkeyHash>:<public signals joined by ",">` (the nonce is a signal). */
  readonly dedupeKey: string;
}

export type BundleVerifyResult = BundleVerified | BundleRejected;

/** Everything but the pairing check passed: what remains is `groth16EquationHolds`. */
interface PendingProof {
  readonly parsed: ParsedBundle;
  readonly key: PreparedVerifyingKey;
  readonly signals: readonly bigint[];
  readonly result: BundleVerified;
}

/** Prepared keys by hash: preparing costs several pairings, keys repeat across calls. */
const preparedByHash = new Map<string, PreparedVerifyingKey>();
const PREPARED_CACHE_LIMIT = 16;

/** @internal shared with verify-chain.ts. */
export function reject(check: RejectionCheck, reason: string): BundleRejected {
  return { valid: false, check, reason };
}

function short(hex: string): string {
  return `${hex.slice(0, 16)}…`;
}

// ------------------------------------------------------------------ options

function parseOperatorKey(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !HEX32_ANY_CASE.test(value)) {
    throw new VerifierInputError(
      "options.operatorKey",
      "expected a 32-byte Ed25519 public key as 64 hex characters",
    );
  }
  return value.toLowerCase();
}

function parsePinnedManifest(value: unknown): AnyManifest | undefined {
  if (value === undefined) return undefined;
  try {
    return parseAnyManifest(readJsonInput(value, "options.manifest"));
  } catch (error) {
    if (error instanceof ManifestError) {
      const field = error.path === "$" ? "options.manifest" : `options.manifest.${error.path}`;
      throw new VerifierInputError(field, error.reason);
    }
    throw error;
  }
}

function checkKeysRecord(keys: unknown): asserts keys is Readonly<Record<string, unknown>> {
  if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
    throw new VerifierInputError(
      "options.keys",
      "expected an object mapping circuit ids to verification keys",
    );
  }
}

/** What the keys manifest pins for one circuit (only the fields the verifier needs are read). */
interface KeyPin {
  readonly vkeySha256: string;
  readonly nPublic: number;
  readonly insecure: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The keys manifest's pin for `circuitId`; undefined when it pins none. */
function keyPin(keysManifestInput: unknown, circuitId: string): KeyPin | undefined {
  const at = "options.keysManifest";
  const keysManifest = readJsonInput(keysManifestInput, at);
  if (!isRecord(keysManifest)) throw new VerifierInputError(at, "expected the keys manifest object");
  if (keysManifest.version !== 1) throw new VerifierInputError(`${at}.version`, "expected 1");
  if (typeof keysManifest.insecure !== "boolean")
    throw new VerifierInputError(`${at}.insecure`, "expected a boolean");
  if (!isRecord(keysManifest.circuits)) throw new VerifierInputError(`${at}.circuits`, "expected an object");
  if (!Object.hasOwn(keysManifest.circuits, circuitId)) return undefined;
  const entry = keysManifest.circuits[circuitId];
  const entryAt = `${at}.circuits.${circuitId}`;
  if (!isRecord(entry)) throw new VerifierInputError(entryAt, "expected an object");
  if (typeof entry.vkeySha256 !== "string" || !HEX32.test(entry.vkeySha256)) {
    throw new VerifierInputError(`${entryAt}.vkeySha256`, "expected 64 lowercase hex characters");
  }
  if (typeof entry.nPublic !== "number" || !Number.isSafeInteger(entry.nPublic) || entry.nPublic < 0) {
    throw new VerifierInputError(`${entryAt}.nPublic`, "expected a non-negative integer");
  }
  return { vkeySha256: entry.vkeySha256, nPublic: entry.nPublic, insecure: keysManifest.insecure };
}

// ------------------------------------------------------------------ keys

/** Hex SHA-256 of the canonical JSON of a key, the pin of `vkeyHash` and the keys manifest. */
function hashOfKey(vkey: unknown, field: string): string {
  try {
    return canonicalJsonSha256(vkey);
  } catch (error) {
    throw new VerifierInputError(field, `not a JSON verification key (${(error as Error).message})`);
  }
}

/** Prepares (or reuses) a key; its own errors are renamed from `vkey.*` to the caller's field. */
function preparedKey(vkey: unknown, hash: string, field: string): PreparedVerifyingKey {
  const cached = preparedByHash.get(hash);
  if (cached !== undefined) return cached;
  let prepared: PreparedVerifyingKey;
  try {
    prepared = prepareVerifyingKey(vkey);
  } catch (error) {
    if (error instanceof VerifierInputError) {
      throw new VerifierInputError(error.field.replace(/^vkey/, field), error.reason);
    }
    throw error;
  }
  if (preparedByHash.size >= PREPARED_CACHE_LIMIT) {
    preparedByHash.delete(preparedByHash.keys().next().value as string);
  }
  preparedByHash.set(prepared.hash, prepared);
  return prepared;
}

/** The circuits of a chain bundle: the one all step proofs use and the final proof's. */
export interface ChainCircuits {
  readonly stepCircuitId: string;
  readonly stepVkeyHash: string;
  readonly stepSignalCount: number;
  readonly finalCircuitId: string;
  readonly finalVkeyHash: string;
  readonly finalSignalCount: number;
}

/**
 * The pinned keys of a chain's step and final circuits, both of which the signed manifest must announce
 * (`announced` = manifest.circuits). Shared by every chain kind (chain, dp-chain, pass).
 */
export function pinnedChainKeys(
  chain: ChainCircuits,
  announced: readonly string[],
  options: VerifyOptions,
  warnings: string[],
): { readonly step: PreparedVerifyingKey; readonly final: PreparedVerifyingKey } | BundleRejected {
  for (const id of [chain.stepCircuitId, chain.finalCircuitId]) {
    if (!announced.includes(id)) return reject("circuit", `manifest does not announce circuit ${id}`);
  }
  const step = pinnedKeyFor(
    { circuitId: chain.stepCircuitId, vkeyHash: chain.stepVkeyHash, signalCount: chain.stepSignalCount },
    options,
    warnings,
  );
  if (!("hash" in step)) return step;
  const final = pinnedKeyFor(
    { circuitId: chain.finalCircuitId, vkeyHash: chain.finalVkeyHash, signalCount: chain.finalSignalCount },
    options,
    warnings,
  );
  if (!("hash" in final)) return final;
  return { step, final };
}

/** The pinned, prepared key of the bundle's circuit, or why there is none the bundle can use. */
export function pinnedKeyFor(
  target: { readonly circuitId: string; readonly vkeyHash: string; readonly signalCount: number },
  options: VerifyOptions,
  warnings: string[],
): PreparedVerifyingKey | BundleRejected {
  const { circuitId, vkeyHash, signalCount } = target;
  const field = `options.keys.${circuitId}`;
  const pin = options.keysManifest === undefined ? undefined : keyPin(options.keysManifest, circuitId);
  if (options.keysManifest !== undefined && pin === undefined) {
    return reject("key", `the keys manifest pins no verification key for circuit ${circuitId}`);
  }
  if (!Object.hasOwn(options.keys, circuitId)) {
    return reject("key", `no pinned verification key for circuit ${circuitId}`);
  }
  const vkey = readJsonInput(options.keys[circuitId], field);
  const hash = hashOfKey(vkey, field);
  if (pin !== undefined && pin.vkeySha256 !== hash) {
    throw new VerifierInputError(
      field,
      `hash ${short(hash)} does not match the keys manifest pin ${short(pin.vkeySha256)}`,
    );
  }
  const key = preparedKey(vkey, hash, field);
  if (pin !== undefined && pin.nPublic !== key.nPublic) {
    throw new VerifierInputError(
      `${field}.nPublic`,
      `is ${key.nPublic}, the keys manifest pins ${pin.nPublic}`,
    );
  }
  if (key.nPublic !== signalCount) {
    throw new VerifierInputError(
      `${field}.nPublic`,
      `is ${key.nPublic}, circuit ${circuitId} has ${signalCount} public signals`,
    );
  }
  if (pin?.insecure) {
    if (options.allowInsecureKeys !== true) throw new InsecureKeysError(circuitId);
    if (warnings.length === 0)
      warnings.push(
        "the verification keys come from an INSECURE development setup (keys manifest insecure: true), accepted because allowInsecureKeys is set",
      );
  }
  if (vkeyHash !== key.hash) {
    return reject(
      "key",
      `the bundle names verification key ${short(vkeyHash)}, but the pinned key of circuit ${circuitId} is ${short(key.hash)}`,
    );
  }
  return key;
}

// ------------------------------------------------------------------ manifest

/**
 * Signature verdicts by (manifestHash, expected operator key). Many bundles share one manifest and an
 * Ed25519 verification costs about 2 ms; the verdict is a pure function of the manifest as parsed
 * (which `manifestHash` covers, signature included) and the key, so reusing it is sound.
 */
const signatureVerdicts = new Map<string, boolean>();
const SIGNATURE_CACHE_LIMIT = 64;

function manifestSignatureValid(manifest: AnyManifest, expectedKey: string | undefined): boolean {
  const cacheKey = `${manifestHash(manifest)}:${expectedKey ?? "self"}`;
  let verdict = signatureVerdicts.get(cacheKey);
  if (verdict === undefined) {
    verdict = verifyManifest(manifest, expectedKey);
    if (signatureVerdicts.size >= SIGNATURE_CACHE_LIMIT) {
      signatureVerdicts.delete(signatureVerdicts.keys().next().value as string);
    }
    signatureVerdicts.set(cacheKey, verdict);
  }
  return verdict;
}

/** @internal shared with verify-chain.ts. */
export function checkManifest(
  manifest: AnyManifest,
  operatorKey: string | undefined,
  pinned: AnyManifest | undefined,
): BundleRejected | undefined {
  if (pinned !== undefined && manifestHash(manifest) !== manifestHash(pinned)) {
    return reject(
      "pinned-manifest",
      `the bundle's manifest (dataset ${manifest.datasetId} epoch ${manifest.epoch}) is not the pinned manifest (dataset ${pinned.datasetId} epoch ${pinned.epoch})`,
    );
  }
  const expectedKey = operatorKey ?? pinned?.operatorKey;
  if (expectedKey !== undefined && manifest.operatorKey !== expectedKey) {
    return reject(
      "operator-key",
      `the manifest names operator key ${short(manifest.operatorKey)}, expected ${short(expectedKey)}`,
    );
  }
  if (!manifestSignatureValid(manifest, expectedKey)) {
    return reject(
      "manifest-signature",
      `the manifest signature is not valid for operator key ${short(manifest.operatorKey)}`,
    );
  }
  return undefined;
}

// ------------------------------------------------------------------ statement

/** First signal that differs from the recomputed one, as a rejection. */
function compareSignals(parsed: ParsedBundle, expected: readonly string[]): BundleRejected | undefined {
  const names = publicSignalNames(parsed.shape);
  const given = parsed.bundle.publicSignals;
  const index = expected.findIndex((signal, i) => signal !== given[i]);
  if (index === -1) return undefined;
  return reject(
    "public-signals",
    `public signal ${index} (${names[index]}) is ${given[index]}, but the manifest, query, answer, group size and nonce require ${expected[index]}`,
  );
}

function recomputedSignals(parsed: ParsedBundle): string[] | BundleRejected {
  const { bundle } = parsed;
  try {
    statementShape({ manifest: bundle.manifest, circuitId: bundle.circuitId });
  } catch (error) {
    if (error instanceof InputError) return reject("circuit", error.message);
    throw error;
  }
  return expectedPublicSignals(bundle);
}

/**
 * The statement that the bundle's own fields (manifest, query, answer, policy) put in words, for v1 and v2
 * (chain) bundles: what a valid bundle's `statement` must equal. @internal shared with verify-chain.ts and
 * page/verdict.ts.
 */
export function statementOf(parsed: {
  readonly bundle: Omit<StatementParts, "schema">;
  readonly schema: Schema;
}): string {
  const { bundle, schema } = parsed;
  return describeStatement({
    manifest: bundle.manifest,
    schema,
    query: bundle.query,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
    dominanceShare: bundle.dominanceShare ?? 0,
  });
}

// ------------------------------------------------------------------ verify

/** @internal shared with verify-chain.ts. */
export function checkOptions(options: VerifyOptions): {
  operatorKey?: string;
  pinned?: AnyManifest;
  expectedNonce?: bigint;
} {
  if (!isRecord(options)) throw new VerifierInputError("options", "expected an object");
  checkKeysRecord(options.keys);
  if (options.allowInsecureKeys !== undefined && typeof options.allowInsecureKeys !== "boolean") {
    throw new VerifierInputError("options.allowInsecureKeys", "expected a boolean");
  }
  const operatorKey = parseOperatorKey(options.operatorKey);
  const pinned = parsePinnedManifest(options.manifest);
  if (operatorKey === undefined && pinned === undefined) {
    throw new VerifierInputError(
      "options",
      "give operatorKey or the pinned manifest: a manifest checked only against its own key proves nothing",
    );
  }
  const expectedNonce =
    options.expectedNonce === undefined
      ? undefined
      : parseScalar(options.expectedNonce, "options.expectedNonce");
  return {
    ...(operatorKey === undefined ? {} : { operatorKey }),
    ...(pinned === undefined ? {} : { pinned }),
    ...(expectedNonce === undefined ? {} : { expectedNonce }),
  };
}

/** Steps 2 to 7 of the module comment on a parsed bundle. */
function checkAllButPairing(parsed: ParsedBundle, options: VerifyOptions): PendingProof | BundleRejected {
  const { operatorKey, pinned, expectedNonce } = checkOptions(options);
  const { bundle } = parsed;
  if (expectedNonce !== undefined && parsed.nonce !== expectedNonce) {
    return reject(
      "nonce",
      `the bundle answers request nonce ${bundle.nonce}, expected ${expectedNonce} (a replay?)`,
    );
  }
  const manifestProblem = checkManifest(bundle.manifest, operatorKey, pinned);
  if (manifestProblem !== undefined) return manifestProblem;
  const expected = recomputedSignals(parsed);
  if (!Array.isArray(expected)) return expected;
  const warnings: string[] = [];
  const key = pinnedKeyFor(
    { circuitId: bundle.circuitId, vkeyHash: bundle.vkeyHash, signalCount: parsed.signals.length },
    options,
    warnings,
  );
  if (!("hash" in key)) return key;
  const signalProblem = compareSignals(parsed, expected);
  if (signalProblem !== undefined) return signalProblem;
  const statement = statementOf(parsed);
  if (bundle.statement !== statement) {
    return reject(
      "statement",
      `the statement text ${JSON.stringify(bundle.statement)} does not say what is proven: ${JSON.stringify(statement)}`,
    );
  }
  const result: BundleVerified = {
    valid: true,
    statement,
    datasetId: bundle.manifest.datasetId,
    epoch: bundle.manifest.epoch,
    circuitId: bundle.circuitId,
    query: bundle.query,
    queryHash: parsed.queryHash,
    answer: bundle.answer,
    minGroupSize: bundle.minGroupSize,
    dominanceShare: bundle.dominanceShare ?? 0,
    nonce: bundle.nonce,
    manifestHash: manifestHash(bundle.manifest),
    operatorKey: bundle.manifest.operatorKey,
    vkeyHash: key.hash,
    createdAt: bundle.createdAt,
    dedupeKey: `${key.hash}:${expected.join(",")}`,
    warnings,
  };
  return { parsed, key, signals: expected.map(BigInt), result };
}

function pairingRejection(circuitId: string): BundleRejected {
  return reject("proof", `the Groth16 proof does not verify under the pinned key of circuit ${circuitId}`);
}

/**
 * Verifies one bundle, given as a parsed object or as its JSON text (read strictly, see `parseBundle`;
 * pass the text of a file or download so duplicate keys are caught). See the module comment for the
 * steps. Returns `{valid: true, statement, ...}`
 * or `{valid: false, check, reason}`; throws {@link VerifierInputError} naming the field for a
 * malformed bundle or malformed options (including a refused pinned key).
 */
export function verify(bundle: unknown, options: VerifyOptions): BundleVerifyResult {
  const pending = checkAllButPairing(parseBundle(bundle), options);
  if (!("key" in pending)) return pending;
  const { parsed, key, signals, result } = pending;
  return groth16EquationHolds(key, signals, parsed.proof)
    ? result
    : pairingRejection(parsed.bundle.circuitId);
}

/**
 * Verifies many bundles: the checks of {@link verify} per bundle, then one randomised batch pairing
 * check per verification key (batch.ts), bisecting to name the bad proofs. Results are in input
 * order. A malformed bundle throws `VerifierInputError` with the field prefixed by `bundles[i].`.
 * `rng` is for tests only (see batch.ts: batching scalars must be unpredictable to the prover).
 */
export function verifyBundles(
  bundles: readonly unknown[],
  options: VerifyOptions,
  rng?: RandomBytes,
): BundleVerifyResult[] {
  if (!Array.isArray(bundles)) throw new VerifierInputError("bundles", "expected an array of bundles");
  const results: BundleVerifyResult[] = new Array(bundles.length);
  const byKey = new Map<PreparedVerifyingKey, { index: number; pending: PendingProof }[]>();
  bundles.forEach((bundle, index) => {
    const pending = checkAllButPairing(parseBundleAt(bundle, index), options);
    if (!("key" in pending)) {
      results[index] = pending;
      return;
    }
    const group = byKey.get(pending.key) ?? [];
    group.push({ index, pending });
    byKey.set(pending.key, group);
  });
  for (const [key, group] of byKey) {
    const items = group.map(({ pending }) => ({ signals: pending.signals, proof: pending.parsed.proof }));
    const invalid = new Set(findInvalidParsedBatchItems(key, items, rng));
    group.forEach(({ index, pending }, position) => {
      results[index] = invalid.has(position)
        ? pairingRejection(pending.parsed.bundle.circuitId)
        : pending.result;
    });
  }
  return results;
}

function parseBundleAt(bundle: unknown, index: number): ParsedBundle {
  try {
    return parseBundle(bundle);
  } catch (error) {
    if (error instanceof VerifierInputError) {
      throw new VerifierInputError(`bundles[${index}].${error.field}`, error.reason);
    }
    throw error;
  }
}
