/**
 * @module core/field
 *
 * The BN254 scalar field every circuit, proof and public signal lives in: its order r and the one textual form
 * of a field element (canonical decimal: no sign, no leading zeros, below r). Browser-safe and import-free, so
 * the verifier SDK and every operator layer share these definitions.
 */

/** The BN254 scalar field order r (design.md preamble). */
export const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** A canonical decimal string: digits only, no sign, no leading zeros, "0" for zero (design.md preamble). */
export const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Decimal digits of 2^256: no field element (nor 256-bit integer) is longer; bounds BigInt work on input. */
export const MAX_DECIMAL_DIGITS = 78;

/** True for a canonical decimal string of at most `maxDigits` digits (default `MAX_DECIMAL_DIGITS`). */
export function isCanonicalDecimal(value: unknown, maxDigits = MAX_DECIMAL_DIGITS): value is string {
  return typeof value === "string" && value.length <= maxDigits && CANONICAL_DECIMAL.test(value);
}

/** True for the canonical decimal string of a field element (below r). */
export function isFieldElementString(value: unknown): value is string {
  return isCanonicalDecimal(value) && BigInt(value) < FIELD_ORDER;
}
