/**
 * @module verifier/vkey
 *
 * Verification keys for the Groth16 verifier: strict parsing, refusal of keys without a phase-2
 * contribution, the cached pairing data that makes one verification cost 3 Miller loops and one
 * final exponentiation, and the key hash used for pinning.
 *
 * Security caveats:
 * - A key is only as trustworthy as its origin. Callers must pin keys by {@link vkeyHash} and never
 *   use a key shipped by the party whose proof is being checked.
 * - `vk_delta_2 == ±vk_gamma_2` or `vk_delta_2 == ±G2 generator` means the phase-2 ceremony never ran
 *   (snarkjs starts delta at the generator, and gamma is always the generator): anyone can then
 *   forge proofs for any public signals, so such keys are refused. Other known-discrete-log keys
 *   cannot be detected here; that is what the pinned ceremony is for.
 * - Prepared keys are branded: only objects returned by {@link prepareVerifyingKey} are accepted by
 *   the verify functions, so a hand-built object cannot smuggle in a different e(alpha, beta).
 */
import { interleavedMSMUnsafe } from "@noble/curves/abstract/curve.js";
import type { Fp12 } from "@noble/curves/abstract/tower.js";
import { bn254 } from "@noble/curves/bn254.js";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { VerifierInputError } from "./errors.ts";
import { type G2LinePrecompute, millerTerm, pairingProduct } from "./pairing.ts";
import { type ParsedVerifyingKey, parseVerifyingKey } from "./parse.ts";
import type { G1Point, G2Point } from "./points.ts";

/** Miller-loop line coefficients of one G2 point, as produced by noble's `calcPairingPrecomputes`. */
export type { G2LinePrecompute } from "./pairing.ts";

/** A verification key ready for repeated verification. Build it with {@link prepareVerifyingKey}. */
export interface PreparedVerifyingKey {
  /** Number of public signals a proof for this key must come with. */
  readonly nPublic: number;
  /** The parsed, validated key points. */
  readonly key: ParsedVerifyingKey;
  /** e(alpha, beta), after the final exponentiation. */
  readonly alphaBeta: Fp12;
  /** Line coefficients of -gamma, -delta and -beta, so no G2 work is repeated per proof. */
  readonly negGammaLines: G2LinePrecompute;
  readonly negDeltaLines: G2LinePrecompute;
  readonly negBetaLines: G2LinePrecompute;
  /** sum(scalars[i] * IC[i]) over all IC points (scalars[0] multiplies the constant term IC[0]). */
  readonly icCombination: (scalars: readonly bigint[]) => G1Point;
  /** Hex SHA-256 of the canonical JSON of the key as given (see {@link vkeyHash}). */
  readonly hash: string;
}

/** Window width of the fixed-base IC tables: 2^(w-2) points per IC entry; 6 measured fastest. */
const IC_MSM_WINDOW = 6;

const preparedKeys = new WeakSet<object>();

/**
 * Hex SHA-256 of the canonical JSON (design.md section 6) of a snarkjs verification key, after a
 * strict parse (so only well-formed keys get a hash; the hash covers the key exactly as given,
 * including `vk_alphabeta_12` when present).
 */
export function vkeyHash(vkey: unknown): string {
  parseVerifyingKey(vkey);
  return hashOfValidatedKey(vkey);
}

function hashOfValidatedKey(vkey: unknown): string {
  return canonicalJsonSha256(vkey);
}

/** Throws when delta shows that no phase-2 contribution was made. */
function refuseUncontributedKey(key: ParsedVerifyingKey): void {
  const field = "vkey.vk_delta_2";
  const reason = "the key has no phase-2 contribution, so proofs for it are forgeable";
  const { delta, gamma } = key;
  if (delta.equals(gamma) || delta.equals(gamma.negate())) {
    throw new VerifierInputError(field, `equals ±vk_gamma_2: ${reason}`);
  }
  const generator = bn254.G2.Point.BASE;
  if (delta.equals(generator) || delta.equals(generator.negate())) {
    throw new VerifierInputError(field, `is ±the G2 generator: ${reason}`);
  }
}

function buildIcCombination(ic: readonly G1Point[]): PreparedVerifyingKey["icCombination"] {
  const msm = interleavedMSMUnsafe(bn254.G1.Point, [...ic], IC_MSM_WINDOW);
  return (scalars) => {
    if (scalars.length !== ic.length) {
      throw new RangeError(`icCombination: expected ${ic.length} scalars, got ${scalars.length}`);
    }
    return msm([...scalars]);
  };
}

/**
 * Parses a snarkjs `verification_key.json`, refuses uncontributed keys, checks a present
 * `vk_alphabeta_12` against the recomputed pairing, and caches everything verification reuses.
 * Throws {@link VerifierInputError} on any malformed or refused key.
 */
export function prepareVerifyingKey(vkey: unknown): PreparedVerifyingKey {
  const key = parseVerifyingKey(vkey);
  refuseUncontributedKey(key);
  const lines = (point: G2Point) => bn254.utils.calcPairingPrecomputes(point.negate());
  const negBetaLines = lines(key.beta);
  // e(alpha, beta) = e(-alpha, -beta), on pairing.ts's tower (noble's `pairing` would also derive its
  // Frobenius tables, most of a one-bundle verification's CPU time).
  const alphaBeta = pairingProduct([millerTerm(negBetaLines, key.alpha.negate())]);
  if (key.alphaBetaClaim !== undefined && !bn254.fields.Fp12.eql(alphaBeta, key.alphaBetaClaim)) {
    throw new VerifierInputError("vkey.vk_alphabeta_12", "does not equal e(vk_alpha_1, vk_beta_2)");
  }
  const prepared: PreparedVerifyingKey = Object.freeze({
    nPublic: key.nPublic,
    key,
    alphaBeta,
    negGammaLines: lines(key.gamma),
    negDeltaLines: lines(key.delta),
    negBetaLines,
    icCombination: buildIcCombination(key.ic),
    hash: hashOfValidatedKey(vkey),
  });
  preparedKeys.add(prepared);
  return prepared;
}

/** Throws `TypeError` unless `key` was returned by {@link prepareVerifyingKey}. */
export function assertPreparedKey(key: unknown): asserts key is PreparedVerifyingKey {
  if (typeof key !== "object" || key === null || !preparedKeys.has(key)) {
    throw new TypeError("preparedKey: expected the result of prepareVerifyingKey()");
  }
}
