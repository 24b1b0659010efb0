/**
 * @module test/helpers/circuits
 *
 * Small circuit shapes used by the tests (kept tiny so CI stays fast) and a cached loader that compiles a
 * shape through the project's compile cache and returns the witness-level harness of ./r1cs.ts.
 */
import { type ChunkShape, chunkShapeFor, type FinalShape } from "../../src/circuits/chunk-shape.ts";
import type { NoisyFinalShape } from "../../src/circuits/noise.ts";
import { type NoisyPassShape, noisyPassFinalCircuitId } from "../../src/circuits/pass-noise.ts";
import { type PassShape, passCircuitId, passShapeFor } from "../../src/circuits/pass-shape.ts";
import { type AggregateShape, makeShape } from "../../src/circuits/shape.ts";
import { parseSchema, type Schema } from "../../src/dataset/schema.ts";
import { compileCircuit } from "../../src/setup/compile.ts";
import {
  ensureChunkMainFile,
  ensureFinalMainFile,
  ensureMainFile,
  ensureNoisyFinalMainFile,
  ensureNoisyPassFinalMainFile,
  ensurePassMainFiles,
} from "../../src/setup/main-files.ts";
import { type LoadedCircuit, loadCircuit } from "./r1cs.ts";

/** 8 slots of 4 fields x 16 bits, 3 clause slots of 3 constants, 2 records per leaf, binary tree. */
export const TEST_SHAPE: AggregateShape = makeShape({
  capacity: 8,
  fields: 4,
  width: 16,
  clauses: 3,
  setSize: 3,
  leafRecords: 2,
  arity: 2,
});

/** userId, country (0 DE, 1 FR, 2 US), edits, bot: 4 fields of at most 16 bits, fits TEST_SHAPE. */
export const EDITORS_SCHEMA: Schema = parseSchema({
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["DE", "FR", "US"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
  ],
  key: "userId",
});

/** The chunk tests' schema: a 16-bit key, an enum of 6 values (not a power of two), a bool and a uint8. */
export const CHUNK_TEST_SCHEMA: Schema = parseSchema({
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: ["DE", "FR", "JP", "US", "IN", "BR"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
    { name: "level", type: "uint", bits: 8 },
  ],
  key: "userId",
});

/** S = 16 records per chunk, 4 per leaf (a 4-leaf ragged subtree), one 16-ary level above the chunks. */
export const CHUNK_TEST_SHAPE: ChunkShape = chunkShapeFor(
  CHUNK_TEST_SCHEMA,
  { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
  { clauses: 3, setSize: 3 },
);

const loaded = new Map<string, Promise<LoadedCircuit>>();

export function loadShape(shape: AggregateShape): Promise<LoadedCircuit> {
  return loadMain(JSON.stringify(shape), () => ensureMainFile(shape));
}

export function loadChunkShape(shape: ChunkShape): Promise<LoadedCircuit> {
  return loadMain(`chunk:${JSON.stringify(shape, (_, v) => (typeof v === "bigint" ? String(v) : v))}`, () =>
    ensureChunkMainFile(shape),
  );
}

export function loadNoisyFinalShape(shape: NoisyFinalShape): Promise<LoadedCircuit> {
  return loadMain(`noisy:${JSON.stringify(shape)}`, () => ensureNoisyFinalMainFile(shape));
}

export function loadNoisyPassFinalShape(shape: NoisyPassShape): Promise<LoadedCircuit> {
  return loadMain(`noisypass:${noisyPassFinalCircuitId(shape)}`, () => ensureNoisyPassFinalMainFile(shape));
}

export function loadFinalShape(shape: FinalShape): Promise<LoadedCircuit> {
  return loadMain(`final:${JSON.stringify(shape)}`, () => ensureFinalMainFile(shape));
}

function loadMain(key: string, writeMain: () => Promise<string>): Promise<LoadedCircuit> {
  let circuit = loaded.get(key);
  if (!circuit) {
    circuit = writeMain().then(async (main) => loadCircuit(await compileCircuit(main)));
    loaded.set(key, circuit);
  }
  return circuit;
}

/** The pass tests' shape: CHUNK_TEST_SHAPE's records, Q = 3 queries, H = 2 histogram slots of G = 16 cells. */
export const PASS_TEST_SHAPE: PassShape = passShapeFor(
  CHUNK_TEST_SCHEMA,
  { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
  { clauses: 3, setSize: 3, queries: 3, histogramSlots: 2, cells: 16 },
);

/** The pass step and final circuits of `shape`, compiled once per run. */
export async function loadPassShape(shape: PassShape): Promise<[LoadedCircuit, LoadedCircuit]> {
  const key = `pass:${passCircuitId(shape)}`;
  const mains = ensurePassMainFiles(shape);
  return Promise.all([
    loadMain(key, async () => (await mains)[0]),
    loadMain(`${key}:final`, async () => (await mains)[1]),
  ]);
}

/** RELEASE_TEST_SCHEMA as JSON (what a request or a config file carries). */
export const RELEASE_SCHEMA_JSON = {
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "wiki", type: "enum", values: ["enwiki", "frwiki"] },
    { name: "country", type: "enum", values: ["DE", "FR", "US", "IN"] },
    { name: "activity", type: "enum", values: ["5 to 99", "100 or more"] },
    { name: "edits", type: "uint", bits: 16 },
  ],
  key: "userId",
};

/** A geoeditors-style schema: editors per (wiki, country, activity level); 4 countries x 2 levels = 8 cells. */
export const RELEASE_TEST_SCHEMA: Schema = parseSchema(RELEASE_SCHEMA_JSON);

/** The release tests' noisy pass: 16 records per chunk, Q = H = 2 tables (one per wiki) of G = 8 cells, 128 coins. */
export const RELEASE_TEST_SHAPE: NoisyPassShape = {
  pass: passShapeFor(
    RELEASE_TEST_SCHEMA,
    { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 },
    { clauses: 3, setSize: 3, queries: 2, histogramSlots: 2, cells: 8 },
  ),
  maxCoins: 128,
  maxScaleBits: 2,
};
