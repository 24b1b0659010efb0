import { describe, expect, it } from "vitest";
import { decodeValue, maxFieldWidth, parseSchema, type Schema } from "../src/dataset/schema.ts";
import {
  AGGREGATE_KINDS,
  type AggregateKind,
  type CircuitShape,
  evaluateLowered,
  evaluateQuery,
  isSuppressed,
  lowerQuery,
  MEMBERSHIP_SUPPRESSING_GROUP_SIZE,
  QueryError,
  type QueryResult,
} from "../src/query/index.ts";
import { createRng, fieldMax, randomQuery, randomRecords, randomSchema } from "./helpers/random.ts";

const schema = parseSchema({
  fields: [
    { name: "country", type: "enum", values: ["FR", "DE", "US"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "bot", type: "bool" },
    { name: "userId", type: "uint", bits: 32 },
  ],
  key: "userId",
});
// country, edits, bot, userId
const records: bigint[][] = [
  [0n, 120n, 0n, 1n],
  [0n, 5n, 1n, 2n],
  [1n, 300n, 0n, 3n],
  [2n, 0n, 0n, 4n],
  [0n, 65535n, 0n, 5n],
  [1n, 100n, 1n, 6n],
];
const frHeavy = { field: "country", op: "eq", value: "FR" };
const run = (predicate: unknown[], aggregate: unknown, minGroupSize?: number) =>
  evaluateQuery({ predicate, aggregate }, schema, records, { minGroupSize });

describe("evaluateQuery (reference semantics)", () => {
  it("counts, sums, thresholds and checks membership", () => {
    expect(run([frHeavy], { kind: "count" })).toEqual({
      kind: "count",
      answer: 3n,
      count: 3,
      suppressed: false,
    });
    expect(
      run([frHeavy, { field: "edits", op: "gte", value: 100 }], { kind: "sum", field: "edits" }),
    ).toEqual({
      kind: "sum",
      answer: 65655n,
      count: 2,
      suppressed: false,
    });
    expect(run([frHeavy], { kind: "threshold", k: 3 }).answer).toBe(true);
    expect(run([frHeavy], { kind: "threshold", k: 4 }).answer).toBe(false);
    expect(run([], { kind: "threshold", k: 0 }).answer).toBe(true);
    expect(run([frHeavy], { kind: "membership", key: 2 })).toEqual({
      kind: "membership",
      answer: true,
      count: 1,
      suppressed: false,
    });
    expect(run([frHeavy], { kind: "membership", key: 3 }).answer).toBe(false); // exists but is DE
    expect(run([], { kind: "membership", key: 99 }).answer).toBe(false);
    expect(run([], { kind: "count" }).answer).toBe(6n);
  });

  it("implements every op on encoded values, including empty ranges", () => {
    const countOf = (clause: unknown) => run([clause], { kind: "count" }).count;
    expect(countOf({ field: "edits", op: "neq", value: 5 })).toBe(5);
    expect(countOf({ field: "edits", op: "lt", value: 0 })).toBe(0);
    expect(countOf({ field: "edits", op: "lt", value: 100 })).toBe(2);
    expect(countOf({ field: "edits", op: "lte", value: 100 })).toBe(3);
    expect(countOf({ field: "edits", op: "gt", value: 65535 })).toBe(0);
    expect(countOf({ field: "edits", op: "gte", value: 65535 })).toBe(1);
    expect(countOf({ field: "edits", op: "between", value: [100, 300] })).toBe(3);
    expect(countOf({ field: "country", op: "in", value: ["US", "DE"] })).toBe(3);
    expect(countOf({ field: "country", op: "gt", value: "FR" })).toBe(3); // enum order is index order
    expect(countOf({ field: "bot", op: "eq", value: true })).toBe(2);
  });

  it("suppresses small groups and small complements, revealing only the fact", () => {
    // 3 FR of 6: g = 3 passes both sides, g = 4 fails both.
    expect(run([frHeavy], { kind: "count" }, 3).suppressed).toBe(false);
    expect(run([frHeavy], { kind: "count" }, 4)).toEqual({
      kind: "count",
      answer: 0n,
      count: 3,
      suppressed: true,
    });
    // 5 of 6 non-bot-or-... : complement of 1 is too small.
    const big = run([{ field: "edits", op: "gt", value: 0 }], { kind: "sum", field: "edits" }, 2);
    expect(big).toEqual({ kind: "sum", answer: 0n, count: 5, suppressed: true });
    expect(run([], { kind: "count" }, 1).suppressed).toBe(true); // complement 0 < 1
    expect(run([frHeavy], { kind: "threshold", k: 1 }, 4).answer).toBe(false);
    expect(run([frHeavy], { kind: "count" }, 0).suppressed).toBe(false);
    expect(isSuppressed(0, 0, 0)).toBe(false);
    expect(isSuppressed(2, 4, 2)).toBe(false);
    expect(isSuppressed(3, 4, 2)).toBe(true);
  });

  it("membership is about one record: g = 0 answers it, g >= 2 always suppresses it, g = 1 is refused", () => {
    for (const key of [1, 99]) {
      expect(run([], { kind: "membership", key }, 0)).toMatchObject({ answer: key === 1, suppressed: false });
      for (const g of [MEMBERSHIP_SUPPRESSING_GROUP_SIZE, 3, 5, 6]) {
        expect(run([], { kind: "membership", key }, g), `key ${key} g ${g}`).toMatchObject({
          answer: false,
          suppressed: true,
        });
      }
      const refusal = (() => {
        try {
          run([], { kind: "membership", key }, 1);
        } catch (error) {
          return error;
        }
      })();
      expect(refusal).toBeInstanceOf(QueryError);
      expect(refusal).toMatchObject({ path: "minGroupSize" });
      expect((refusal as Error).message).toMatch(/revealing the answer; use 0 .* or at least 2/);
    }
    // Why g = 1 is refused: under the circuit's rule it suppresses exactly the absent key, so the proven
    // "suppressed" would be the answer "no".
    const shape: CircuitShape = { fields: 4, width: 32, clauses: 2, setSize: 2 };
    const lowered = (key: number) =>
      lowerQuery({ predicate: [], aggregate: { kind: "membership", key } }, schema, shape);
    expect(evaluateLowered(lowered(1), records, 6, 1)).toEqual({ suppressed: 0n, answer: 1n });
    expect(evaluateLowered(lowered(99), records, 6, 1)).toEqual({ suppressed: 1n, answer: 0n });
    // Other aggregates keep any g, including 1.
    expect(run([frHeavy], { kind: "threshold", k: 1 }, 1)).toMatchObject({ answer: true, suppressed: false });
  });

  it("refuses malformed records and options without echoing record values", () => {
    const query = { predicate: [], aggregate: { kind: "count" } };
    const bad = (rows: unknown, g?: number) => () =>
      evaluateQuery(query, schema, rows as bigint[][], g === undefined ? {} : { minGroupSize: g });
    expect(bad([[0n, 1n, 0n]])).toThrow(/records\[0\] must have 4 values/);
    expect(bad([[0n, 1n, 0n, 1]])).toThrow(TypeError);
    expect(bad([[3n, 1n, 0n, 1n]])).toThrow(/records\[0\]\[0\].*not an index/);
    expect(bad([[0n, 65536n, 0n, 1n]])).toThrow(/records\[0\]\[1\]/);
    expect(bad([[0n, 1n, 2n, 1n]])).toThrow(/records\[0\]\[2\]/);
    expect(
      bad([
        [0n, 1n, 0n, 77n],
        [0n, 2n, 0n, 77n],
      ]),
    ).toThrow(/records\[1\] repeats a key/);
    expect(bad([[0n, 123456n, 0n, 1n]])).not.toThrow(/123456/);
    expect(bad(records, -1)).toThrow(/minGroupSize/);
    expect(bad(records, 1.5)).toThrow(/minGroupSize/);
    expect(() => evaluateQuery({ predicate: [], aggregate: { kind: "avg" } }, schema, records)).toThrow(
      QueryError,
    );
  });
});

describe("evaluateLowered (circuit semantics)", () => {
  const shape: CircuitShape = { fields: 6, width: 32, clauses: 3, setSize: 3 };

  it("returns the circuit outputs and ignores padding slots", () => {
    const lowered = lowerQuery({ predicate: [frHeavy], aggregate: { kind: "count" } }, schema, shape);
    // Padding slots are all-zero and would match country = FR if counted.
    const slots = [
      ...records.map((row) => [...row, 0n, 0n]),
      [0n, 0n, 0n, 0n, 0n, 0n],
      [0n, 0n, 0n, 0n, 0n, 0n],
    ];
    expect(evaluateLowered(lowered, slots, 6, 0)).toEqual({ suppressed: 0n, answer: 3n });
    expect(evaluateLowered(lowered, slots, 6, 4)).toEqual({ suppressed: 1n, answer: 0n });
    const threshold = lowerQuery(
      { predicate: [frHeavy], aggregate: { kind: "threshold", k: 3 } },
      schema,
      shape,
    );
    expect(evaluateLowered(threshold, slots, 6, 0)).toEqual({ suppressed: 0n, answer: 1n });
    expect(() => evaluateLowered(lowered, slots, 9, 0)).toThrow(/recordCount/);
    expect(() => evaluateLowered(lowered, slots, 6, -1)).toThrow(/minGroupSize/);
  });
});

/** The circuit's answer for a readable result: booleans become 1n/0n. */
function asCircuitAnswer(result: QueryResult): bigint {
  return typeof result.answer === "boolean" ? (result.answer ? 1n : 0n) : result.answer;
}

function randomShape(rng: ReturnType<typeof createRng>, s: Schema): CircuitShape {
  const width = Math.min(maxFieldWidth(s) + rng.pick([0, 0, 1, 3]), 64);
  const setSize = Math.min(rng.int(2, 5), Math.floor(238 / width));
  return { fields: s.fields.length + rng.int(0, 2), width, clauses: rng.int(1, 5), setSize };
}

describe("property: evaluateQuery agrees with evaluateLowered", () => {
  it("on 800 seeded random schemas, datasets, queries and group sizes", () => {
    const seen = new Map<AggregateKind, { total: number; matched: number; suppressed: number }>();
    for (let seed = 1; seed <= 800; seed++) {
      const rng = createRng(seed);
      const s = randomSchema(rng, { maxFields: 5, maxWidth: rng.pick([1, 2, 3, 8, 16, 64]) });
      const keyBits = s.key === undefined ? 64 : Math.min(maxFieldWidth(s), 20);
      const data = randomRecords(rng, s, Math.min(rng.int(0, 24), 2 ** keyBits));
      const shape = randomShape(rng, s);
      const query = randomQuery(rng, s, {
        maxClauses: shape.clauses,
        maxSet: shape.setSize,
        kinds: AGGREGATE_KINDS,
        records: data,
        maxK: (1n << BigInt(shape.width)) - 1n,
      });
      const picked = rng.pick([0, 0, 0, 1, 2, 3, 5]);
      // g = 1 is refused for membership (its own test above); same draws, so the seeds keep their cases.
      const minGroupSize = query.aggregate.kind === "membership" && picked === 1 ? 2 : picked;
      const expected = evaluateQuery(query, s, data, { minGroupSize });
      const padding = Array.from({ length: rng.int(0, 3) }, () => new Array<bigint>(shape.fields).fill(0n));
      const slots = [
        ...data.map((row) => [...row, ...new Array<bigint>(shape.fields - row.length).fill(0n)]),
        ...padding,
      ];
      const actual = evaluateLowered(lowerQuery(query, s, shape), slots, data.length, minGroupSize);
      const context = `seed ${seed}: ${JSON.stringify(query, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
      expect(actual, context).toEqual({
        suppressed: expected.suppressed ? 1n : 0n,
        answer: asCircuitAnswer(expected),
      });
      const stats = seen.get(expected.kind) ?? { total: 0, matched: 0, suppressed: 0 };
      stats.total += 1;
      if (expected.count > 0) stats.matched += 1;
      if (expected.suppressed) stats.suppressed += 1;
      seen.set(expected.kind, stats);
    }
    // The generators must exercise every kind, with matches and suppressions actually happening.
    for (const kind of AGGREGATE_KINDS) {
      const stats = seen.get(kind);
      expect(stats?.total ?? 0, kind).toBeGreaterThan(80);
      expect(stats?.matched ?? 0, kind).toBeGreaterThan((stats?.total ?? 0) / 5);
      expect(stats?.suppressed ?? 0, kind).toBeGreaterThan(5);
    }
  });

  it("on edge values: 0, max, empty ranges (lt 0, gt max) and full ranges", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = createRng(10_000 + seed);
      const s = randomSchema(rng, { maxFields: 3, maxWidth: rng.pick([1, 2, 8, 64]), key: false });
      const data = randomRecords(rng, s, rng.int(0, 12));
      const shape = { ...randomShape(rng, s), clauses: 2 };
      const fieldIndex = rng.int(0, s.fields.length - 1);
      const spec = s.fields[fieldIndex];
      if (spec === undefined) throw new Error("unreachable");
      const max = fieldMax(spec);
      const edge = rng.pick([0n, max]);
      const value = spec.type === "uint" ? edge.toString() : decodeValue(spec, edge);
      const op = rng.pick(["eq", "neq", "lt", "lte", "gt", "gte"] as const);
      const query = { predicate: [{ field: spec.name, op, value }], aggregate: { kind: "count" } };
      const expected = evaluateQuery(query, s, data);
      const actual = evaluateLowered(lowerQuery(query, s, shape), data, data.length, 0);
      expect(actual.answer, `seed ${seed} ${spec.name} ${op} ${edge}`).toBe(BigInt(expected.count));
      const direct = data.filter((row) => {
        const v = row[fieldIndex] as bigint;
        return {
          eq: v === edge,
          neq: v !== edge,
          lt: v < edge,
          lte: v <= edge,
          gt: v > edge,
          gte: v >= edge,
        }[op];
      }).length;
      expect(expected.count).toBe(direct);
    }
  });
});
