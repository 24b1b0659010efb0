/**
 * @module test/dataset-schema
 *
 * Schema validation (every rejection names its path), field widths and indices, value encoding/decoding
 * edge cases, schemaHash and canonical JSON known-answer vectors.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SchemaError } from "../src/dataset/errors.ts";
import {
  decodeValue,
  encodeValue,
  type FieldSpec,
  fieldIndex,
  fieldWidth,
  keyFieldIndex,
  maxFieldWidth,
  parseSchema,
  schemaHash,
} from "../src/dataset/schema.ts";
import { canonicalJson } from "../src/util/canonical-json.ts";

const wikimediaJson = JSON.parse(
  readFileSync(new URL("../examples/wikimedia/schema.json", import.meta.url), "utf8"),
);

const uint32: FieldSpec = { name: "edits", type: "uint", bits: 32 };
const uint64: FieldSpec = { name: "big", type: "uint", bits: 64 };
const activity: FieldSpec = { name: "activity", type: "enum", values: ["1-4", "5-24", "25-99", "100+"] };
const bot: FieldSpec = { name: "bot", type: "bool" };

function schemaErrorOf(json: unknown): SchemaError {
  try {
    parseSchema(json);
  } catch (error) {
    expect(error).toBeInstanceOf(SchemaError);
    return error as SchemaError;
  }
  throw new Error("expected parseSchema to throw");
}

describe("parseSchema", () => {
  it("accepts the Wikimedia sample schema and freezes it", () => {
    const schema = parseSchema(wikimediaJson);
    expect(schema.fields.map((field) => field.name)).toEqual([
      "userId",
      "wiki",
      "country",
      "activity",
      "edits",
      "registered",
      "bot",
    ]);
    expect(schema.key).toBe("userId");
    expect(Object.isFrozen(schema)).toBe(true);
    expect(Object.isFrozen(schema.fields[1])).toBe(true);
  });

  it("omits an absent key", () => {
    const schema = parseSchema({ fields: [bot] });
    expect("key" in schema).toBe(false);
    expect(keyFieldIndex(schema)).toBeUndefined();
  });

  it.each([
    ["not an object", 42, "$"],
    ["no fields", { fields: [] }, "fields"],
    ["unknown top-level field", { fields: [bot], extra: 1 }, "$"],
    ["bad field name", { fields: [{ name: "1st", type: "bool" }] }, "fields[0].name"],
    ["field name with dash", { fields: [{ name: "a-b", type: "bool" }] }, "fields[0].name"],
    ["unknown type", { fields: [{ name: "a", type: "float" }] }, "fields[0].type"],
    ["bits 0", { fields: [{ name: "a", type: "uint", bits: 0 }] }, "fields[0].bits"],
    ["bits 65", { fields: [{ name: "a", type: "uint", bits: 65 }] }, "fields[0].bits"],
    ["bits 1.5", { fields: [{ name: "a", type: "uint", bits: 1.5 }] }, "fields[0].bits"],
    ["bits on bool", { fields: [{ name: "a", type: "bool", bits: 1 }] }, "fields[0]"],
    ["empty enum", { fields: [{ name: "a", type: "enum", values: [] }] }, "fields[0].values"],
    [
      "empty enum string",
      { fields: [{ name: "a", type: "enum", values: ["x", ""] }] },
      "fields[0].values[1]",
    ],
    [
      "duplicate enum value",
      { fields: [{ name: "a", type: "enum", values: ["x", "y", "x"] }] },
      "fields[0].values[2]",
    ],
    ["duplicate field", { fields: [bot, { name: "bot", type: "uint", bits: 3 }] }, "fields[1].name"],
    ["key not a field", { fields: [uint32], key: "userId" }, "key"],
    ["key not uint", { fields: [uint32, bot], key: "bot" }, "key"],
    ["key null", { fields: [uint32], key: null }, "key"],
    ["string key not the key", { fields: [{ name: "u", type: "string-key", bits: 8 }] }, "fields[0].type"],
    [
      "string key bits 54",
      { fields: [{ name: "u", type: "string-key", bits: 54 }], key: "u" },
      "fields[0].bits",
    ],
    ["string key without bits", { fields: [{ name: "u", type: "string-key" }], key: "u" }, "fields[0].bits"],
  ])("rejects %s at %s", (_label, json, path) => {
    const error = schemaErrorOf(json);
    expect(error.path).toBe(path);
    // In words: a field's problem names the field, and the path in brackets (schema field "a" (fields[0].bits): ...).
    expect(error.message.startsWith(`schema ${path}:`) || error.message.includes(` (${path}): `)).toBe(true);
    expect(error.message).not.toMatch(/Invalid (input|discriminator)|Unrecognized key|Too (big|small)/);
  });

  it("accepts 2^16 enum values and rejects 2^16 + 1", () => {
    const values = Array.from({ length: 2 ** 16 }, (_, i) => `v${i}`);
    const schema = parseSchema({ fields: [{ name: "e", type: "enum", values }] });
    expect(fieldWidth(schema.fields[0] as FieldSpec)).toBe(16);
    expect(schemaErrorOf({ fields: [{ name: "e", type: "enum", values: [...values, "extra"] }] }).path).toBe(
      "fields[0].values",
    );
  });

  it("names the duplicate in the message", () => {
    expect(schemaErrorOf({ fields: [bot, bot] }).message).toContain('duplicate field "bot"');
  });
});

describe("field widths and indices", () => {
  it.each([
    [{ name: "a", type: "uint", bits: 1 }, 1],
    [{ name: "a", type: "uint", bits: 64 }, 64],
    [{ name: "a", type: "bool" }, 1],
    [{ name: "a", type: "enum", values: ["x"] }, 1],
    [{ name: "a", type: "enum", values: ["x", "y"] }, 1],
    [{ name: "a", type: "enum", values: ["x", "y", "z"] }, 2],
    [{ name: "a", type: "enum", values: ["1", "2", "3", "4"] }, 2],
    [{ name: "a", type: "enum", values: ["1", "2", "3", "4", "5"] }, 3],
  ] as [FieldSpec, number][])("fieldWidth(%j) = %i", (spec, width) => {
    expect(fieldWidth(spec)).toBe(width);
  });

  it("finds indices and lists known fields for an unknown one", () => {
    const schema = parseSchema(wikimediaJson);
    expect(fieldIndex(schema, "userId")).toBe(0);
    expect(fieldIndex(schema, "bot")).toBe(6);
    expect(keyFieldIndex(schema)).toBe(0);
    expect(maxFieldWidth(schema)).toBe(32);
    expect(() => fieldIndex(schema, "Edits")).toThrow(
      'unknown field "Edits" (known fields: userId, wiki, country, activity, edits, registered, bot)',
    );
  });
});

describe("encodeValue", () => {
  it("encodes uint from numbers, bigints and canonical decimal strings", () => {
    expect(encodeValue(uint32, 0)).toBe(0n);
    expect(encodeValue(uint32, 4294967295)).toBe(4294967295n);
    expect(encodeValue(uint32, 17n)).toBe(17n);
    expect(encodeValue(uint32, "4294967295")).toBe(4294967295n);
    expect(encodeValue(uint64, "18446744073709551615")).toBe(2n ** 64n - 1n);
  });

  it.each([
    [4294967296, RangeError, "value 4294967296 exceeds uint32 (max 4294967295)"],
    ["4294967296", RangeError, "value 4294967296 exceeds uint32 (max 4294967295)"],
    [-1, RangeError, "value -1 is negative"],
    [-1n, RangeError, "value -1 is negative"],
    [1.5, RangeError, "value 1.5 is not an integer"],
    [Number.NaN, RangeError, "value NaN is not an integer"],
    [Number.POSITIVE_INFINITY, RangeError, "value Infinity is not an integer"],
    ["007", RangeError, 'malformed number "007"'],
    ["-1", RangeError, 'malformed number "-1"'],
    ["+1", RangeError, 'malformed number "+1"'],
    [" 1", RangeError, 'malformed number " 1"'],
    ["1 ", RangeError, 'malformed number "1 "'],
    ["0x10", RangeError, 'malformed number "0x10"'],
    ["1e3", RangeError, 'malformed number "1e3"'],
    ["", RangeError, 'malformed number ""'],
    [true, TypeError, "expected a non-negative integer, got boolean"],
    [null, TypeError, "expected a non-negative integer, got null"],
    [[1], TypeError, "expected a non-negative integer, got an array"],
  ])("rejects uint32 %s", (raw, kind, reason) => {
    expect(() => encodeValue(uint32, raw)).toThrow(kind);
    expect(() => encodeValue(uint32, raw)).toThrow(`field "edits": ${reason}`);
  });

  it("refuses unsafe numbers and absurdly long digit strings", () => {
    expect(() => encodeValue(uint64, 2 ** 60)).toThrow("write it as a decimal string");
    expect(() => encodeValue(uint64, "1".repeat(1000))).toThrow(/is too large$/);
    expect(() => encodeValue(uint64, "18446744073709551616")).toThrow("exceeds uint64");
  });

  it("uses the caller's location prefix", () => {
    expect(() => encodeValue(uint32, -1, 'clause 2 "edits"')).toThrow(
      'clause 2 "edits": value -1 is negative',
    );
  });

  it("encodes enums by index and rejects other values", () => {
    expect(encodeValue(activity, "1-4")).toBe(0n);
    expect(encodeValue(activity, "100+")).toBe(3n);
    expect(() => encodeValue(activity, "100")).toThrow(
      new RangeError('field "activity": unknown value "100" (expected one of: 1-4, 5-24, 25-99, 100+)'),
    );
    expect(() => encodeValue(activity, 3)).toThrow(TypeError);
  });

  it("encodes bools from booleans and CSV spellings only", () => {
    for (const raw of [true, "true", "1"]) expect(encodeValue(bot, raw)).toBe(1n);
    for (const raw of [false, "false", "0"]) expect(encodeValue(bot, raw)).toBe(0n);
    expect(() => encodeValue(bot, "yes")).toThrow(RangeError);
    expect(() => encodeValue(bot, "TRUE")).toThrow(RangeError);
    expect(() => encodeValue(bot, 1)).toThrow(TypeError);
  });
});

describe("decodeValue", () => {
  it("inverts encodeValue", () => {
    expect(decodeValue(uint32, 42n)).toBe(42);
    expect(decodeValue(uint64, 2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    expect(decodeValue(activity, 2n)).toBe("25-99");
    expect(decodeValue(bot, 1n)).toBe(true);
    expect(decodeValue(bot, 0n)).toBe(false);
    // A string key decodes to its hashed key (the name is not recoverable).
    expect(decodeValue({ name: "u", type: "string-key", bits: 20 }, 12345n)).toBe(12345);
  });

  it("gives a string key its bits as width and encodes only its hashed key", () => {
    const user = { name: "u", type: "string-key", bits: 20 } as const;
    const schema = parseSchema({ fields: [user, bot], key: "u" });
    expect(fieldWidth(user)).toBe(20);
    expect(keyFieldIndex(schema)).toBe(0);
    expect(encodeValue(user, 12345)).toBe(12345n);
    expect(() => encodeValue(user, 2 ** 20)).toThrow(RangeError);
    expect(() => encodeValue(user, "Alice")).toThrow(TypeError);
  });

  it("rejects values outside the encoding", () => {
    expect(() => decodeValue(uint32, 2n ** 32n)).toThrow(RangeError);
    expect(() => decodeValue(uint32, -1n)).toThrow(RangeError);
    expect(() => decodeValue(bot, 2n)).toThrow(RangeError);
    // 3 values use 2 bits, but index 3 is not a value.
    expect(() => decodeValue({ name: "e", type: "enum", values: ["a", "b", "c"] }, 3n)).toThrow(
      "is not an index of its 3 values",
    );
  });
});

describe("schemaHash", () => {
  it("is SHA-256 of the canonical JSON (known answer)", () => {
    const schema = parseSchema({
      key: "id",
      fields: [
        { type: "uint", name: "id", bits: 8 },
        { values: ["b", "a"], name: "e", type: "enum" },
      ],
    });
    const canonical =
      '{"fields":[{"bits":8,"name":"id","type":"uint"},{"name":"e","type":"enum","values":["b","a"]}],"key":"id"}';
    expect(canonicalJson(schema)).toBe(canonical);
    expect(schemaHash(schema)).toBe(createHash("sha256").update(canonical).digest("hex"));
    expect(schemaHash(schema)).toBe("b8463563f7ee173439281ca852d949c2555e0ab729600a54b7b3c8ddac1be178");
  });

  it("changes when field order or enum order changes", () => {
    const base = parseSchema({ fields: [uint32, activity] });
    const swapped = parseSchema({ fields: [activity, uint32] });
    const reordered = parseSchema({
      fields: [uint32, { ...activity, values: ["5-24", "1-4", "25-99", "100+"] }],
    });
    expect(new Set([schemaHash(base), schemaHash(swapped), schemaHash(reordered)]).size).toBe(3);
  });
});

describe("canonicalJson", () => {
  it.each([
    [null, "null"],
    [true, "true"],
    [0, "0"],
    [-0, "0"],
    [-42, "-42"],
    [Number.MAX_SAFE_INTEGER, "9007199254740991"],
    ['é\n"\\\u0001', '"é\\n\\"\\\\\\u0001"'],
    ["\ud800", '"\\ud800"'],
    [[], "[]"],
    [{}, "{}"],
    [{ b: 1, a: [2, { d: null, c: "x" }] }, '{"a":[2,{"c":"x","d":null}],"b":1}'],
    [{ a: undefined, b: 1 }, '{"b":1}'],
    // UTF-16 code unit order: "B" (0x42) < "a" (0x61) < "é" (0xe9) < "😀" (0xd83d...) < "ｚ" (0xff5a).
    [{ ｚ: 1, "😀": 2, é: 3, a: 4, B: 5 }, '{"B":5,"a":4,"é":3,"😀":2,"ｚ":1}'],
    [Object.assign(Object.create(null), { z: 1, y: 2 }), '{"y":2,"z":1}'],
  ])("canonicalJson(%j) = %s", (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each([
    ["$ is not a safe integer", 1.5],
    ["$ is not a safe integer", 2 ** 53],
    ["$ is not finite", Number.NaN],
    ["$ is not finite", Number.POSITIVE_INFINITY],
    ["$.a.b is a bigint", { a: { b: 10n } }],
    ["$.f has unsupported type function", { f: () => 1 }],
    ["$[1] has unsupported type symbol", [1, Symbol("s")]],
    ["$ has unsupported type undefined", undefined],
    ["$[1] is undefined", [1, undefined]],
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of the test
    ["$[1] is undefined", [1, , 3]],
    ["$.d is a Date, not a plain object", { d: new Date(0) }],
    ["$.m is a Map, not a plain object", { m: new Map() }],
    ["$ has symbol keys", { [Symbol("k")]: 1 }],
  ])("rejects: %s", (message, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it("rejects cycles but allows shared (acyclic) references", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow("$.self is a circular reference");
  });
});
