/**
 * @module circuits
 *
 * The circuits' TypeScript side: shapes and ids, main-file generation, the witness builders (the circuits'
 * twins) and the recomputation of public signals from public data, for the single-proof Aggregate circuit and
 * for chunk chains (ChunkStep, ChunkFinal; design.md section 7).
 */
export * from "./aggregate-witness.ts";
export * from "./chunk-shape.ts";
export * from "./chunk-statement.ts";
export * from "./chunk-witness.ts";
export * from "./public-signals.ts";
export * from "./shape.ts";
export * from "./statement.ts";
