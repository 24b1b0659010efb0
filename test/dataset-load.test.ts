/**
 * @module test/dataset-load
 *
 * Dataset loading: the committed Wikimedia sample, the RFC 4180 tokenizer (quotes, escaped quotes, embedded
 * commas and line breaks, CRLF, BOM), JSONL, and every rejection kind with its exact file/line/column.
 */

import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDITOR_COUNT, generateEditorsCsv } from "../examples/wikimedia/generate.ts";
import { DatasetError } from "../src/dataset/errors.ts";
import { loadDataset, parseCsv, parseJsonl, tokenizeCsv } from "../src/dataset/load.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";
import { rejection } from "./helpers/dataset-errors.ts";

const exampleDir = new URL("../examples/wikimedia/", import.meta.url);
const wikimedia = parseSchema(JSON.parse(readFileSync(new URL("schema.json", exampleDir), "utf8")));
const editorsCsv = readFileSync(new URL("editors.csv", exampleDir), "utf8");

/** id (uint8 key), label (enum with awkward values), ok (bool). */
const small: Schema = parseSchema({
  key: "id",
  fields: [
    { name: "id", type: "uint", bits: 8 },
    { name: "label", type: "enum", values: ["plain", 'say "hi"', "a,b", "two\nlines", "crlf\r\nend"] },
    { name: "ok", type: "bool" },
  ],
});

function location(error: DatasetError): [number, string | number, string] {
  return [error.line, error.column, error.reason];
}

/** Replaces data line `line` (1-based, header = 1) of the sample CSV. */
function editLine(line: number, edit: (text: string) => string): string {
  const lines = editorsCsv.split("\n");
  lines[line - 1] = edit(lines[line - 1] as string);
  return lines.join("\n");
}

describe("Wikimedia sample", () => {
  it("is exactly what the seeded generator produces", () => {
    expect(generateEditorsCsv()).toBe(editorsCsv);
  });

  it("loads 60 records with unique keys", async () => {
    const loaded = await loadDataset(join(exampleDir.pathname, "editors.csv"), wikimedia);
    expect(loaded.rowCount).toBe(EDITOR_COUNT);
    expect(loaded.records).toHaveLength(60);
    expect(loaded.file).toBe("editors.csv");
    expect(loaded.format).toBe("csv");
    // First row: 37360250,enwiki,US,25-99,83,3227,false
    expect(loaded.records[0]).toEqual([37360250n, 0n, 0n, 2n, 83n, 3227n, 0n]);
    expect(loaded.keys?.size).toBe(60);
    expect(loaded.keys?.get(37360250n)).toBe(0);
  });

  it("keeps activity consistent with monthly edits", async () => {
    const { records } = await loadDataset(join(exampleDir.pathname, "editors.csv"), wikimedia);
    const bounds = [1n, 5n, 25n, 100n, 2n ** 32n];
    for (const record of records) {
      const [activity, edits] = [Number(record[3]), record[4] as bigint];
      expect(edits >= (bounds[activity] as bigint) && edits < (bounds[activity + 1] as bigint)).toBe(true);
    }
  });

  it("JSONL sample encodes like the matching CSV rows", async () => {
    const jsonl = await loadDataset(join(exampleDir.pathname, "editors.jsonl"), wikimedia);
    const csv = parseCsv(editorsCsv, wikimedia, "editors.csv");
    expect(jsonl.format).toBe("jsonl");
    expect(jsonl.rowCount).toBe(5);
    for (const record of jsonl.records) {
      const index = csv.keys?.get(record[0] as bigint) as number;
      expect(csv.records[index]).toEqual(record);
    }
  });

  it("reads columns in any order into schema field order", () => {
    const reordered =
      "bot,edits,userId,wiki,registered,activity,country\nfalse,83,37360250,enwiki,3227,25-99,US\n";
    expect(parseCsv(reordered, wikimedia, "r.csv").records).toEqual([
      [37360250n, 0n, 0n, 2n, 83n, 3227n, 0n],
    ]);
  });

  it("reports an out-of-range value with the documented message", () => {
    const text = editLine(17, (row) => row.replace(/,[0-9]+,([0-9]+),(true|false)$/, ",4294967296,$1,$2"));
    const error = rejection(() => parseCsv(text, wikimedia, "editors.csv"));
    expect(error.message).toBe(
      'editors.csv:17: column "edits": value 4294967296 exceeds uint32 (max 4294967295)',
    );
    expect({ file: error.file, line: error.line, column: error.column }).toEqual({
      file: "editors.csv",
      line: 17,
      column: "edits",
    });
  });

  it("reports a duplicate key against its first occurrence", () => {
    const firstId = (editorsCsv.split("\n")[1] as string).split(",")[0] as string;
    const text = editLine(41, (row) => row.replace(/^[0-9]+/, firstId));
    const error = rejection(() => parseCsv(text, wikimedia, "editors.csv"));
    expect(location(error)).toEqual([41, "userId", `duplicate key ${firstId} (first seen on line 2)`]);
  });
});

