/**
 * @module zktally/verifier
 *
 * Partner verifier SDK: Groth16 verification on bn254 with `@noble/curves`, safe to bundle for
 * browsers (no `node:` imports, no snarkjs). Inputs are the snarkjs JSON shapes; they are parsed
 * strictly and malformed input throws {@link VerifierInputError} naming the offending field, while
 * a well-formed but invalid proof makes the verify functions return `false`.
 *
 * Security caveats: pin verification keys by {@link vkeyHash} and never use a key supplied by the
 * prover; check what the public signals say (root, nonce, query) against your own expectations.
 */
export {
  type BatchItem,
  findInvalidBatchItems,
  type RandomBytes,
  verifyGroth16Batch,
} from "./batch.ts";
export { VerifierInputError } from "./errors.ts";
export { verifyGroth16 } from "./groth16.ts";
export {
  BASE_MODULUS,
  type G1Point,
  type G2Point,
  type ParsedProof,
  type ParsedVerifyingKey,
  parseG1,
  parseG2,
  parseProof,
  parsePublicSignals,
  parseScalar,
  parseVerifyingKey,
  SCALAR_MODULUS,
  type SnarkjsProof,
  type SnarkjsVerifyingKey,
} from "./parse.ts";
export { type PreparedVerifyingKey, prepareVerifyingKey, vkeyHash } from "./vkey.ts";
