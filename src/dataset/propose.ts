/**
 * @module dataset/propose
 *
 * `zktally init`: proposes a schema from a sample CSV or JSONL file. Per column: `bool` when every value is
 * true/false, `uint` when every value is a canonical decimal (bits from the largest value), `date` when every
 * value is an ISO YYYY-MM-DD date, `enum` of the
 * distinct values found (NFC-normalised, sorted by code point) otherwise; the key is `--key`, or else a
 * uint column named like an id whose values are all distinct. A text column of distinct names chosen as the
 * key (`--key`, or named like an id or a user name when no uint id column exists) becomes a `string-key` of
 * {@link PROPOSED_STRING_KEY_BITS} bits (names hashed by the operator, dataset/string-key.ts). The proposal
 * is validated by `parseSchema`.
 *
 * Security caveat: the proposal reads the whole sample into memory and its notes quote column names only,
 * never cell values, so they may be shown or logged.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { CANONICAL_DECIMAL } from "../core/field.ts";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import { InputError } from "../util/errors.ts";
import { parseStrictJson } from "../util/strict-json.ts";
import { DatasetError } from "./errors.ts";
import { tokenizeCsv } from "./load.ts";
import {
  type EncodeFailure,
  type FieldSpec,
  MAX_UINT_BITS,
  parseSchema,
  type Schema,
  tryEncodeValue,
} from "./schema.ts";

/** The sample as text cells: one array per row, in column order. */
export interface Sample {
  readonly file: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export interface ProposeOptions {
  /** The key column (a uint column with distinct values). */
  readonly key?: string;
  /** Most distinct values an enum column may have (default 1024). */
  readonly maxEnumValues?: number;
}

export interface SchemaProposal {
  readonly schema: Schema;
  /** One line per choice worth checking (key picked, tight bit widths). */
  readonly notes: readonly string[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ID_NAME = /(^id$|_id$|Id$|^key$)/;
/** Column names that suggest a text key (a person's name or handle). */
const NAME_KEY = /(^|_)(user|username|user_name|login|name|email|handle)$/i;
/** The circuits' default width W (32 bits): a wider key needs circuits built for it. */
export const PROPOSED_STRING_KEY_BITS = 32;

/** Reads a sample file (.csv with a header row, or .jsonl of flat objects) as text cells. */
export async function readSample(path: string): Promise<Sample> {
  const file = basename(path);
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new InputError("unreadable", `${path}: cannot read (${error.code ?? "error"})`, { path });
  });
  const extension = extname(path).toLowerCase();
  if (extension === ".csv") return csvSample(text, file);
  if (extension === ".jsonl") return jsonlSample(text, file);
  throw new DatasetError({ file, line: 1, column: 1, reason: "expected a .csv or .jsonl sample file" });
}

function csvSample(text: string, file: string): Sample {
  const [header, ...rows] = tokenizeCsv(text, file);
  if (header === undefined) throw new DatasetError({ file, line: 1, column: 1, reason: "the file is empty" });
  return {
    file,
    columns: header.cells.map((cell) => cell.text),
    rows: rows.map((row) => row.cells.map((cell) => cell.text)),
  };
}

function jsonlSample(text: string, file: string): Sample {
  const objects = text
    .split("\n")
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== "")
    .map(({ line, number }) => {
      const value = parseStrictJson(line, `${file}:${number}`);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new DatasetError({ file, line: number, column: 1, reason: "each line must be a JSON object" });
      }
      return value as Record<string, unknown>;
    });
  const columns = [...new Set(objects.flatMap((object) => Object.keys(object)))];
  const cell = (value: unknown) => (value === undefined || value === null ? "" : String(value));
  return { file, columns, rows: objects.map((object) => columns.map((column) => cell(object[column]))) };
}

/** The field a column's values call for; throws `DatasetError` naming the column when none fits. */
function proposeField(name: string, values: readonly string[], sample: Sample, maxEnum: number): FieldSpec {
  const fail = (reason: string) => new DatasetError({ file: sample.file, line: 1, column: name, reason });
  if (values.length === 0) throw fail("no values in the sample to infer a type from");
  if (values.every((value) => value === "true" || value === "false")) return { name, type: "bool" };
  if (values.every((value) => CANONICAL_DECIMAL.test(value))) {
    const max = values.reduce((high, value) => (BigInt(value) > high ? BigInt(value) : high), 0n);
    const bits = Math.max(1, max.toString(2).length);
    if (bits > MAX_UINT_BITS) throw fail(`values need ${bits} bits; a uint has at most ${MAX_UINT_BITS}`);
    return { name, type: "uint", bits };
  }
  if (values.every((value) => DATE.test(value))) {
    const date: FieldSpec = { name, type: "date" };
    const bad = values.find((value) => typeof tryEncodeValue(date, value) !== "bigint");
    if (bad === undefined) return date;
    const failure = tryEncodeValue(date, bad) as EncodeFailure;
    throw fail(`holds dates (YYYY-MM-DD), but not every value is a valid one: ${failure.reason}`);
  }
  if (values.some((value) => value === "")) throw fail("has empty cells: an enum value must be non-empty");
  const distinct = [...new Set(values.map((value) => value.normalize("NFC")))].sort();
  if (distinct.length > maxEnum) {
    throw fail(`has ${distinct.length} distinct text values, more than an enum's ${maxEnum} (--max-enum N)`);
  }
  return { name, type: "enum", values: distinct };
}

