/**
 * @module test/chunk-store-circuit
 *
 * From a file to the chunk circuit: a CSV streamed into the encrypted chunk store (src/storage/chunk-store.ts)
 * loads back chunk by chunk into exactly the inputs the chain planner needs (src/circuits/chunk-witness.ts),
 * and the chunk circuit (circuits/lib/chunk.circom) accepts every chunk's witness with `root` equal to the
 * streaming pipeline's signed root; the final step answers the reference evaluator's count. This closes the
 * loop between the TypeScript streaming commitment and the circuit's commitment.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  chunkPublicSignalNames,
  chunkQueryShape,
  chunkShapeFor,
  finalShapeOf,
} from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { ChunkStoreReader, commitFileToChunkStore, type LoadedChunk } from "../src/storage/chunk-store.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import { loadChunkShape, loadFinalShape } from "./helpers/circuits.ts";
import { type LoadedCircuit, satisfies } from "./helpers/r1cs.ts";

const COUNTRIES = ["DE", "FR", "JP", "US", "IN", "BR"];
const schema: Schema = parseSchema({
  fields: [
    { name: "userId", type: "uint", bits: 16 },
    { name: "country", type: "enum", values: COUNTRIES },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
    { name: "level", type: "uint", bits: 8 },
  ],
  key: "userId",
});
const layout = { version: 2, chunkSize: 16, leafRecords: 4, treeDepth: 1 } as const;
const shape = chunkShapeFor(schema, layout, { clauses: 3, setSize: 3 });
const RECORDS = 16 * 3 + 5;

describe("chunk store -> chunk circuit", () => {
  let dir: string;
  let chunkCircuit: LoadedCircuit;
  let finalCircuit: LoadedCircuit;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zktally-store-circuit-"));
    chunkCircuit = await loadChunkShape(shape);
    finalCircuit = await loadFinalShape(finalShapeOf(shape));
  }, 600_000);

  it("proves every stored chunk against the streamed root and answers the reference count", async () => {
    const rows = Array.from(
      { length: RECORDS },
      (_, i) => `${10 + 3 * i},${COUNTRIES[i % 6]},${(i * 97) % 5000},${i % 4 === 0},${i % 200}`,
    );
    const path = join(dir, "editors.csv");
    await writeFile(path, `userId,country,edits,bot,level\n${rows.join("\n")}\n`);
    const ring = await KeyRing.create(join(dir, "keys.json"));
    const store = join(dir, "store", "editors", "1");
    const result = await commitFileToChunkStore(path, store, ring, {
      datasetId: "editors",
      epoch: 1,
      schema,
      layout,
      secret: new Uint8Array(32).fill(5),
      operatorSecretKey: generateOperatorKey().secretKey,
      circuits: ["chunk-test"],
    });
    expect(result.chunkCount).toBe(4);

    const reader = await ChunkStoreReader.open(store, ring);
    const chunks: LoadedChunk[] = [];
    for (let c = 0; c < reader.manifest.chunkCount; c++) chunks.push(await reader.loadChunk(c));
    const query: Query = {
      predicate: [{ field: "country", op: "in", value: ["FR", "JP"] }],
      aggregate: { kind: "count" },
    };
    const poseidon = await getPoseidon();
    const plan = planChain(
      poseidon,
      shape,
      { root: result.root, recordCount: result.recordCount, chunks },
      { nonce: 42n, query: encodeQueryPublic(query, schema, chunkQueryShape(shape)), minGroupSize: 0 },
    );
    const rootIndex = chunkPublicSignalNames(shape).indexOf("root");
    for (const [c, chunk] of plan.chunks.entries()) {
      const witness = await chunkCircuit.witness(chunk.input);
      expect(satisfies(chunkCircuit, witness), `chunk ${c}`).toBe(true);
      expect(witness[1 + rootIndex]).toBe(result.root);
    }
    const finalWitness = await finalCircuit.witness(plan.final.input);
    expect(satisfies(finalCircuit, finalWitness)).toBe(true);
    const records = chunks.flatMap((chunk) => chunk.values.slice(0, chunk.realRecords));
    const expected = evaluateQuery(query, schema, records);
    expect(expected.answer).toBe(18n);
    expect(finalWitness[2]).toBe(expected.answer);
    await rm(dir, { recursive: true, force: true });
  });
});
