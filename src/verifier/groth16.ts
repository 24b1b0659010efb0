/**
 * @module verifier/groth16
 *
 * Single Groth16 proof verification on bn254 with `@noble/curves` (browser-safe, no snarkjs).
 *
 * The equation e(A, B) = e(alpha, beta) · e(vk_x, gamma) · e(C, delta), with
 * vk_x = IC[0] + sum(signal[i] · IC[i+1]), is checked as
 * FE(ML(A, B) · ML(vk_x, -gamma) · ML(C, -delta)) == e(alpha, beta):
 * three Miller loops sharing one squaring chain, one final exponentiation, and the cached
 * e(alpha, beta) and G2 line coefficients from the prepared key.
 *
 * Security caveats: malformed input (non-canonical numbers, out-of-range values, wrong counts or
 * shapes, points off the curve / outside the subgroup / at infinity) throws `VerifierInputError`;
 * a well-formed proof that fails the equation returns `false`. The key must be pinned by the
 * caller (see `vkeyHash`); the signals are only as meaningful as the caller's check of what they
 * say (root, nonce, query encoding).
 */
import { bn254 } from "@noble/curves/bn254.js";
import { millerTerm, pairingProduct } from "./pairing.ts";
import { type ParsedProof, parseProof, parsePublicSignals } from "./parse.ts";
import type { G1Point } from "./points.ts";
import { assertPreparedKey, type G2LinePrecompute, type PreparedVerifyingKey } from "./vkey.ts";

/** vk_x = IC[0] + sum(signal[i] · IC[i+1]) via the key's fixed-base MSM tables. */
export function publicInputPoint(key: PreparedVerifyingKey, signals: readonly bigint[]): G1Point {
  return key.icCombination([1n, ...signals]);
}

/**
 * The Groth16 pairing check on already parsed, validated inputs. `bLines` lets a caller that
 * already computed B's line coefficients (batch bisection) pass them in.
 */
export function groth16EquationHolds(
  key: PreparedVerifyingKey,
  signals: readonly bigint[],
  proof: ParsedProof,
  bLines: G2LinePrecompute = bn254.utils.calcPairingPrecomputes(proof.b),
): boolean {
  const vkX = publicInputPoint(key, signals);
  const product = pairingProduct([
    millerTerm(bLines, proof.a),
    millerTerm(key.negGammaLines, vkX),
    millerTerm(key.negDeltaLines, proof.c),
  ]);
  return bn254.fields.Fp12.eql(product, key.alphaBeta);
}

/**
 * Verifies one Groth16 proof in snarkjs JSON form against a prepared key.
 * Returns `false` for a well-formed invalid proof; throws `VerifierInputError` for malformed input
 * (fields `publicSignals[i]`, `proof.pi_a[1]`, ...) and `TypeError` for a key not made by
 * `prepareVerifyingKey`.
 */
export function verifyGroth16(key: PreparedVerifyingKey, publicSignals: unknown, proof: unknown): boolean {
  assertPreparedKey(key);
  const signals = parsePublicSignals(publicSignals, key.nPublic);
  return groth16EquationHolds(key, signals, parseProof(proof));
}