describe("tokenizeCsv (RFC 4180)", () => {
  const cells = (text: string) => tokenizeCsv(text, "t.csv").map((row) => row.cells.map((cell) => cell.text));

  it("handles quotes, escaped quotes, embedded separators and line breaks", () => {
    expect(cells('a,"b,c","say ""hi""","x\ny",""\n')).toEqual([["a", "b,c", 'say "hi"', "x\ny", ""]]);
    expect(cells('"only"')).toEqual([["only"]]);
    expect(cells('""""')).toEqual([['"']]);
  });

  it("accepts LF and CRLF, keeps CRLF inside quotes, and needs no final line end", () => {
    expect(cells("a,b\r\nc,d\r\n")).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    expect(cells("a,b\nc,d")).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    expect(cells('"x\r\ny"\r\n')).toEqual([["x\r\ny"]]);
  });

  it("keeps empty cells, including a trailing one", () => {
    expect(cells(",a,\n")).toEqual([["", "a", ""]]);
    expect(cells("a,")).toEqual([["a", ""]]);
  });

  it("strips a UTF-8 BOM at the start only", () => {
    expect(cells("\ufeffa,b\n")).toEqual([["a", "b"]]);
    expect(cells("a,\ufeffb\n")).toEqual([["a", "\ufeffb"]]);
  });

  it("records the starting line of rows and cells across quoted line breaks", () => {
    const rows = tokenizeCsv('h1,h2\n"a\nb\nc",d\ne,"f\ng"\n', "t.csv");
    expect(rows.map((row) => row.line)).toEqual([1, 2, 5]);
    expect(rows[2]?.cells.map((cell) => [cell.line, cell.quoted])).toEqual([
      [5, false],
      [5, true],
    ]);
  });

  it.each([
    ["unterminated quote", 'a,b\nc,"d\ne\n', [2, 2, "unterminated quoted cell"]],
    ["text after closing quote", 'a,b\n"c"x,d\n', [2, 1, "unexpected text after a closing quote"]],
    [
      "quote inside unquoted cell",
      'a,b\nc,d"e"\n',
      [2, 2, expect.stringContaining("quote inside an unquoted cell")],
    ],
    ["bare carriage return", "a,b\rc,d\n", [1, 2, "bare carriage return (line ends must be LF or CRLF)"]],
    [
      "error after a multi-line cell",
      'a,b\n"x\ny",z\n"p"q,r\n',
      [4, 1, "unexpected text after a closing quote"],
    ],
  ])("rejects %s", (_label, text, expected) => {
    expect(location(rejection(() => tokenizeCsv(text, "t.csv")))).toEqual(expected);
  });
});

