/**
 * @module test/dataset-stream
 *
 * `streamDataset` (bounded-memory loading) against `loadDataset` (the whole file): for a corpus of valid and
 * invalid CSV and JSONL files, every slicing of the input (1, 2, 3, 5, 7, 64 bytes and the default) and every
 * batch size yields the same records in the same order, or rejects with the same file, line, column and
 * reason. Also the strictly-increasing key rule (`keyOrder: "increasing"`) and batch sizes.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "../src/dataset/errors.ts";
import { loadDataset, type StreamDatasetOptions, streamDataset } from "../src/dataset/load.ts";
import { parseSchema, type Schema } from "../src/dataset/schema.ts";

const small: Schema = parseSchema({
  key: "id",
  fields: [
    { name: "id", type: "uint", bits: 8 },
    {
      name: "label",
      type: "enum",
      values: ["plain", 'say "hi"', "a,b", "two\nlines", "crlf\r\nend", "été 🌍"],
    },
    { name: "ok", type: "bool" },
  ],
});

const CSV_CASES: [string, string | Uint8Array][] = [
  ["plain rows", "id,label,ok\n1,plain,1\n2,a,b\n"],
  ["quoted cells", 'id,label,ok\n1,"say ""hi""",1\n2,"a,b",0\n3,"two\nlines",true\n4,"crlf\r\nend",false\n'],
  ["CRLF, BOM, no final line end", "\ufeffid,label,ok\r\n1,plain,1\r\n2,été 🌍,0"],
  ["trailing blank lines", "id,label,ok\n1,plain,1\n\n\n"],
  ["a header only", "id,label,ok\n"],
  ["columns in another order", "ok,id,label\n1,7,plain\n0,8,été 🌍\n"],
  ["an empty file", ""],
  ["a blank first line", "\nid,label,ok\n"],
  ["an empty line between rows", "id,label,ok\n1,plain,1\n\n2,plain,1\n"],
  ["too few cells", "id,label,ok\n1,plain,1\n2,plain\n"],
  ["an out-of-range uint", "id,label,ok\n256,plain,1\n"],
  ["a duplicate key", "id,label,ok\n1,plain,1\n2,plain,1\n1,plain,0\n"],
  ["an unterminated quote", 'id,label,ok\n1,"plain,1\n2,plain,1\n'],
  ["a quote at the very end", 'id,label,ok\n1,"plain"'],
  ["text after a closing quote", 'id,label,ok\n1,"plain"x,1\n'],
  ["a bare carriage return", "id,label,ok\n1,plain,1\r2,plain,1\n"],
  ["a carriage return at the end", "id,label,ok\n1,plain,1\r"],
  ["a quote inside a cell", 'id,label,ok\n1,pl"ain,1\n'],
  ["a leading U+FEFF on a later line", "id,label,ok\n\ufeff1,plain,1\n"],
  [
    "invalid UTF-8 on line 3",
    Uint8Array.from([...Buffer.from("id,label,ok\n1,plain,1\n2,"), 0xc3, 0x28, 0x0a]),
  ],
];

const JSONL_CASES: [string, string | Uint8Array][] = [
  [
    "objects, blank lines, CRLF",
    '{"ok":true,"label":"a,b","id":1}\r\n\n   \n{"id":"2","label":"été 🌍","ok":"0"}\n',
  ],
  ["a BOM and no final line end", '\ufeff{"id":1,"label":"plain","ok":true}'],
  ["malformed JSON", '{"id":1,"label":"plain","ok":true}\n{"id":2,}\n'],
  ["a missing key", '{"id":1,"ok":true}\n'],
  ["a repeated key", '{"id":1,"label":"plain","ok":true,"id":2}\n'],
  ["a duplicate dataset key", '{"id":1,"label":"plain","ok":true}\n\n{"id":1,"label":"plain","ok":false}\n'],
  [
    "invalid UTF-8 on line 2",
    Uint8Array.from([
      ...Buffer.from('{"id":1,"label":"plain","ok":true}\n{"id":2,"label":"'),
      0xff,
      ...Buffer.from('","ok":true}\n'),
    ]),
  ],
];

type Outcome = { records: bigint[][] } | { error: [string, number, string | number, string] };

async function outcome(run: () => Promise<bigint[][]>): Promise<Outcome> {
  try {
    return { records: await run() };
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    return { error: [error.file, error.line, error.column, error.reason] };
  }
}

async function streamed(path: string, schema: Schema, options: StreamDatasetOptions): Promise<bigint[][]> {
  const records: bigint[][] = [];
  const result = await streamDataset(
    path,
    schema,
    (batch) => {
      expect(batch.length).toBeLessThanOrEqual(options.batchSize ?? 4096);
      records.push(...batch);
    },
    options,
  );
  expect(result.rowCount).toBe(records.length);
  return records;
}

describe("streamDataset", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "zktally-stream-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    ...CSV_CASES.map(([label, text]) => [label, "csv", text] as const),
    ...JSONL_CASES.map(([label, text]) => [label, "jsonl", text] as const),
  ];
  it.each(cases)("matches loadDataset on %s (%s) for every slicing", async (label, extension, text) => {
    const path = join(dir, `${label.replaceAll(/[^a-z0-9]+/gi, "-")}.${extension}`);
    await writeFile(path, text);
    const expected = await outcome(async () => (await loadDataset(path, small)).records);
    for (const sliceBytes of [1, 2, 3, 5, 7, 64, undefined]) {
      for (const batchSize of [1, 2, 4096]) {
        const options = { batchSize, ...(sliceBytes === undefined ? {} : { sliceBytes }) };
        expect(
          await outcome(() => streamed(path, small, options)),
          `slice ${sliceBytes} batch ${batchSize}`,
        ).toEqual(expected);
      }
    }
  });

  it("with keyOrder increasing refuses a key below or equal to the previous one", async () => {
    const path = join(dir, "order.csv");
    await writeFile(path, "id,label,ok\n1,plain,1\n5,plain,1\n3,plain,0\n");
    const below = await outcome(() => streamed(path, small, { keyOrder: "increasing" }));
    expect(below).toEqual({
      error: [
        "order.csv",
        4,
        "id",
        "key 3 is below the previous key 5 (line 3): keys must be strictly increasing, sort the input by id",
      ],
    });
    await writeFile(path, "id,label,ok\n1,plain,1\n5,plain,1\n5,plain,0\n");
    expect(await outcome(() => streamed(path, small, { keyOrder: "increasing" }))).toEqual({
      error: ["order.csv", 4, "id", "duplicate key 5 (first seen on line 3)"],
    });
    await writeFile(path, "id,label,ok\n1,plain,1\n5,plain,1\n9,plain,0\n");
    expect(await streamed(path, small, { keyOrder: "increasing", sliceBytes: 4 })).toHaveLength(3);
  });

  it("hands out batches of the requested size in file order and awaits each one", async () => {
    const path = join(dir, "many.csv");
    const rows = Array.from({ length: 250 }, (_, i) => `${i},plain,${i % 2}`);
    await writeFile(path, `id,label,ok\n${rows.join("\n")}\n`);
    const sizes: number[] = [];
    let inFlight = false;
    const result = await streamDataset(
      path,
      small,
      async (batch) => {
        expect(inFlight).toBe(false);
        inFlight = true;
        sizes.push(batch.length);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight = false;
      },
      { batchSize: 100, sliceBytes: 256 },
    );
    expect(result).toEqual({ file: "many.csv", format: "csv", rowCount: 250 });
    expect(sizes).toEqual([100, 100, 50]);
  });
});
