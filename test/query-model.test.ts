import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseSchema } from "../src/dataset/schema.ts";
import {
  canonicalQuery,
  describeQuery,
  parseQuery,
  QueryError,
  queryHash,
  readableInteger,
  resolveQuery,
} from "../src/query/index.ts";
import { createRng, randomQuery, randomRecords, randomSchema } from "./helpers/random.ts";

const schema = parseSchema({
  fields: [
    { name: "country", type: "enum", values: ["FR", "DE", "US"] },
    { name: "edits", type: "uint", bits: 16 },
    { name: "wiki", type: "enum", values: ["enwiki", "frwiki", "dewiki"] },
    { name: "bot", type: "bool" },
    { name: "userId", type: "uint", bits: 64 },
  ],
  key: "userId",
});
const keyless = parseSchema({ fields: [{ name: "edits", type: "uint", bits: 16 }] });

const count = { kind: "count" } as const;

/** Runs parseQuery and returns the QueryError it throws (fails the test if it does not throw). */
function queryError(
  json: unknown,
  s = schema,
  limits?: { maxClauses: number; maxSetSize: number },
): QueryError {
  try {
    parseQuery(json, s, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(QueryError);
    return error as QueryError;
  }
  throw new Error("expected a QueryError");
}

describe("parseQuery structure", () => {
  it("accepts the design.md example and returns it unchanged", () => {
    const query = {
      predicate: [
        { field: "country", op: "eq", value: "FR" },
        { field: "edits", op: "between", value: [100, 500] },
        { field: "wiki", op: "in", value: ["enwiki", "frwiki"] },
      ],
      aggregate: { kind: "sum", field: "edits" },
    };
    expect(parseQuery(query, schema)).toEqual(query);
    expect(parseQuery({ predicate: [], aggregate: count }, schema)).toEqual({
      predicate: [],
      aggregate: count,
    });
  });

  it("accepts every op and aggregate kind", () => {
    for (const op of ["eq", "neq", "lt", "lte", "gt", "gte"]) {
      expect(() =>
        parseQuery({ predicate: [{ field: "edits", op, value: 5 }], aggregate: count }, schema),
      ).not.toThrow();
    }
    for (const aggregate of [
      { kind: "threshold", k: 0 },
      { kind: "threshold", k: "18446744073709551615" },
      { kind: "membership", key: 12345 },
      { kind: "membership", key: "18446744073709551615" },
    ]) {
      expect(() => parseQuery({ predicate: [], aggregate }, schema)).not.toThrow();
    }
  });

  it("rejects extra keys everywhere (strict objects)", () => {
    expect(queryError({ predicate: [], aggregate: count, extra: 1 }).path).toBe("");
    const clause = queryError({
      predicate: [{ field: "edits", op: "eq", value: 1, x: 0 }],
      aggregate: count,
    });
    expect(clause.path).toBe("predicate[0]");
    expect(clause.reason).toMatch(/x/);
    expect(queryError({ predicate: [], aggregate: { kind: "count", field: "edits" } }).path).toBe(
      "aggregate",
    );
  });

  it("names the path of structural problems", () => {
    const cases: [unknown, string][] = [
      [null, ""],
      [{ aggregate: count }, "predicate"],
      [{ predicate: [] }, "aggregate"],
      [{ predicate: [{ field: "edits", op: "like", value: 1 }], aggregate: count }, "predicate[0].op"],
      [
        { predicate: [{ field: "edits", op: "between", value: [1] }], aggregate: count },
        "predicate[0].value",
      ],
      [{ predicate: [{ field: "edits", op: "between", value: 1 }], aggregate: count }, "predicate[0].value"],
      [{ predicate: [{ field: "edits", op: "in", value: [] }], aggregate: count }, "predicate[0].value"],
      [{ predicate: [{ field: "edits", op: "eq", value: null }], aggregate: count }, "predicate[0].value"],
      [{ predicate: [{ field: "edits", op: "eq", value: [1] }], aggregate: count }, "predicate[0].value"],
      [{ predicate: [{ field: "", op: "eq", value: 1 }], aggregate: count }, "predicate[0].field"],
      [{ predicate: [], aggregate: { kind: "median" } }, "aggregate.kind"],
      [{ predicate: [], aggregate: { kind: "threshold", k: -1 } }, "aggregate.k"],
      [{ predicate: [], aggregate: { kind: "threshold", k: 1.5 } }, "aggregate.k"],
      [{ predicate: [], aggregate: { kind: "threshold", k: 2 ** 60 } }, "aggregate.k"],
      [{ predicate: [], aggregate: { kind: "threshold", k: "010" } }, "aggregate.k"],
      [{ predicate: [], aggregate: { kind: "threshold" } }, "aggregate.k"],
      [{ predicate: [], aggregate: { kind: "membership", key: "abc" } }, "aggregate.key"],
    ];
    for (const [json, path] of cases) expect(queryError(json).path, JSON.stringify(json)).toBe(path);
  });

  it("enforces the clause and set limits P and M", () => {
    const limits = { maxClauses: 2, maxSetSize: 3 };
    const clause = { field: "edits", op: "eq", value: 1 };
    const tooMany = queryError({ predicate: [clause, clause, clause], aggregate: count }, schema, limits);
    expect(tooMany.path).toBe("predicate");
    expect(tooMany.reason).toMatch(/at most 2 clauses/);
    const bigSet = queryError(
      { predicate: [{ field: "edits", op: "in", value: [1, 2, 3, 4] }], aggregate: count },
      schema,
      limits,
    );
    expect(bigSet.path).toBe("predicate[0].value");
    expect(bigSet.reason).toMatch(/at most 3 values/);
    expect(() =>
      parseQuery({ predicate: [], aggregate: count }, schema, { maxClauses: 0, maxSetSize: 1 }),
    ).toThrow(RangeError);
  });
});

describe("parseQuery against the schema", () => {
  it("lists the known fields for an unknown field", () => {
    const error = queryError({ predicate: [{ field: "edit", op: "eq", value: 1 }], aggregate: count });
    expect(error.path).toBe("predicate[0].field");
    expect(error.message).toBe(
      'predicate[0].field: unknown field "edit"; known fields: country, edits, wiki, bot, userId',
    );
    expect(queryError({ predicate: [], aggregate: { kind: "sum", field: "nope" } }).path).toBe(
      "aggregate.field",
    );
  });

  it("reports unencodable values at their exact path", () => {
    const cases: [unknown, string, RegExp][] = [
      [{ field: "country", op: "eq", value: "XX" }, "predicate[0].value", /unknown value "XX"/],
      [{ field: "country", op: "eq", value: 0 }, "predicate[0].value", /expected a string/],
      [{ field: "edits", op: "eq", value: 65536 }, "predicate[0].value", /exceeds uint16/],
      [{ field: "edits", op: "eq", value: -1 }, "predicate[0].value", /negative/],
      [{ field: "edits", op: "eq", value: 1.5 }, "predicate[0].value", /not an integer/],
      [{ field: "edits", op: "eq", value: "007" }, "predicate[0].value", /malformed/],
      [{ field: "edits", op: "eq", value: true }, "predicate[0].value", /non-negative integer/],
      [{ field: "userId", op: "eq", value: 2 ** 60 }, "predicate[0].value", /decimal string/],
      [{ field: "userId", op: "eq", value: "18446744073709551616" }, "predicate[0].value", /exceeds uint64/],
      [{ field: "bot", op: "eq", value: 2 }, "predicate[0].value", /boolean/],
      [{ field: "edits", op: "between", value: [1, "x"] }, "predicate[0].value[1]", /malformed/],
      [{ field: "wiki", op: "in", value: ["enwiki", "zzwiki"] }, "predicate[0].value[1]", /unknown value/],
    ];
    for (const [clause, path, reason] of cases) {
      const error = queryError({ predicate: [clause], aggregate: count });
      expect(error.path, JSON.stringify(clause)).toBe(path);
      expect(error.reason, JSON.stringify(clause)).toMatch(reason);
    }
  });

  it("accepts 64-bit values as decimal strings or bigints", () => {
    const resolved = resolveQuery(
      {
        predicate: [{ field: "userId", op: "in", value: ["18446744073709551615", 2n ** 60n, 7] }],
        aggregate: count,
      },
      schema,
    );
    expect(resolved.predicate[0]?.values).toEqual([2n ** 64n - 1n, 2n ** 60n, 7n]);
  });

  it("requires lo <= hi for between (by encoding), allowing lo = hi", () => {
    const error = queryError({
      predicate: [{ field: "edits", op: "between", value: [500, 100] }],
      aggregate: count,
    });
    expect(error.path).toBe("predicate[0].value");
    expect(error.reason).toMatch(/lo <= hi/);
    expect(
      queryError({ predicate: [{ field: "country", op: "between", value: ["US", "FR"] }], aggregate: count })
        .path,
    ).toBe("predicate[0].value");
    expect(() =>
      parseQuery(
        { predicate: [{ field: "edits", op: "between", value: [7, "7"] }], aggregate: count },
        schema,
      ),
    ).not.toThrow();
  });

  it("requires distinct in values, also across spellings", () => {
    const error = queryError({
      predicate: [{ field: "edits", op: "in", value: [5, 6, "5"] }],
      aggregate: count,
    });
    expect(error.path).toBe("predicate[0].value[2]");
    expect(error.reason).toMatch(/duplicate of predicate\[0\]\.value\[0\]/);
    expect(
      queryError({ predicate: [{ field: "bot", op: "in", value: [true, "1"] }], aggregate: count }).path,
    ).toBe("predicate[0].value[1]");
  });

  it("allows sum only over uint fields", () => {
    for (const field of ["country", "bot"]) {
      const error = queryError({ predicate: [], aggregate: { kind: "sum", field } });
      expect(error.path).toBe("aggregate.field");
      expect(error.reason).toMatch(/sum needs a uint field/);
    }
  });

  it("requires a key for membership and a key value that fits it", () => {
    const noKey = queryError({ predicate: [], aggregate: { kind: "membership", key: 1 } }, keyless);
    expect(noKey.path).toBe("aggregate.key");
    expect(noKey.reason).toMatch(/no(ne)? key|has none/);
    const tooBig = queryError({
      predicate: [],
      aggregate: { kind: "membership", key: (2n ** 64n).toString() },
    });
    expect(tooBig.path).toBe("aggregate.key");
  });

  it("resolves fields and encodes values", () => {
    const resolved = resolveQuery(
      {
        predicate: [
          { field: "wiki", op: "in", value: ["dewiki", "enwiki"] },
          { field: "bot", op: "neq", value: "true" },
        ],
        aggregate: { kind: "membership", key: "12345" },
      },
      schema,
    );
    expect(resolved.predicate.map((c) => [c.fieldIndex, c.op, c.values])).toEqual([
      [2, "in", [2n, 0n]],
      [3, "neq", [1n]],
    ]);
    expect(resolved.aggregate).toEqual({ kind: "membership", key: 12345n, keyIndex: 4 });
  });

  it("accepts every generated random query", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rng = createRng(seed);
      const s = randomSchema(rng, { maxFields: 5, maxWidth: rng.pick([1, 3, 16, 64]) });
      const records = randomRecords(rng, s, rng.int(0, 2));
      const query = randomQuery(rng, s, { maxClauses: 4, maxSet: 4, records });
      expect(() => parseQuery(query, s), `seed ${seed}`).not.toThrow();
    }
  });
});

