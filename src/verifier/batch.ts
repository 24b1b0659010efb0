/**
 * @module verifier/batch
 *
 * Batch verification of many Groth16 proofs for one key by a random linear combination: with
 * independent random 128-bit scalars rho_i, all n equations hold (except with probability about
 * 2^-128) iff
 *   FE( prod_i ML(rho_i·A_i, B_i) · ML(sum rho_i·vk_x_i, -gamma) · ML(sum rho_i·C_i, -delta)
 *       · ML((sum rho_i)·alpha, -beta) ) == 1,
 * which costs n + 3 Miller loops sharing one squaring chain and a single final exponentiation.
 * sum rho_i·vk_x_i is one MSM over IC with aggregated scalars (sum_i rho_i·s_ij mod r).
 *
 * Security caveats:
 * - The scalars must be unpredictable to whoever produced the proofs: the default source is
 *   `crypto.getRandomValues` (browsers and Node >= 20). A custom `rng` is for tests only; a
 *   predictable one lets a prover craft invalid proofs that cancel out.
 * - A `true` answer covers the whole batch; use {@link findInvalidBatchItems} to name bad items.
 * - Malformed items throw `VerifierInputError` (fields like `items[3].proof.pi_a[1]`) before any
 *   pairing work; an empty batch is refused rather than vacuously accepted.
 */
import { pippenger } from "@noble/curves/abstract/curve.js";
import { bn254 } from "@noble/curves/bn254.js";
import { VerifierInputError } from "./errors.ts";
import { groth16EquationHolds } from "./groth16.ts";
import { millerTerm, pairingProduct } from "./pairing.ts";
import { type ParsedProof, parseProof, parsePublicSignals, SCALAR_MODULUS } from "./parse.ts";
import type { G1Point } from "./points.ts";
import { assertPreparedKey, type G2LinePrecompute, type PreparedVerifyingKey } from "./vkey.ts";

/** One proof to verify: snarkjs JSON shapes, validated strictly. */
export interface BatchItem {
  publicSignals: unknown;
  proof: unknown;
}

/** Source of random bytes: returns exactly `byteLength` fresh bytes. */
export type RandomBytes = (byteLength: number) => Uint8Array;

/** A parsed item with its batching scalar and the per-item work every sub-batch check reuses. */
interface WeightedItem {
  readonly signals: readonly bigint[];
  readonly proof: ParsedProof;
  /** Secret random 128-bit weight, drawn once per call. */
  readonly rho: bigint;
  /** rho·A, the G1 side of this item's Miller-loop term. */
  readonly rhoA: G1Point;
  /** Line coefficients of B, shared by the batch and the single-proof checks. */
  readonly bLines: G2LinePrecompute;
}

const SCALAR_BYTES = 16; // 128-bit batching scalars: soundness error about 2^-128 per batch

function defaultRandomBytes(byteLength: number): Uint8Array {
  const webCrypto = globalThis.crypto;
  if (webCrypto === undefined || typeof webCrypto.getRandomValues !== "function") {
    throw new TypeError("verifyGroth16Batch: crypto.getRandomValues is not available; pass an rng");
  }
  return webCrypto.getRandomValues(new Uint8Array(byteLength));
}

/** A nonzero 128-bit scalar; redraws on zero so no proof can drop out of the combination. */
function randomScalar(rng: RandomBytes): bigint {
  for (;;) {
    const bytes = rng(SCALAR_BYTES);
    if (!(bytes instanceof Uint8Array) || bytes.length !== SCALAR_BYTES) {
      throw new TypeError(`rng: expected a Uint8Array of ${SCALAR_BYTES} bytes`);
    }
    let scalar = 0n;
    for (const byte of bytes) scalar = (scalar << 8n) | BigInt(byte);
    if (scalar !== 0n) return scalar;
  }
}

function parseItems(key: PreparedVerifyingKey, items: unknown): { signals: bigint[]; proof: ParsedProof }[] {
  if (!Array.isArray(items)) {
    throw new VerifierInputError("items", "expected an array of {publicSignals, proof}");
  }
  if (items.length === 0) throw new VerifierInputError("items", "the batch is empty");
  return items.map((item: unknown, index) => {
    const path = `items[${index}]`;
    if (typeof item !== "object" || item === null) {
      throw new VerifierInputError(path, "expected an object {publicSignals, proof}");
    }
    const { publicSignals, proof } = item as Partial<BatchItem>;
    return {
      signals: parsePublicSignals(publicSignals, key.nPublic, `${path}.publicSignals`),
      proof: parseProof(proof, `${path}.proof`),
    };
  });
}

/**
 * Parses every item (all-or-nothing, so malformed input throws before any pairing work) and
 * attaches its random weight. Reusing one weight per item across the sub-batches of a bisection is
 * sound: each check still fails except with probability about 2^-128 if it holds a bad proof.
 */
function weightItems(key: PreparedVerifyingKey, items: unknown, rng: RandomBytes): WeightedItem[] {
  return weightParsedItems(parseItems(key, items), rng);
}

