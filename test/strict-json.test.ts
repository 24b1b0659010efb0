/**
 * The strict JSON reader (src/util/strict-json.ts): the same values as JSON.parse on valid JSON (random
 * documents, escapes, numbers, whitespace), the same refusals on invalid JSON, and in addition a refusal
 * of duplicate keys at any depth, after unescaping, with the line, column and path of the duplicate and
 * of its first occurrence.
 */
import { describe, expect, it } from "vitest";
import { JsonTextError, MAX_JSON_DEPTH, parseStrictJson, positionAt } from "../src/util/strict-json.ts";
import { createRng } from "./helpers/random.ts";

function rejection(text: string): JsonTextError {
  try {
    parseStrictJson(text);
  } catch (error) {
    if (error instanceof JsonTextError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(text)}`);
}

type Rng = ReturnType<typeof createRng>;

function randomString(rng: Rng): string {
  const alphabet = [
    "a",
    "Z",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\u0001",
    "é",
    "\u2028",
    "\ud83d\ude00",
    "\ud800",
    " ",
  ];
  let text = "";
  for (let i = rng.int(0, 6); i > 0; i--) text += alphabet[rng.int(0, alphabet.length - 1)];
  return text;
}

function randomValue(rng: Rng, depth: number): unknown {
  const kind = rng.int(0, depth > 3 ? 3 : 5);
  switch (kind) {
    case 0:
      return [null, true, false][rng.int(0, 2)];
    case 1:
      return [0, -0, 1, -17, 3.25, 1e21, -2.5e-7, 2 ** 53 + 1, Number.MAX_VALUE][rng.int(0, 8)];
    case 2:
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.int(0, 3) }, () => randomValue(rng, depth + 1));
    default: {
      const record: Record<string, unknown> = {};
      for (let i = rng.int(0, 3); i > 0; i--)
        record[`${randomString(rng)}${i}`] = randomValue(rng, depth + 1);
      return record;
    }
  }
}

/** JSON text of `value` with random insignificant whitespace. */
function spaced(rng: Rng, value: unknown): string {
  const ws = () => [" ", "\n", "\r\n", "\t", ""][rng.int(0, 4)] as string;
  if (Array.isArray(value))
    return `[${ws()}${value.map((item) => spaced(rng, item)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (typeof value === "object" && value !== null) {
    const members = Object.entries(value).map(
      ([key, item]) => `${JSON.stringify(key)}${ws()}:${ws()}${spaced(rng, item)}`,
    );
    return `{${ws()}${members.join(`,${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(value);
}

describe("parseStrictJson", () => {
  it("reads 500 random documents exactly as JSON.parse does", () => {
    const rng = createRng(8);
    for (let run = 0; run < 500; run++) {
      const text = spaced(rng, randomValue(rng, 0));
      expect(parseStrictJson(text)).toStrictEqual(JSON.parse(text));
    }
  });

  it("decodes escapes and numbers like JSON.parse", () => {
    for (const text of [
      '"\\u0061\\"\\\\\\/\\b\\f\\n\\r\\t\\ud83d\\ude00\\uDEAD"',
      "-0",
      "1E+2",
      "0.5e-3",
      "123456789012345678901234567890",
      " \r\n\t[ ] ",
      "{}",
      '{"__proto__":{"polluted":1},"a":[{"__proto__":null}]}',
    ]) {
      expect(parseStrictJson(text)).toStrictEqual(JSON.parse(text));
    }
    const withProto = parseStrictJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(withProto)).toBe(Object.prototype);
    expect(Object.keys(withProto)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses what JSON.parse refuses, with a line and column", () => {
    for (const [text, line, column] of [
      ["", 1, 1],
      ['{"a":1,}', 1, 8],
      ["[1,]", 1, 4],
      ["[1 2]", 1, 4],
      ['{"a" 1}', 1, 6],
      ["{'a':1}", 1, 2],
      ["01", 1, 1],
      ["1.", 1, 1],
      ["-", 1, 1],
      ["+1", 1, 1],
      ["NaN", 1, 1],
      ["tru", 1, 1],
      ['"abc', 1, 1],
      ['"a\nb"', 1, 3],
      ['"\\x41"', 1, 2],
      ['"\\u12"', 1, 2],
      ["{} {}", 1, 4],
      ['{\n  "a": 1\n  "b": 2\n}', 3, 3],
      ["\ufeff{}", 1, 1],
    ] as const) {
      expect(() => JSON.parse(text), text).toThrow();
      const error = rejection(text);
      expect([error.line, error.column], `${JSON.stringify(text)}: ${error.message}`).toEqual([line, column]);
      expect(error.message).toMatch(new RegExp(`^line ${line} column ${column}: `));
    }
  });

  it("refuses a duplicate key at any depth, compared after unescaping, naming both places", () => {
    const bundle =
      '{\n  "statement": "5 records",\n  "answer": {"value": "5"},\n  "statement": "6 records"\n}';
    const top = rejection(bundle);
    expect(top).toMatchObject({ line: 4, column: 3, path: "$" });
    expect(top.reason).toBe('duplicate key "statement" (first at line 2 column 3); name each member once');
    const nested = rejection('{"answer":{"value":"5","suppressed":false,"value":"6"}}');
    expect(nested).toMatchObject({ line: 1, column: 43, path: "$.answer" });
    expect(nested.message).toMatch(/duplicate key "value" .*\(in \$\.answer\)$/);
    expect(rejection('[{"a":1},{"b":[{"x":1,"\\u0078":2}]}]').path).toBe("$[1].b[0]");
    // The same key in sibling objects is fine.
    expect(parseStrictJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("bounds nesting instead of exhausting the stack", () => {
    const deep = `${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`;
    expect(parseStrictJson(deep)).toBeInstanceOf(Array);
    const tooDeep = `${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`;
    expect(rejection(tooDeep).reason).toMatch(/nested deeper than/);
    expect(rejection("[".repeat(100_000)).reason).toMatch(/nested deeper than/);
  });

  it("counts lines for \\n, \\r\\n and a lone \\r", () => {
    expect(positionAt("a\nb\r\nc\rd", 7)).toEqual({ offset: 7, line: 4, column: 1 });
    expect(positionAt("abc", 2)).toEqual({ offset: 2, line: 1, column: 3 });
  });
});
