/**
 * @module core/field
 *
 * The BN254 scalar field every circuit, proof and public signal lives in: its order r and the one textual form
 * of a field element (canonical decimal: no sign, no leading zeros, below r). Browser-safe and import-free, so
 * the verifier SDK and every operator layer share these definitions.
 */

/** The BN254 scalar field order r (design.md preamble). */
export const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
