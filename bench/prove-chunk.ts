/**
 * @module bench/prove-chunk
 *
 * The chunk circuit rows of bench/prove.ts: the standard chunk shape (8 fields of 32 bits, key = field 0,
 * 4 clauses of 4 constants, dataset tree depth 4, the layout's default records per leaf) at S records per
 * chunk, and the witness input of its first chunk over a full random dataset of two chunks (count query),
 * planned exactly as the chain prover plans it (planChain).
 */
import { type ChunkShape, chunkQueryShape, makeChunkShape } from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { defaultLeafRecords, domainFromToken } from "../src/dataset/chunk-layout.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";

const FIELDS = 8;

/** The standard chunk shape at `chunkSize` records per chunk. */
export function standardChunkShape(chunkSize: number): ChunkShape {
  const domains = Array.from({ length: FIELDS }, () => domainFromToken("u32"));
  return makeChunkShape({
    layout: { version: 2, chunkSize, leafRecords: defaultLeafRecords(domains, chunkSize), treeDepth: 4 },
    domains,
    keyField: 0,
    clauses: 4,
    setSize: 4,
  });
}

/** ChunkStep's input for chunk 0 of a two-chunk dataset with distinct keys, for a count query. */
export async function chunkWitnessInput(shape: ChunkShape): Promise<Record<string, unknown>> {
  const S = shape.layout.chunkSize;
  const schema = parseSchema({
    fields: Array.from({ length: FIELDS }, (_, f) => ({ name: `f${f}`, type: "uint", bits: 32 })),
    key: "f0",
  });
  const records = Array.from({ length: 2 * S }, (_, i) =>
    Array.from({ length: FIELDS }, (_, f) =>
      f === 0 ? BigInt(3 * i + 1) : BigInt((i * 7919 + f * 104729) % 100_000),
    ),
  );
  const poseidon = await getPoseidon();
  const committed = commitChunks(poseidon, {
    layout: shape.layout,
    domains: shape.domains,
    keyField: shape.keyField,
    records,
    secret: new Uint8Array(32).fill(9),
    datasetId: "bench",
    epoch: 1,
  });
  const query: Query = { predicate: [{ field: "f1", op: "gte", value: 500 }], aggregate: { kind: "count" } };
  const encoded = encodeQueryPublic(query, schema, chunkQueryShape(shape));
  const plan = planChain(poseidon, shape, committed, { nonce: 777n, query: encoded, minGroupSize: 0 });
  const first = plan.chunks[0];
  if (!first) throw new Error("no chunk planned");
  return first.input;
}
