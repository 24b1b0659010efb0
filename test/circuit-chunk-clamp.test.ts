/**
 * Witness-level tests of the clamped-sum chunk step (circuits/lib/chunk.circom with CLAMP = 1, design.md 8.3)
 * against the reference evaluator: each matching record adds min(max(value, lo), hi), the clamp is read from
 * the public aggregate element, and a witness that skips the clamp (adds a record's raw value) or uses other
 * bounds breaks a constraint. The unclamped circuit (CLAMP = 0) refuses a clamped element.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type ChunkShape, chunkQueryShape, makeChunkShape } from "../src/circuits/chunk-shape.ts";
import { planChain } from "../src/circuits/chunk-witness.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { getPoseidon, type PoseidonEx } from "../src/dataset/commitment.ts";
import { canonicalQuery } from "../src/query/canonical.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { decodeAggregateElement, encodeQueryPublic } from "../src/query/lower.ts";
import type { Query } from "../src/query/model.ts";
import { CHUNK_TEST_SCHEMA, CHUNK_TEST_SHAPE, loadChunkShape } from "./helpers/circuits.ts";
import { edit, type LoadedCircuit, satisfies, wire } from "./helpers/r1cs.ts";

const schema = CHUNK_TEST_SCHEMA;
const shape: ChunkShape = makeChunkShape({ ...CHUNK_TEST_SHAPE, clamp: true });
let poseidon: PoseidonEx;
let clamped: LoadedCircuit;
let plain: LoadedCircuit;

/** 20 records (2 chunks): userId i+1, country i mod 6, edits 37 i, bot i mod 2, level i. */
const records = Array.from({ length: 20 }, (_, i) => [
  BigInt(i + 1),
  BigInt(i % 6),
  BigInt(37 * i),
  BigInt(i % 2),
  BigInt(i),
]);

beforeAll(async () => {
  poseidon = await getPoseidon();
  clamped = await loadChunkShape(shape);
  plain = await loadChunkShape(CHUNK_TEST_SHAPE);
}, 600_000);

function chain(query: Query, chunkShape = shape) {
  const committed = commitChunks(poseidon, {
    layout: chunkShape.layout,
    domains: chunkShape.domains,
    keyField: chunkShape.keyField,
    records,
    secret: new Uint8Array(32).fill(3),
    datasetId: "clamp",
    epoch: 1,
  });
  const encoded = encodeQueryPublic(query, schema, chunkQueryShape(chunkShape));
  return planChain(poseidon, chunkShape, committed, { nonce: 5n, query: encoded, minGroupSize: 0 });
}

const clampedSum = (lo: number, hi: number): Query => ({
  predicate: [{ field: "bot", op: "eq", value: false }],
  aggregate: { kind: "sum", field: "edits", clamp: [lo, hi] },
});

describe("clamped sums", () => {
  it("adds min(max(value, lo), hi) per matching record, as the reference evaluator", async () => {
    for (const [lo, hi] of [
      [0, 100],
      [50, 200],
      [0, 65535],
      [300, 300],
    ] as const) {
      const query = clampedSum(lo, hi);
      const plan = chain(query);
      const expected = evaluateQuery(canonicalQuery(query, schema), schema, records).answer as bigint;
      const even = records.filter((r) => r[3] === 0n).map((r) => r[2] as bigint);
      const byHand = even.reduce(
        (t, v) => t + (v < BigInt(lo) ? BigInt(lo) : v > BigInt(hi) ? BigInt(hi) : v),
        0n,
      );
      expect(expected).toBe(byHand);
      expect(plan.outputs.answer).toBe(expected);
      for (const chunk of plan.chunks) {
        const w = await clamped.witness(chunk.input);
        expect(satisfies(clamped, w)).toBe(true);
        expect(w.slice(1, 1 + clamped.nPublic).map(String)).toEqual(chunk.publicSignals);
      }
    }
  });

  it("encodes the clamp in the aggregate element and refuses bad bounds", () => {
    const encoded = encodeQueryPublic(clampedSum(50, 200), schema, chunkQueryShape(shape));
    expect(decodeAggregateElement(encoded.aggregate, 16).clamp).toEqual([50n, 200n]);
    expect(() => canonicalQuery(clampedSum(200, 50), schema)).toThrow(/clamp/);
    expect(() => canonicalQuery(clampedSum(0, 0), schema)).toThrow(/clamp/);
    expect(() => canonicalQuery(clampedSum(0, 70000), schema)).toThrow(/clamp/);
  });

  it("counts are unaffected by the clamped circuit", async () => {
    const query: Query = {
      predicate: [{ field: "bot", op: "eq", value: true }],
      aggregate: { kind: "count" },
    };
    const plan = chain(query);
    expect(plan.outputs.answer).toBe(10n);
    const w = await clamped.witness(plan.chunks[0]?.input as Record<string, unknown>);
    expect(satisfies(clamped, w)).toBe(true);
  });

  it("rejects a chunk that skips the clamp (adds a record's raw value) or uses other bounds", async () => {
    const plan = chain(clampedSum(50, 200));
    const input = plan.chunks[0]?.input as Record<string, unknown>;
    const w = await clamped.witness(input);
    // record 6 (edits 222 > 200, bot 0) is clamped to 200: give its raw value instead
    const out = wire(clamped, "clamped[6].out");
    expect(w[out]).toBe(200n);
    expect(satisfies(clamped, edit(w, { [out]: 222n }))).toBe(false);
    const contribution = wire(clamped, "contribution[6]");
    expect(satisfies(clamped, edit(w, { [contribution]: 222n }))).toBe(false);
    // record 0 (edits 0 < 50) is raised to 50
    const low = wire(clamped, "clamped[0].out");
    expect(w[low]).toBe(50n);
    expect(satisfies(clamped, edit(w, { [low]: 0n }))).toBe(false);
    // lo > hi cannot be encoded by a prover either
    const swapped = (200n << 32n) | (50n << 48n) | (2n << 8n) | 1n;
    expect(satisfies(clamped, await clamped.forgedWitness({ ...input, aggregate: String(swapped) }))).toBe(
      false,
    );
  });

  it("the unclamped chunk circuit refuses a clamped aggregate element (clamping cannot be skipped)", async () => {
    const plan = chain(clampedSum(50, 200));
    const input = plan.chunks[0]?.input as Record<string, unknown>;
    expect(satisfies(plain, await plain.forgedWitness(input))).toBe(false);
  });
});