describe("canonicalQuery and queryHash", () => {
  const messy = {
    predicate: [
      { field: "wiki", op: "in", value: ["frwiki", "enwiki"] },
      { field: "edits", op: "lte", value: "500" },
      { field: "edits", op: "gte", value: 100 },
      { field: "country", op: "eq", value: "FR" },
      { field: "edits", op: "gte", value: "100" },
      { field: "bot", op: "eq", value: "0" },
      { field: "userId", op: "neq", value: 2n ** 60n },
    ],
    aggregate: { kind: "threshold", k: "10" },
  };

  it("sorts by field index, op, values; dedupes; normalises spellings", () => {
    expect(canonicalQuery(messy, schema)).toEqual({
      predicate: [
        { field: "country", op: "eq", value: "FR" },
        { field: "edits", op: "lte", value: 500 },
        { field: "edits", op: "gte", value: 100 },
        { field: "wiki", op: "in", value: ["enwiki", "frwiki"] },
        { field: "bot", op: "eq", value: false },
        { field: "userId", op: "neq", value: "1152921504606846976" },
      ],
      aggregate: { kind: "threshold", k: 10 },
    });
  });

  it("orders same-op clauses by encoded values and keeps the canonical form a fixed point", () => {
    const query = {
      predicate: [
        { field: "country", op: "eq", value: "US" },
        { field: "country", op: "eq", value: "DE" },
        { field: "edits", op: "between", value: [3, 9] },
        { field: "edits", op: "between", value: [3, 4] },
      ],
      aggregate: { kind: "membership", key: 12 },
    };
    const canonical = canonicalQuery(query, schema);
    expect(canonical.predicate.map((c) => c.value)).toEqual(["DE", "US", [3, 4], [3, 9]]);
    expect(canonicalQuery(canonical, schema)).toEqual(canonical);
  });

  it("hashes the canonical JSON with SHA-256 (known answer)", () => {
    const query = {
      predicate: [
        { field: "edits", op: "gte", value: "100" },
        { field: "country", op: "eq", value: "FR" },
      ],
      aggregate: count,
    };
    const json =
      '{"aggregate":{"kind":"count"},"predicate":[{"field":"country","op":"eq","value":"FR"},' +
      '{"field":"edits","op":"gte","value":100}]}';
    expect(queryHash(query, schema)).toBe(createHash("sha256").update(json).digest("hex"));
    expect(queryHash(query, schema)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is invariant under clause order, in order and value spelling; sensitive to meaning", () => {
    const rng = createRng(7);
    const base = queryHash(messy, schema);
    for (let i = 0; i < 20; i++) {
      const shuffled = {
        ...messy,
        predicate: rng
          .shuffle(messy.predicate)
          .map((c) => (c.op === "in" && Array.isArray(c.value) ? { ...c, value: rng.shuffle(c.value) } : c)),
      };
      expect(queryHash(shuffled, schema)).toBe(base);
    }
    expect(queryHash({ ...messy, aggregate: { kind: "threshold", k: 11 } }, schema)).not.toBe(base);
    expect(queryHash({ ...messy, predicate: messy.predicate.slice(1) }, schema)).not.toBe(base);
  });

  it("validates like parseQuery", () => {
    expect(() =>
      queryHash({ predicate: [{ field: "x", op: "eq", value: 1 }], aggregate: count }, schema),
    ).toThrow(QueryError);
  });
});

describe("describeQuery", () => {
  it("writes readable English for each aggregate", () => {
    const p = (predicate: unknown[], aggregate: unknown) => describeQuery({ predicate, aggregate }, schema);
    expect(
      p(
        [
          { field: "edits", op: "gte", value: 100 },
          { field: "country", op: "eq", value: "FR" },
        ],
        count,
      ),
    ).toBe("count of records where country = FR AND edits ≥ 100");
    expect(
      p([{ field: "wiki", op: "in", value: ["frwiki", "enwiki"] }], { kind: "sum", field: "edits" }),
    ).toBe("sum of edits where wiki in {enwiki, frwiki}");
    expect(p([{ field: "edits", op: "between", value: [1, 9] }], { kind: "threshold", k: 10 })).toBe(
      "whether at least 10 records match edits between 1 and 9",
    );
    expect(p([{ field: "bot", op: "neq", value: true }], { kind: "threshold", k: 1 })).toBe(
      "whether at least 1 record matches bot ≠ true",
    );
    expect(p([], { kind: "membership", key: 12345 })).toBe("whether userId 12345 exists");
    expect(p([{ field: "edits", op: "lt", value: 3 }], { kind: "membership", key: 12345 })).toBe(
      "whether userId 12345 exists and matches edits < 3",
    );
    expect(p([], count)).toBe("count of all records");
    expect(p([], { kind: "sum", field: "edits" })).toBe("sum of edits over all records");
    expect(
      p(
        [
          { field: "edits", op: "lte", value: 2 },
          { field: "edits", op: "gt", value: 0 },
        ],
        count,
      ),
    ).toBe("count of records where edits ≤ 2 AND edits > 0");
  });

  it("quotes enum values that could read as syntax", () => {
    const tricky = parseSchema({ fields: [{ name: "tag", type: "enum", values: ["a b", "x AND y", "ok"] }] });
    expect(
      describeQuery(
        { predicate: [{ field: "tag", op: "in", value: ["x AND y", "ok"] }], aggregate: count },
        tricky,
      ),
    ).toBe('count of records where tag in {"x AND y", ok}');
  });

  it("writes large integers exactly", () => {
    expect(readableInteger(2n ** 53n - 1n)).toBe(2 ** 53 - 1);
    expect(readableInteger(2n ** 53n)).toBe("9007199254740992");
    expect(
      describeQuery({ predicate: [], aggregate: { kind: "membership", key: 2n ** 64n - 1n } }, schema),
    ).toBe("whether userId 18446744073709551615 exists");
  });
});