function chooseKey(fields: readonly FieldSpec[], columns: readonly string[][], options: ProposeOptions) {
  const unique = (index: number) => new Set(columns[index]).size === columns[index]?.length;
  const isKey = (index: number) =>
    (fields[index]?.type === "uint" && unique(index)) || fields[index]?.type === "string-key";
  if (options.key !== undefined) {
    const index = fields.findIndex((field) => field.name === options.key);
    if (index < 0) throw new RangeError(`--key ${options.key}: no such column`);
    if (!isKey(index))
      throw new RangeError(
        `--key ${options.key}: a key must be a uint column with distinct values or a text column of distinct names`,
      );
    return options.key;
  }
  return (
    fields.find((field) => field.type === "string-key")?.name ??
    fields.find((field, index) => ID_NAME.test(field.name) && isKey(index))?.name
  );
}

/**
 * The column to propose as a string key: `--key` when it holds distinct names (text, not numbers or dates),
 * else, when no uint id column would be the key, the first column named like an id or a user name that does.
 */
function stringKeyColumn(sample: Sample, columns: readonly string[][], options: ProposeOptions) {
  const isNames = (index: number) => {
    const values = columns[index] ?? [];
    const names = values.map((value) => value.normalize("NFC"));
    return (
      values.length > 0 &&
      values.every((value) => value !== "" && !CANONICAL_DECIMAL.test(value) && !DATE.test(value)) &&
      new Set(names).size === names.length
    );
  };
  if (options.key !== undefined) {
    const index = sample.columns.indexOf(options.key);
    return index >= 0 && isNames(index) ? options.key : undefined;
  }
  const uintId = sample.columns.some(
    (name, index) =>
      ID_NAME.test(name) && (columns[index] ?? []).every((value) => CANONICAL_DECIMAL.test(value)),
  );
  if (uintId) return undefined;
  return sample.columns.find((name, index) => (ID_NAME.test(name) || NAME_KEY.test(name)) && isNames(index));
}

/** Proposes a schema for a sample; throws `DatasetError` for a column no type fits. */
export function proposeSchema(sample: Sample, options: ProposeOptions = {}): SchemaProposal {
  if (sample.rows.length === 0) {
    throw new DatasetError({ file: sample.file, line: 2, column: 1, reason: "no records after the header" });
  }
  const columns = sample.columns.map((_, index) => sample.rows.map((row) => row[index] ?? ""));
  const maxEnum = options.maxEnumValues ?? 1024;
  const textKey = stringKeyColumn(sample, columns, options);
  const fields = sample.columns.map(
    (name, index): FieldSpec =>
      name === textKey
        ? { name, type: "string-key", bits: PROPOSED_STRING_KEY_BITS }
        : proposeField(name, columns[index] ?? [], sample, maxEnum),
  );
  const key = chooseKey(fields, columns, options);
  const notes = fields
    .filter((field) => field.type === "uint")
    .map(
      (field) =>
        `field "${field.name}": uint of ${(field as { bits: number }).bits} bits fits the sample's largest value; widen it if later epochs may hold larger ones`,
    );
  if (key !== undefined && options.key === undefined && key !== textKey)
    notes.unshift(`key "${key}": a uint column of distinct values (--key to choose another)`);
  if (textKey !== undefined)
    notes.unshift(
      `key "${textKey}": a string key of ${PROPOSED_STRING_KEY_BITS} bits (names hashed with the operator's secret); two names sharing a key are refused at commit, so for more than a few thousand names widen "bits" (up to 53) with circuits of that width`,
    );
  return { schema: parseSchema(key === undefined ? { fields } : { fields, key }), notes };
}

/** A dataset id from a file name (`Mine Data.csv` -> `mine-data`), valid for DATASET_ID_PATTERN. */
export function datasetIdFromFile(path: string): string {
  const stem = basename(path, extname(path))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-");
  const id = stem.replace(/^-+|-+$/g, "").slice(0, 64) || "dataset";
  return DATASET_ID_PATTERN.test(id) ? id : "dataset";
}