/** A parsed item: signals and proof already validated (e.g. by `parseBundle`). */
export interface ParsedBatchItem {
  readonly signals: readonly bigint[];
  readonly proof: ParsedProof;
}

function weightParsedItems(items: readonly ParsedBatchItem[], rng: RandomBytes): WeightedItem[] {
  return items.map(({ signals, proof }) => {
    const rho = randomScalar(rng);
    return {
      signals,
      proof,
      rho,
      rhoA: proof.a.multiplyUnsafe(rho),
      bLines: bn254.utils.calcPairingPrecomputes(proof.b),
    };
  });
}

/** sum_i rho_i·(1, s_i1, ..., s_in) mod r: the IC scalars of sum_i rho_i·vk_x_i. */
function combinedIcScalars(key: PreparedVerifyingKey, items: readonly WeightedItem[]): bigint[] {
  const scalars: bigint[] = new Array(key.nPublic + 1).fill(0n);
  for (const { rho, signals } of items) {
    scalars[0] = ((scalars[0] as bigint) + rho) % SCALAR_MODULUS;
    signals.forEach((signal, j) => {
      scalars[j + 1] = ((scalars[j + 1] as bigint) + rho * signal) % SCALAR_MODULUS;
    });
  }
  return scalars;
}

/** The randomised batch equation over weighted items (see the module comment). */
function batchEquationHolds(key: PreparedVerifyingKey, items: readonly WeightedItem[]): boolean {
  const icScalars = combinedIcScalars(key, items);
  const combinedC = pippenger(
    bn254.G1.Point,
    items.map((item) => item.proof.c),
    items.map((item) => item.rho),
  );
  const terms = items.map((item) => millerTerm(item.bLines, item.rhoA));
  terms.push(
    millerTerm(key.negGammaLines, key.icCombination(icScalars)),
    millerTerm(key.negDeltaLines, combinedC),
    millerTerm(key.negBetaLines, key.key.alpha.multiplyUnsafe(icScalars[0] as bigint)),
  );
  return bn254.fields.Fp12.eql(pairingProduct(terms), bn254.fields.Fp12.ONE);
}

/**
 * Verifies a batch of proofs for one key with a single final exponentiation. `true` iff every
 * proof is valid (up to a 2^-128 error); throws `VerifierInputError` for malformed items.
 */
export function verifyGroth16Batch(
  key: PreparedVerifyingKey,
  items: readonly BatchItem[],
  rng: RandomBytes = defaultRandomBytes,
): boolean {
  assertPreparedKey(key);
  return batchEquationHolds(key, weightItems(key, items, rng));
}

/** Bisects [start, end): whole ranges that pass are cleared with one batch check. */
function collectInvalid(
  key: PreparedVerifyingKey,
  items: readonly WeightedItem[],
  start: number,
  end: number,
  invalid: number[],
): void {
  if (end - start === 1) {
    const item = items[start] as WeightedItem;
    // The leaf check is the deterministic single-proof equation, not a randomised one.
    if (!groth16EquationHolds(key, item.signals, item.proof, item.bLines)) invalid.push(start);
    return;
  }
  if (batchEquationHolds(key, items.slice(start, end))) return;
  const middle = start + Math.floor((end - start) / 2);
  collectInvalid(key, items, start, middle, invalid);
  collectInvalid(key, items, middle, end, invalid);
}

/**
 * Indices (ascending) of the invalid proofs in a batch; `[]` when all verify. Costs one batch check
 * when the batch is valid and O(k·log n) batch checks for k bad proofs, each reusing the per-item
 * work. Malformed items throw `VerifierInputError` like {@link verifyGroth16Batch}.
 */
export function findInvalidBatchItems(
  key: PreparedVerifyingKey,
  items: readonly BatchItem[],
  rng: RandomBytes = defaultRandomBytes,
): number[] {
  assertPreparedKey(key);
  const weighted = weightItems(key, items, rng);
  const invalid: number[] = [];
  collectInvalid(key, weighted, 0, weighted.length, invalid);
  return invalid;
}

/**
 * {@link findInvalidBatchItems} for items parsed already (the bundle verifier parses every bundle
 * strictly first), so no point is decoded and subgroup-checked twice. Each item's signal count must
 * equal `key.nPublic`; an empty batch is refused.
 */
export function findInvalidParsedBatchItems(
  key: PreparedVerifyingKey,
  items: readonly ParsedBatchItem[],
  rng: RandomBytes = defaultRandomBytes,
): number[] {
  assertPreparedKey(key);
  if (items.length === 0) throw new VerifierInputError("items", "the batch is empty");
  items.forEach(({ signals }, index) => {
    if (signals.length !== key.nPublic) {
      throw new VerifierInputError(
        `items[${index}].publicSignals`,
        `expected ${key.nPublic} signals (vkey.nPublic)`,
      );
    }
  });
  const weighted = weightParsedItems(items, rng);
  const invalid: number[] = [];
  collectInvalid(key, weighted, 0, weighted.length, invalid);
  return invalid;
}
