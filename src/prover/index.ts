/**
 * @module prover
 *
 * Prover backends: the `ProverBackend` interface and its snarkjs implementation (in-memory keys checked
 * against the pinned keys manifest), plus the interim `verifyWithSnarkjs` check.
 */

export * from "./backend.ts";
export * from "./snarkjs-backend.ts";
