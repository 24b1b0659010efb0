/**
 * @module test/dataset-date
 *
 * `date` fields: ISO YYYY-MM-DD <-> day numbers since 1970-01-01 (16 bits), strict parsing (calendar days,
 * leap years, range), CSV and JSONL loading with file/line/column errors, the hint on a date in a uint
 * column, queries with date strings in eq/lt/gt/between/in (canonical form, description, reference evaluator),
 * and the SDK's statement in words.
 */
import { describe, expect, it } from "vitest";
import { formatDayNumber, MAX_DAY_NUMBER, parseIsoDate } from "../src/dataset/date.ts";
import { parseCsv, parseJsonl } from "../src/dataset/load.ts";
import { decodeValue, encodeValue, fieldWidth, parseSchema } from "../src/dataset/schema.ts";
import { canonicalQuery, describeQuery } from "../src/query/canonical.ts";
import { QueryError } from "../src/query/errors.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import { describeStatement } from "../src/verifier/describe.ts";
import { rejection } from "./helpers/dataset-errors.ts";

const schema = parseSchema({
  fields: [
    { name: "id", type: "uint", bits: 16 },
    { name: "registered", type: "date" },
  ],
  key: "id",
});
const spec = schema.fields[1] as (typeof schema.fields)[number];
const CSV = "id,registered\n1,2001-01-15\n2,2015-06-30\n3,2020-02-29\n4,2024-12-31\n";

describe("date values", () => {
  it("maps ISO dates to day numbers and back, over the whole 16-bit range", () => {
    expect(parseIsoDate("1970-01-01")).toBe(0);
    expect(parseIsoDate("2000-02-29")).toBe(11016);
    expect(parseIsoDate("2149-06-06")).toBe(MAX_DAY_NUMBER);
    expect(formatDayNumber(0)).toBe("1970-01-01");
    expect(formatDayNumber(MAX_DAY_NUMBER)).toBe("2149-06-06");
    for (const days of [1, 59, 365, 11016, 20000, 40000]) {
      expect(parseIsoDate(formatDayNumber(days))).toBe(days);
    }
    expect(fieldWidth(spec)).toBe(16);
    expect(encodeValue(spec, "2015-06-30")).toBe(16616n);
    expect(decodeValue(spec, 16616n)).toBe("2015-06-30");
  });

  it("refuses what is not exactly one calendar day in range, saying why", () => {
    expect(parseIsoDate("2023-02-29")).toBe("2023-02 has no day 29");
    expect(parseIsoDate("1900-02-29")).toBe("1900-02 has no day 29");
    expect(parseIsoDate("2023-13-01")).toBe("month 13 is not 01..12");
    expect(parseIsoDate("2023-1-01")).toBe("expected an ISO date YYYY-MM-DD");
    expect(parseIsoDate("2023-01-01T00:00")).toBe("expected an ISO date YYYY-MM-DD");
    expect(parseIsoDate("1969-12-31")).toBe("dates run from 1970-01-01 to 2149-06-06");
    expect(parseIsoDate("2149-06-07")).toBe("dates run from 1970-01-01 to 2149-06-06");
    expect(() => encodeValue(spec, 16616)).toThrow(TypeError);
    expect(() => formatDayNumber(MAX_DAY_NUMBER + 1)).toThrow(RangeError);
  });
});

describe("loading date fields", () => {
  it("loads CSV and JSONL dates as day numbers", () => {
    const csv = parseCsv(CSV, schema, "editors.csv");
    expect(csv.records.map((r) => r[1])).toEqual([11337n, 16616n, 18321n, 20088n]);
    const jsonl = parseJsonl('{"id":1,"registered":"2001-01-15"}\n', schema, "editors.jsonl");
    expect(jsonl.records).toEqual([[1n, 11337n]]);
  });

  it("names file, line and column of an invalid date", () => {
    const error = rejection(() => parseCsv("id,registered\n1,2001-01-15\n2,2023-02-30\n", schema, "e.csv"));
    expect(error).toMatchObject({ file: "e.csv", line: 3, column: "registered" });
    expect(error.message).toBe(
      'e.csv:3: column "registered": invalid date "2023-02-30": 2023-02 has no day 30 (1970-01-01 .. 2149-06-06)',
    );
    const json = rejection(() => parseJsonl('{"id":1,"registered":20000}\n', schema, "e.jsonl"));
    expect(json.message).toContain("expected an ISO date string YYYY-MM-DD, got number 20000");
  });

  it("hints at the date type when a uint column holds a date", () => {
    const uintSchema = parseSchema({ fields: [{ name: "registered", type: "uint", bits: 16 }] });
    const error = rejection(() => parseCsv("registered\n2023-12-25\n", uintSchema, "e.csv"));
    expect(error.message).toContain('malformed number "2023-12-25"');
    expect(error.message).toContain('declare the field as {"type": "date"}');
  });
});

describe("queries over dates", () => {
  const records = parseCsv(CSV, schema, "editors.csv").records;
  const count = (predicate: unknown[]) =>
    evaluateQuery({ predicate, aggregate: { kind: "count" } }, schema, records).answer;

  it("compares with date strings in eq, lt, gt, between and in", () => {
    expect(count([{ field: "registered", op: "lt", value: "2015-06-30" }])).toBe(1n);
    expect(count([{ field: "registered", op: "gte", value: "2015-06-30" }])).toBe(3n);
    expect(count([{ field: "registered", op: "gt", value: "2020-02-29" }])).toBe(1n);
    expect(count([{ field: "registered", op: "eq", value: "2020-02-29" }])).toBe(1n);
    expect(count([{ field: "registered", op: "between", value: ["2010-01-01", "2020-12-31"] }])).toBe(2n);
    expect(count([{ field: "registered", op: "in", value: ["2024-12-31", "2001-01-15"] }])).toBe(2n);
  });

  it("keeps dates readable in the canonical form, the description and the SDK's statement", () => {
    const query = {
      predicate: [{ field: "registered", op: "in", value: ["2024-12-31", "2001-01-15"] }],
      aggregate: { kind: "count" },
    };
    const canonical = canonicalQuery(query, schema);
    expect(canonical.predicate).toEqual([
      { field: "registered", op: "in", value: ["2001-01-15", "2024-12-31"] },
    ]);
    expect(describeQuery(query, schema)).toBe(
      "count of records where registered in {2001-01-15, 2024-12-31}",
    );
    const statement = describeStatement({
      manifest: { datasetId: "editors", epoch: 1 },
      schema,
      query: canonicalQuery(
        {
          predicate: [{ field: "registered", op: "gte", value: "2015-06-30" }],
          aggregate: { kind: "count" },
        },
        schema,
      ),
      answer: { kind: "count", suppressed: false, value: "3" },
      minGroupSize: 0,
    });
    expect(statement).toBe("dataset editors epoch 1: 3 records match registered ≥ 2015-06-30");
  });

  it("refuses an invalid date in a query at its path", () => {
    const query = {
      predicate: [{ field: "registered", op: "lt", value: "2023-02-30" }],
      aggregate: { kind: "count" },
    };
    expect(() => canonicalQuery(query, schema)).toThrow(QueryError);
    expect(() => canonicalQuery(query, schema)).toThrow(/predicate\[0\]\.value.*invalid date "2023-02-30"/);
  });
});