describe("parseCsv", () => {
  it("decodes quoted enum values with quotes, commas and line breaks", () => {
    const text =
      'id,label,ok\n1,"say ""hi""",true\n2,"a,b",0\n3,"two\nlines",1\n4,"crlf\r\nend",false\n5,plain,1\n';
    const { records, keys } = parseCsv(text, small, "s.csv");
    expect(records).toEqual([
      [1n, 1n, 1n],
      [2n, 2n, 0n],
      [3n, 3n, 1n],
      [4n, 4n, 0n],
      [5n, 0n, 1n],
    ]);
    expect([...(keys ?? new Map()).entries()]).toEqual([
      [1n, 0],
      [2n, 1],
      [3n, 2],
      [4n, 3],
      [5n, 4],
    ]);
  });

  it("accepts a BOM, CRLF, no final line end, and trailing blank lines", () => {
    for (const text of [
      "\ufeffid,label,ok\r\n7,plain,1\r\n",
      "id,label,ok\n7,plain,1",
      "id,label,ok\n7,plain,1\n\n\n",
    ]) {
      expect(parseCsv(text, small, "s.csv").records).toEqual([[7n, 0n, 1n]]);
    }
  });

  it("accepts a header without rows", () => {
    expect(parseCsv("id,label,ok\n", small, "s.csv")).toEqual({ records: [], keys: new Map(), rowCount: 0 });
  });

  it("returns no key map without a key field", () => {
    const keyless = parseSchema({ fields: [{ name: "x", type: "uint", bits: 4 }] });
    expect(parseCsv("x\n3\n3\n", keyless, "k.csv")).toEqual({
      records: [[3n], [3n]],
      keys: undefined,
      rowCount: 2,
    });
  });

  it.each([
    ["an empty file", "", [1, 1, "missing header row"]],
    ["a blank first line", "\nid,label,ok\n", [1, 1, "missing header row"]],
    [
      "an unknown column",
      "id,label,ok,extra\n1,plain,1,x\n",
      [1, 4, 'unknown column "extra" (schema fields: id, label, ok)'],
    ],
    [
      "a padded column name",
      "id, label,ok\n",
      [1, 2, 'unknown column " label" (schema fields: id, label, ok)'],
    ],
    ["a duplicate column", "id,label,ok,label\n", [1, "label", "duplicate column"]],
    ["a missing column", "label,id\n", [1, "ok", "missing column in header"]],
    ["too few cells", "id,label,ok\n1,plain,1\n2,plain\n", [3, 3, "expected 3 columns, found 2"]],
    ["too many cells", "id,label,ok\n1,plain,1,\n", [2, 4, "expected 3 columns, found 4"]],
    ["an empty line between rows", "id,label,ok\n1,plain,1\n\n2,plain,1\n", [3, 1, "empty line"]],
    ["a missing value", "id,label,ok\n1,,1\n", [2, "label", "missing value"]],
    ["a quoted empty value", 'id,label,ok\n"",plain,1\n', [2, "id", "missing value"]],
    ["an out-of-range uint", "id,label,ok\n256,plain,1\n", [2, "id", "value 256 exceeds uint8 (max 255)"]],
    [
      "a malformed number",
      "id,label,ok\n1,plain,1\n0x1,plain,1\n",
      [3, "id", 'malformed number "0x1" (expected decimal digits without sign, leading zeros or whitespace)'],
    ],
    [
      "a leading zero",
      "id,label,ok\n01,plain,1\n",
      [2, "id", expect.stringContaining('malformed number "01"')],
    ],
    [
      "a negative number",
      "id,label,ok\n-1,plain,1\n",
      [2, "id", expect.stringContaining('malformed number "-1"')],
    ],
    [
      "an unknown enum value",
      "id,label,ok\n1,Plain,1\n",
      [2, "label", expect.stringContaining('unknown value "Plain" (expected one of: plain,')],
    ],
    [
      "a bad bool",
      "id,label,ok\n1,plain,yes\n",
      [2, "ok", 'invalid bool "yes" (expected true, false, 1 or 0)'],
    ],
    [
      "a duplicate key",
      "id,label,ok\n1,plain,1\n2,plain,1\n1,plain,0\n",
      [4, "id", "duplicate key 1 (first seen on line 2)"],
    ],
    [
      "an error after a multi-line cell",
      'id,label,ok\n1,"two\nlines",1\n2,plain,maybe\n',
      [4, "ok", expect.stringContaining("invalid bool")],
    ],
    ["an unterminated quote", 'id,label,ok\n1,"plain,1\n2,plain,1\n', [2, 2, "unterminated quoted cell"]],
  ])("rejects %s", (_label, text, expected) => {
    const error = rejection(() => parseCsv(text, small, "s.csv"));
    expect(error.file).toBe("s.csv");
    expect(location(error)).toEqual(expected);
  });

  it("formats numeric columns without quotes in the message", () => {
    expect(rejection(() => parseCsv("id,label,ok\n1,plain\n", small, "s.csv")).message).toBe(
      "s.csv:2: column 3: expected 3 columns, found 2",
    );
  });
});

