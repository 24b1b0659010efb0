/**
 * @module zktally
 *
 * The operator side of zktally: commit a dataset (schema, loading, Poseidon commitment, signed manifest),
 * model and evaluate queries, build circuits and development keys, and prove answers with Groth16.
 * Partners and third parties use the standalone verifier instead: `import … from "zktally/verifier"`.
 */
export * from "./circuits/index.ts";
export * from "./core/field.ts";
export * from "./core/formats.ts";
export * from "./dataset/index.ts";
export * from "./prover/check.ts";
export * from "./prover/index.ts";
export * from "./prover/prove-query.ts";
export * from "./query/index.ts";
export * from "./setup/index.ts";
