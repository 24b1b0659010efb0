/**
 * @module circuits
 *
 * The generic Aggregate circuit's TypeScript side: shapes and ids, main-file generation, the witness builder
 * (the circuit's twin) and the recomputation of public signals from public data.
 */
export * from "./aggregate-witness.ts";
export * from "./main-files.ts";
export * from "./shape.ts";
export * from "./statement.ts";
