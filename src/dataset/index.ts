/**
 * @module dataset
 *
 * Public API of the dataset module: schemas and value encoding, CSV/JSONL loading (all or nothing), the salt
 * PRF, the commitment layout and Poseidon commitment, and the signed dataset manifest (docs/design.md §1-2, §5).
 * Caveat: everything but the manifest is operator-private (records, salts, the dataset secret).
 */
export * from "./chunk-commit.ts";
export * from "./chunk-layout.ts";
export * from "./commitment.ts";
export * from "./committed.ts";
export * from "./errors.ts";
export * from "./layout.ts";
export * from "./load.ts";
export * from "./manifest.ts";
export * from "./manifest-sign.ts";
export * from "./salt.ts";
export * from "./schema.ts";