describe("parseJsonl", () => {
  it("reads objects in any key order, skips blank lines, accepts CRLF and decimal strings", () => {
    const text = '{"ok":true,"label":"a,b","id":1}\r\n\n   \n{"id":"2","label":"plain","ok":"0"}\n';
    expect(parseJsonl(text, small, "s.jsonl")).toEqual({
      records: [
        [1n, 2n, 1n],
        [2n, 0n, 0n],
      ],
      keys: new Map([
        [1n, 0],
        [2n, 1],
      ]),
      rowCount: 2,
    });
  });

  it.each([
    [
      "malformed JSON",
      '{"id":1,"label":"plain","ok":true}\n{"id":2,}\n',
      [2, 9, expect.stringContaining("malformed JSON")],
    ],
    ["a non-object line", "[1,2,3]\n", [1, 1, "expected a JSON object"]],
    ["a null line", "null\n", [1, 1, "expected a JSON object"]],
    [
      "an unknown key",
      '{"id":1,"label":"plain","ok":true,"extra":0}\n',
      [1, "extra", "unknown key (schema fields: id, label, ok)"],
    ],
    [
      "a __proto__ key",
      '{"__proto__":{},"id":1,"label":"plain","ok":true}\n',
      [1, "__proto__", expect.any(String)],
    ],
    ["a missing key", '{"id":1,"ok":true}\n', [1, "label", "missing key"]],
    ["a null value", '{"id":1,"label":null,"ok":true}\n', [1, "label", "missing value"]],
    ["a repeated key", '{"id":1,"label":"plain","ok":true,"id":2}\n', [1, "id", "duplicate key in object"]],
    [
      "an out-of-range number",
      '{"id":300,"label":"plain","ok":true}\n',
      [1, "id", "value 300 exceeds uint8 (max 255)"],
    ],
    ["a float", '{"id":1.5,"label":"plain","ok":true}\n', [1, "id", "value 1.5 is not an integer"]],
    ["a wrong type", '{"id":1,"label":"plain","ok":1}\n', [1, "ok", "expected a boolean, got number 1"]],
    [
      "a duplicate dataset key",
      '{"id":1,"label":"plain","ok":true}\n\n{"id":1,"label":"plain","ok":false}\n',
      [3, "id", "duplicate key 1 (first seen on line 1)"],
    ],
  ])("rejects %s", (_label, text, expected) => {
    expect(location(rejection(() => parseJsonl(text, small, "s.jsonl")))).toEqual(expected);
  });
});

describe("loadDataset", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zktally-load-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("chooses the format by extension and names the file by its basename", async () => {
    await writeFile(join(dir, "d.JSONL"), '{"id":1,"label":"plain","ok":true}\n');
    expect((await loadDataset(join(dir, "d.JSONL"), small)).format).toBe("jsonl");
    await writeFile(join(dir, "bad.csv"), "id,label,ok\n1,plain,2\n");
    await expect(loadDataset(join(dir, "bad.csv"), small)).rejects.toThrow(
      'bad.csv:2: column "ok": invalid bool "2"',
    );
  });

  it("hashes a string key's names with the given hasher (and needs one)", async () => {
    const users = parseSchema({
      key: "user",
      fields: [
        { name: "user", type: "string-key", bits: 40 },
        { name: "ok", type: "bool" },
      ],
    });
    await writeFile(join(dir, "users.csv"), "user,ok\nAlice,true\nBob,false\n");
    const stringKeys = (name: string, bits: number) => BigInt(name.length) << BigInt(bits - 8);
    const loaded = await loadDataset(join(dir, "users.csv"), users, { stringKeys });
    expect(loaded.records).toEqual([
      [5n << 32n, 1n],
      [3n << 32n, 0n],
    ]);
    await expect(loadDataset(join(dir, "users.csv"), users)).rejects.toThrow(TypeError);
    // Two names of one length collide under this toy hasher: both lines are named.
    await writeFile(join(dir, "clash.csv"), "user,ok\nAlice,true\nCarol,false\n");
    await expect(loadDataset(join(dir, "clash.csv"), users, { stringKeys })).rejects.toThrow(
      /clash\.csv:3: column "user": key collision: names "Carol" \(clash\.csv:3\) and "Alice" \(clash\.csv:2\)/,
    );
  });

  it("refuses unknown extensions", async () => {
    await expect(loadDataset(join(dir, "d.tsv"), small)).rejects.toThrow(RangeError);
  });

  it("refuses invalid UTF-8 and names its line", async () => {
    const bytes = Buffer.concat([
      Buffer.from("id,label,ok\n1,plain,1\n2,pl"),
      Buffer.from([0xff]),
      Buffer.from("ain,1\n"),
    ]);
    await writeFile(join(dir, "latin.csv"), bytes);
    const error = await loadDataset(join(dir, "latin.csv"), small).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatasetError);
    expect(location(error as DatasetError)).toEqual([3, 1, "invalid UTF-8"]);
  });
});

describe("DatasetError", () => {
  it("JSON-quotes and truncates hostile column names in its message", () => {
    const error = rejection(() => parseJsonl('{"a\\nb":1}\n', small, "s.jsonl"));
    expect(error.column).toBe("a\nb");
    expect(error.message.startsWith('s.jsonl:1: column "a\\nb": unknown key')).toBe(true);
    const long = rejection(() => parseJsonl(`{"${"x".repeat(100)}":1}\n`, small, "s.jsonl"));
    expect(long.message).toContain(`column "${"x".repeat(64)}…": unknown key`);
  });
});
