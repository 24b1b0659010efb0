/**
 * @module poseidon
 *
 * Public API of the fast Poseidon (circomlib-compatible PoseidonEx with an initial state, 1..16 inputs).
 * Browser-safe; shared by the operator's commitment code and, later, the verifier SDK.
 */
export {
  buildPoseidonHash,
  MAX_POSEIDON_INPUTS,
  type PoseidonHash,
  type PoseidonOptions,
} from "./poseidon.ts";
