import { describe, expect, it } from "vitest";
import { maxFieldWidth, parseSchema } from "../src/dataset/schema.ts";
import {
  assertMembershipGroupSize,
  type CircuitClause,
  type CircuitShape,
  decodeAggregateElement,
  decodeClauseElement,
  encodeAggregateElement,
  encodeClauseElement,
  encodeQueryPublic,
  lowerQuery,
  MEMBERSHIP_SUPPRESSING_GROUP_SIZE,
  QueryError,
} from "../src/query/index.ts";
import { createRng, randomQuery, randomRecords, randomSchema } from "./helpers/random.ts";

const schema = parseSchema({
  fields: [
    { name: "country", type: "enum", values: ["FR", "DE", "US"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "wiki", type: "enum", values: ["enwiki", "frwiki", "dewiki"] },
    { name: "bot", type: "bool" },
    { name: "userId", type: "uint", bits: 16 },
  ],
  key: "userId",
});
const shape: CircuitShape = { fields: 8, width: 16, clauses: 4, setSize: 3 };
const MAX16 = 65535n;
const count = { kind: "count" } as const;

const q = (predicate: unknown[], aggregate: unknown = count) => ({ predicate, aggregate });
const range = (fieldIndex: number, lo: bigint, hi: bigint, negate = false): CircuitClause => ({
  fieldIndex,
  isSet: false,
  negate,
  values: [lo, hi, 0n],
});
const UNUSED = range(0, 0n, MAX16);

describe("lowerQuery", () => {
  it("lowers each op per design.md section 3 (W = 16)", () => {
    const cases: [unknown, CircuitClause][] = [
      [{ field: "edits", op: "eq", value: 7 }, range(1, 7n, 7n)],
      [{ field: "edits", op: "neq", value: 7 }, range(1, 7n, 7n, true)],
      [{ field: "edits", op: "lt", value: 7 }, range(1, 0n, 6n)],
      [{ field: "edits", op: "lt", value: 0 }, range(1, 1n, 0n)],
      [{ field: "edits", op: "lte", value: 0 }, range(1, 0n, 0n)],
      [{ field: "edits", op: "gt", value: 7 }, range(1, 8n, MAX16)],
      [{ field: "edits", op: "gt", value: 65535 }, range(1, 1n, 0n)],
      [{ field: "edits", op: "gte", value: 65535 }, range(1, MAX16, MAX16)],
      [{ field: "edits", op: "between", value: [3, 9] }, range(1, 3n, 9n)],
      // A field narrower than W: max is still 2^W - 1, so gt the field's max is a non-empty range matching nothing.
      [{ field: "bot", op: "gt", value: true }, range(3, 2n, MAX16)],
      [{ field: "country", op: "lte", value: "DE" }, range(0, 0n, 1n)],
      [
        { field: "wiki", op: "in", value: ["dewiki", "enwiki"] },
        { fieldIndex: 2, isSet: true, negate: false, values: [0n, 2n, 0n] },
      ],
      [
        { field: "wiki", op: "in", value: ["frwiki"] },
        { fieldIndex: 2, isSet: true, negate: false, values: [1n, 1n, 1n] },
      ],
    ];
    for (const [clause, expected] of cases) {
      const lowered = lowerQuery(q([clause]), schema, shape);
      expect(lowered.clauses, JSON.stringify(clause)).toEqual([expected, UNUSED, UNUSED, UNUSED]);
      expect(lowered.aggregate).toEqual({ mode: 0, sumField: 0, k: 0n });
    }
  });

  it("lowers aggregates; membership adds an eq clause on the key and becomes threshold 1", () => {
    expect(lowerQuery(q([], { kind: "sum", field: "edits" }), schema, shape).aggregate).toEqual({
      mode: 1,
      sumField: 1,
      k: 0n,
    });
    expect(lowerQuery(q([], { kind: "threshold", k: 10 }), schema, shape).aggregate).toEqual({
      mode: 2,
      sumField: 0,
      k: 10n,
    });
    const membership = lowerQuery(
      q([{ field: "bot", op: "eq", value: false }], { kind: "membership", key: 12345 }),
      schema,
      shape,
    );
    expect(membership.aggregate).toEqual({ mode: 2, sumField: 0, k: 1n });
    expect(membership.clauses).toEqual([range(3, 0n, 0n), range(4, 12345n, 12345n), UNUSED, UNUSED]);
  });

  it("membership (a count of 0 or 1) is proven only with group size 0 or >= 2; other kinds take any", () => {
    expect(MEMBERSHIP_SUPPRESSING_GROUP_SIZE).toBe(2);
    for (const g of [0, 2, 5, 2 ** 32 - 1])
      expect(() => assertMembershipGroupSize("membership", g)).not.toThrow();
    expect(() => assertMembershipGroupSize("membership", 1)).toThrow(QueryError);
    expect(() => assertMembershipGroupSize("membership", 1)).toThrow(
      /^minGroupSize: membership under minimum group size 1/,
    );
    for (const kind of ["count", "sum", "threshold"] as const) {
      expect(() => assertMembershipGroupSize(kind, 1)).not.toThrow();
    }
  });

  it("uses canonical clause order, so equal queries lower equally", () => {
    const a = q([
      { field: "edits", op: "gte", value: 100 },
      { field: "country", op: "eq", value: "FR" },
      { field: "edits", op: "gte", value: "100" },
    ]);
    const b = q([
      { field: "country", op: "eq", value: "FR" },
      { field: "edits", op: "gte", value: 100 },
    ]);
    expect(lowerQuery(a, schema, shape)).toEqual(lowerQuery(b, schema, shape));
    expect(lowerQuery(a, schema, shape).clauses.slice(0, 2)).toEqual([
      range(0, 0n, 0n),
      range(1, 100n, MAX16),
    ]);
  });

  it("refuses queries that need more than C slots, counting membership's key clause", () => {
    const four = [0, 1, 2, 3].map((v) => ({ field: "edits", op: "neq", value: v }));
    expect(lowerQuery(q(four), schema, shape).clauses).toHaveLength(4);
    expect(() => lowerQuery(q([...four, { field: "edits", op: "neq", value: 4 }]), schema, shape)).toThrow(
      /5 clause slots.*C = 4/,
    );
    expect(() => lowerQuery(q(four, { kind: "membership", key: 1 }), schema, shape)).toThrow(
      expect.objectContaining({ name: "QueryError", code: "query_too_large", path: "predicate" }),
    );
    // An identical user clause shares the key clause's slot.
    const withKeyClause = [...four.slice(0, 3), { field: "userId", op: "eq", value: 1 }];
    expect(lowerQuery(q(withKeyClause, { kind: "membership", key: 1 }), schema, shape).clauses).toHaveLength(
      4,
    );
  });

  it("refuses sets larger than M, values or k above 2^W-1, too many or too wide fields", () => {
    expect(() => lowerQuery(q([{ field: "edits", op: "in", value: [1, 2, 3, 4] }]), schema, shape)).toThrow(
      /4 values.*M = 3/,
    );
    expect(() => lowerQuery(q([], { kind: "threshold", k: 65536 }), schema, shape)).toThrow(
      /k = 65536 exceeds/,
    );
    expect(() => lowerQuery(q([]), schema, { ...shape, fields: 4 })).toThrow(/5 fields.*F = 4/);
    expect(() => lowerQuery(q([]), schema, { ...shape, width: 8 })).toThrow(/"edits" needs 16 bits.*W = 8/);
    expect(() => lowerQuery(q([]), schema, { ...shape, width: 64, setSize: 4 })).toThrow(/10 \+ M\*W = 266/);
    expect(() => lowerQuery(q([]), schema, { ...shape, setSize: 1 })).toThrow(/M = 1 must be >= 2/);
    expect(() => lowerQuery(q([]), schema, { ...shape, fields: 257 })).toThrow(
      expect.objectContaining({ kind: "input", code: "invalid_shape" }),
    );
    expect(() => lowerQuery(q([]), schema, { ...shape, clauses: 0 })).toThrow(
      expect.objectContaining({ kind: "input", code: "invalid_shape" }),
    );
    expect(() => lowerQuery(q([]), schema, { ...shape, width: 1.5 })).toThrow(
      expect.objectContaining({ kind: "input", code: "invalid_shape" }),
    );
  });

  it("validates the readable query first", () => {
    expect(() => lowerQuery(q([{ field: "nope", op: "eq", value: 1 }]), schema, shape)).toThrow(QueryError);
  });
});

describe("public elements: known answers", () => {
  it("packs clause elements little-endian: fieldIndex | isSet<<8 | negate<<9 | values[m]<<(10+m*W)", () => {
    const elements = encodeQueryPublic(
      q([
        { field: "edits", op: "gte", value: 100 },
        { field: "country", op: "neq", value: "DE" },
        { field: "wiki", op: "in", value: ["dewiki", "enwiki"] },
      ]),
      schema,
      shape,
    );
    expect(elements.clauses).toEqual([
      67110400n, // country neq DE: 1<<9 | 1<<10 | 1<<26
      4397979504641n, // edits gte 100: 1 | 100<<10 | 65535<<26
      134217986n, // wiki in {enwiki, dewiki}: 2 | 1<<8 | 0<<10 | 2<<26 | 0<<42
      4397979402240n, // unused: 0 | 0<<10 | 65535<<26
    ]);
    expect(elements.aggregate).toBe(0n);
    expect(encodeQueryPublic(q([{ field: "edits", op: "lt", value: 0 }]), schema, shape).clauses[0]).toBe(
      1025n,
    );
    const membership = encodeQueryPublic(q([], { kind: "membership", key: 7 }), schema, shape);
    expect(membership.clauses[0]).toBe(469769220n); // 4 | 7<<10 | 7<<26
    expect(membership.aggregate).toBe(65538n); // 2 | 1<<16
  });

  it("packs aggregate elements: mode | sumField<<8 | k<<16", () => {
    expect(encodeQueryPublic(q([], { kind: "sum", field: "edits" }), schema, shape).aggregate).toBe(257n);
    expect(encodeQueryPublic(q([], { kind: "threshold", k: 10 }), schema, shape).aggregate).toBe(655362n);
    expect(encodeAggregateElement({ mode: 2, sumField: 0, k: 2n ** 32n - 1n }, 32)).toBe(
      2n + ((2n ** 32n - 1n) << 16n),
    );
  });

  it("places the last set value of an F=8, W=32, M=7 circuit at bit 202", () => {
    const clause: CircuitClause = {
      fieldIndex: 7,
      isSet: true,
      negate: true,
      values: [1n, 2n, 3n, 4n, 5n, 6n, 2n ** 32n - 1n],
    };
    const expected =
      7n +
      (1n << 8n) +
      (1n << 9n) +
      (1n << 10n) +
      (2n << 42n) +
      (3n << 74n) +
      (4n << 106n) +
      (5n << 138n) +
      (6n << 170n) +
      ((2n ** 32n - 1n) << 202n);
    expect(encodeClauseElement(clause, 32, 7)).toBe(expected);
    expect(expected < 2n ** 234n).toBe(true);
    expect(decodeClauseElement(expected, 32, 7)).toEqual(clause);
  });
});

describe("element encoders and decoders", () => {
  it("refuse malformed clauses and aggregates", () => {
    const ok: CircuitClause = { fieldIndex: 1, isSet: false, negate: false, values: [0n, 5n, 0n] };
    expect(() => encodeClauseElement({ ...ok, fieldIndex: 256 }, 16, 3)).toThrow(/fieldIndex/);
    expect(() => encodeClauseElement({ ...ok, fieldIndex: -1 }, 16, 3)).toThrow(RangeError);
    expect(() => encodeClauseElement({ ...ok, values: [0n, 5n] }, 16, 3)).toThrow(/exactly M = 3/);
    expect(() => encodeClauseElement({ ...ok, values: [0n, 65536n, 0n] }, 16, 3)).toThrow(/values\[1\]/);
    expect(() => encodeClauseElement({ ...ok, values: [-1n, 5n, 0n] }, 16, 3)).toThrow(RangeError);
    expect(() => encodeClauseElement({ ...ok, isSet: 1 as unknown as boolean }, 16, 3)).toThrow(TypeError);
    expect(() => encodeAggregateElement({ mode: 3 as 0, sumField: 0, k: 0n }, 16)).toThrow(/mode/);
    expect(() => encodeAggregateElement({ mode: 0, sumField: 1, k: 0n }, 16)).toThrow(/sumField must be 0/);
    expect(() => encodeAggregateElement({ mode: 1, sumField: 1, k: 5n }, 16)).toThrow(/k must be 0/);
    expect(() => encodeAggregateElement({ mode: 2, sumField: 0, k: 65536n }, 16)).toThrow(/aggregate\.k/);
  });

  it("decoders refuse non-canonical elements", () => {
    expect(() => decodeClauseElement(1n << 58n, 16, 3)).toThrow(/2\^58/);
    expect(() => decodeClauseElement(-1n, 16, 3)).toThrow(RangeError);
    expect(() => decodeClauseElement(5n << 42n, 16, 3)).toThrow(/values\[2\.\.M-1\] = 0/);
    expect(decodeClauseElement((5n << 42n) | (1n << 8n), 16, 3).values).toEqual([0n, 0n, 5n]);
    expect(() => decodeAggregateElement(3n, 16)).toThrow(/mode 3/);
    expect(() => decodeAggregateElement(255n, 16)).toThrow(RangeError);
    expect(() => decodeAggregateElement(1n << 8n, 16)).toThrow(/sumField/);
    expect(() => decodeAggregateElement(1n + (5n << 16n), 16)).toThrow(/k must be 0/);
    expect(() => decodeAggregateElement(1n << 64n, 16)).toThrow(/2\^64/); // 16 + 3W bits (design.md 8.3)
    expect(() => decodeAggregateElement(1n << 32n, 16)).toThrow(/clamp needs mode sum/);
    expect(() => decodeAggregateElement(1n | (1n << 8n) | (1n << 32n), 16)).toThrow(/clamp \[1, 0\]/);
    expect(decodeAggregateElement(1n | (1n << 8n) | (7n << 48n), 16).clamp).toEqual([0n, 7n]);
    expect(() => decodeAggregateElement(2n ** 300n, 232)).toThrow(RangeError);
    expect(() => decodeAggregateElement(0n, 233)).toThrow(/width W = 233/);
    expect(() => decodeClauseElement(0 as unknown as bigint, 16, 3)).toThrow(TypeError);
  });

  it("round-trip lowered random queries through their elements (every element < 2^248)", () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rng = createRng(seed);
      const s = randomSchema(rng, { maxFields: 6, maxWidth: rng.pick([1, 4, 16, 32, 64]) });
      const width = Math.min(maxFieldWidth(s) + rng.int(0, 3), 64);
      const setSize = Math.min(rng.int(2, 6), Math.floor(238 / width));
      const circuit: CircuitShape = {
        fields: s.fields.length + rng.int(0, 2),
        width,
        clauses: rng.int(1, 5),
        setSize,
      };
      const records = randomRecords(rng, s, rng.int(0, 2));
      const maxK = (1n << BigInt(width)) - 1n;
      const query = randomQuery(rng, s, { maxClauses: circuit.clauses, maxSet: setSize, records, maxK });
      const lowered = lowerQuery(query, s, circuit);
      const elements = encodeQueryPublic(query, s, circuit);
      expect(elements.clauses).toHaveLength(circuit.clauses);
      for (const [i, element] of elements.clauses.entries()) {
        expect(element < 2n ** 248n).toBe(true);
        expect(decodeClauseElement(element, width, setSize), `seed ${seed}`).toEqual(lowered.clauses[i]);
      }
      expect(decodeAggregateElement(elements.aggregate, width)).toEqual(lowered.aggregate);
    }
  });
});
