/**
 * @module prover
 *
 * Prover backends: the `ProverBackend` interface and its snarkjs implementation (in-memory keys checked
 * against the pinned keys manifest), plus the interim `verifyWithSnarkjs` check; chunk jobs (ordered chunk
 * tasks, progress) and the local pool of prover processes that proves them in parallel.
 */

export * from "./backend.ts";
export * from "./backends.ts";
export * from "./chunks.ts";
export * from "./pinned-artifacts.ts";
export * from "./pool.ts";
export * from "./snarkjs-backend.ts";
