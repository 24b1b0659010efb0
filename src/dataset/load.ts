/**
 * @module dataset/load
 *
 * Loads a dataset file (CSV per RFC 4180, or JSONL) against a schema into encoded records. Any bad row
 * rejects the whole load with a `DatasetError` carrying file, line, column and reason; nothing partial is
 * ever returned, so a commitment can never silently cover a truncated or half-parsed dataset.
 *
 * `loadDataset` holds the whole file in memory; `streamDataset` reads it in bounded slices (the CSV tokenizer
 * is incremental, rows are validated exactly as by `loadDataset`, with the same messages) and hands the
 * encoded records to the caller batch by batch. A streamed load that fails part-way has already handed out
 * earlier batches: the caller must treat everything it received as void unless the stream resolves.
 *
 * A `string-key` field's cells are names, hashed to keys by the `stringKeys` hasher the caller derives from
 * the dataset secret (dataset/string-key.ts): two names with one key (a truncated-hash collision) are refused
 * naming both lines, and a name given twice is a duplicate key.
 *
 * Security caveats: values are parsed strictly (see `encodeValue`); keys must be unique (or strictly
 * increasing, `keyOrder: "increasing"`, which string keys cannot be: dataset/chunked.ts sorts them); invalid
 * UTF-8 is refused rather than replaced. Error messages quote truncated cell values (names included) and must
 * stay on the operator's side.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { JsonTextError, parseStrictJson } from "../util/strict-json.ts";
import { DatasetError } from "./errors.ts";
import {
  type FieldSpec,
  keyFieldIndex,
  MAX_STRING_KEY_BITS,
  type Schema,
  type StringKeyFieldSpec,
  stringKeyField,
  tryEncodeValue,
} from "./schema.ts";
import { nameProblem, type StringKeyHasher } from "./string-key.ts";

export interface ParsedDataset {
  /** Encoded values in schema field order, one array per record, in file order. */
  readonly records: bigint[][];
  /** Key value -> record index, when the schema has a key field. */
  readonly keys: Map<bigint, number> | undefined;
  readonly rowCount: number;
}

export type DatasetFormat = "csv" | "jsonl";

export interface LoadedDataset extends ParsedDataset {
  /** File name (basename) used in error messages. */
  readonly file: string;
  readonly format: DatasetFormat;
}

export interface LoadOptions {
  /** Hashes the names of a string-key field (required when the schema has one; dataset/string-key.ts). */
  readonly stringKeys?: StringKeyHasher;
}

/** Reads `path` (format by extension: .csv or .jsonl) and parses it against `schema`. */
export async function loadDataset(
  path: string,
  schema: Schema,
  options: LoadOptions = {},
): Promise<LoadedDataset> {
  const format = formatOf(path);
  const file = basename(path);
  const text = decodeUtf8(await readFile(path), file);
  const parsed =
    format === "csv" ? parseCsv(text, schema, file, options) : parseJsonl(text, schema, file, options);
  return { ...parsed, file, format };
}

export interface StreamDatasetOptions extends LoadOptions {
  /** Records per `onBatch` call (default 4096): every batch has exactly this many but the last. */
  readonly batchSize?: number;
  /** Key rule (default "unique", as `loadDataset`; "increasing" needs O(1) memory). */
  readonly keyOrder?: KeyOrder;
  /** Bytes read per slice (default 1 MiB). */
  readonly sliceBytes?: number;
}

export interface StreamedDataset {
  readonly file: string;
  readonly format: DatasetFormat;
  readonly rowCount: number;
}

/**
 * Streams `path` (format by extension) against `schema`: memory stays bounded by the slice, one batch and,
 * with `keyOrder: "unique"`, the key map. Each batch is awaited before reading on, so a slow consumer
 * throttles the read. Rejects with the same `DatasetError` as `loadDataset` would for the first bad row.
 */
export async function streamDataset(
  path: string,
  schema: Schema,
  onBatch: (records: bigint[][]) => void | Promise<void>,
  options: StreamDatasetOptions = {},
): Promise<StreamedDataset> {
  const format = formatOf(path);
  const file = basename(path);
  const batchSize = options.batchSize ?? 4096;
  let batch: bigint[][] = [];
  const sink = new RecordSink(schema, file, (record) => batch.push(record), options);
  const consumer = format === "csv" ? csvTextConsumer(schema, file, sink) : jsonlTextConsumer(schema, sink);
  /** Hands out full batches (and, at the end, the rest), so every batch but the last has batchSize records. */
  const flush = async (all: boolean): Promise<void> => {
    while (batch.length >= batchSize || (all && batch.length > 0)) {
      const full = batch.length > batchSize ? batch.splice(0, batchSize) : batch;
      if (full === batch) batch = [];
      await onBatch(full);
    }
  };
  for await (const text of utf8Slices(path, file, options.sliceBytes ?? 1 << 20)) {
    consumer.push(text);
    await flush(false);
  }
  consumer.end();
  await flush(true);
  return { file, format, rowCount: sink.count };
}

interface TextConsumer {
  push(text: string): void;
  end(): void;
}

function csvTextConsumer(schema: Schema, file: string, sink: RecordSink): TextConsumer {
  const tokenizer = new CsvTokenizer(file);
  const reader = new CsvRowReader(schema, sink);
  const drain = (final: boolean): void => {
    for (let row = tokenizer.next(final); row !== undefined; row = tokenizer.next(final)) reader.push(row);
  };
  return {
    push(text) {
      tokenizer.append(text);
      drain(false);
    },
    end() {
      drain(true);
      reader.end();
    },
  };
}

function jsonlTextConsumer(schema: Schema, sink: RecordSink): TextConsumer {
  let pending = "";
  let line = 1;
  let first = true;
  const consume = (rawLine: string): void => {
    jsonlLine(rawLine, line, schema, sink);
    line++;
  };
  return {
    push(text) {
      let rest = pending + text;
      if (first && rest.length > 0) {
        first = false;
        if (rest.charCodeAt(0) === 0xfeff) rest = rest.slice(1);
      }
      let start = 0;
      for (let end = rest.indexOf("\n"); end >= 0; end = rest.indexOf("\n", start)) {
        consume(rest.slice(start, end));
        start = end + 1;
      }
      pending = rest.slice(start);
    },
    end() {
      consume(pending);
    },
  };
}

/**
 * The file as strictly decoded UTF-8 text slices that each end on a line boundary (LF), so a decoding error
 * names its line and no character is split between slices (0x0a never occurs inside a UTF-8 sequence).
 */
async function* utf8Slices(path: string, file: string, sliceBytes: number): AsyncGenerator<string> {
  let carry = new Uint8Array(0);
  let line = 1;
  for await (const chunk of createReadStream(path, { highWaterMark: sliceBytes })) {
    const bytes = concat(carry, chunk as Buffer);
    const end = bytes.lastIndexOf(0x0a) + 1;
    carry = bytes.slice(end);
    if (end === 0) continue;
    const complete = bytes.subarray(0, end);
    yield decodeUtf8(complete, file, line);
    line += countByte(complete, 0x0a);
  }
  if (carry.length > 0) yield decodeUtf8(carry, file, line);
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  if (head.length === 0) return tail;
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

function countByte(bytes: Uint8Array, value: number): number {
  let count = 0;
  for (let i = bytes.indexOf(value); i >= 0; i = bytes.indexOf(value, i + 1)) count++;
  return count;
}

function formatOf(path: string): DatasetFormat {
  const extension = extname(path).toLowerCase();
  if (extension === ".csv") return "csv";
  if (extension === ".jsonl") return "jsonl";
  throw new RangeError(
    `unsupported dataset file extension "${extension}" in ${path} (expected .csv or .jsonl)`,
  );
}

/**
 * Strict UTF-8 decoding; on failure, finds the first bad line so the error can point at it. `firstLine` is
 * the line number of the first byte (slices of a stream start on a line boundary).
 */
function decodeUtf8(bytes: Uint8Array, file: string, firstLine = 1): string {
  try {
    // Only the file's first byte may be a byte order mark: later slices keep a leading U+FEFF as text.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: firstLine !== 1 }).decode(bytes);
  } catch {
    let line = firstLine;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new DatasetError({ file, line, column: 1, reason: "invalid UTF-8" });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shared record assembly

/** How keys are checked: unique anywhere (a map of all keys), or strictly increasing in file order (O(1)). */
export type KeyOrder = "unique" | "increasing";

/** Encodes values, enforces the key rule and hands records to `emit` (file order). */
class RecordSink {
  readonly keys: Map<bigint, number> | undefined;
  private readonly keyIndex: number | undefined;
  private readonly keyOrder: KeyOrder;
  private readonly recordLines: number[] = [];
  private previousKey: { key: bigint; line: number } | undefined;
  /** String keys: the name each key was hashed from, by record index, to tell collisions from duplicates. */
  private readonly keyNames: string[] | undefined;
  private lastName = "";
  count = 0;

  constructor(
    private readonly schema: Schema,
    private readonly file: string,
    private readonly emit: (record: bigint[]) => void,
    private readonly options: StreamDatasetOptions = {},
  ) {
    this.keyIndex = keyFieldIndex(schema);
    this.keyOrder = options.keyOrder ?? "unique";
    this.keys = this.keyIndex === undefined || this.keyOrder === "increasing" ? undefined : new Map();
    this.keyNames = this.checkStringKeyOptions();
  }

  /** A list for the names when the key is a string key (which needs a hasher and unique-order keys). */
  private checkStringKeyOptions(): string[] | undefined {
    const spec = stringKeyField(this.schema);
    if (spec === undefined) return undefined;
    if (this.options.stringKeys === undefined) {
      throw new TypeError(
        `field "${spec.name}" is a string key: loading needs the dataset's key hasher (stringKeyHasher)`,
      );
    }
    if (this.keyOrder === "increasing") {
      throw new RangeError(
        `field "${spec.name}" is a string key: hashed keys cannot be strictly increasing in file order; load the file whole and sort the records by key (commitFileChunked does)`,
      );
    }
    return [];
  }

  /** Encodes one value; empty/absent is "missing value". Throws `DatasetError`. */
  encode(spec: FieldSpec, raw: unknown, line: number): bigint {
    if (raw === "" || raw === null || raw === undefined) this.fail(line, spec.name, "missing value");
    const result = spec.type === "string-key" ? this.hashName(spec.bits, raw) : tryEncodeValue(spec, raw);
    if (typeof result !== "bigint") this.fail(line, spec.name, result.reason);
    return result;
  }

  /** The key of a name cell (NFC first, so composed and decomposed spellings are one name). */
  private hashName(bits: number, raw: unknown): bigint | { reason: string } {
    if (typeof raw !== "string") return { reason: `expected a name (a string), got ${typeof raw}` };
    const problem = nameProblem(raw);
    if (problem !== undefined) return { reason: problem };
    this.lastName = raw.normalize("NFC");
    return (this.options.stringKeys as StringKeyHasher)(this.lastName, bits);
  }

  add(record: bigint[], line: number): void {
    if (this.keyIndex !== undefined) {
      const key = record[this.keyIndex] as bigint;
      if (this.keyOrder === "increasing") this.checkIncreasing(key, line);
      else this.checkUnique(key, line);
    }
    this.emit(record);
    this.count++;
  }

  private checkUnique(key: bigint, line: number): void {
    const keys = this.keys as Map<bigint, number>;
    const previous = keys.get(key);
    if (previous !== undefined) {
      const firstLine = this.recordLines[previous] as number;
      const firstName = this.keyNames?.[previous];
      if (firstName !== undefined && firstName !== this.lastName)
        this.collision(key, line, firstLine, firstName);
      this.duplicate(key, line, firstLine);
    }
    keys.set(key, this.count);
    this.recordLines.push(line);
    this.keyNames?.push(this.lastName);
  }

  private checkIncreasing(key: bigint, line: number): void {
    const previous = this.previousKey;
    if (previous !== undefined && key === previous.key) this.duplicate(key, line, previous.line);
    if (previous !== undefined && key < previous.key) {
      this.fail(
        line,
        this.schema.key as string,
        `key ${key} is below the previous key ${previous.key} (line ${previous.line}): keys must be strictly increasing, sort the input by ${this.schema.key}`,
      );
    }
    this.previousKey = { key, line };
  }

  private duplicate(key: bigint, line: number, firstLine: number): never {
    const what = this.keyNames === undefined ? `key ${key}` : `name ${JSON.stringify(this.lastName)}`;
    this.fail(line, this.schema.key as string, `duplicate ${what} (first seen on line ${firstLine})`);
  }

  /** Two names hashed to one key: the key is too narrow for the population. */
  private collision(key: bigint, line: number, firstLine: number, firstName: string): never {
    const spec = stringKeyField(this.schema) as StringKeyFieldSpec;
    this.fail(
      line,
      spec.name,
      `key collision: names ${JSON.stringify(this.lastName)} (${this.file}:${line}) and ${JSON.stringify(firstName)} (${this.file}:${firstLine}) hash to the same ${spec.bits}-bit key ${key}; widen the key ("bits" of field "${spec.name}", at most ${MAX_STRING_KEY_BITS}, and a circuit width W that holds it) and commit again`,
    );
  }

  fail(line: number, column: string | number, reason: string): never {
    throw new DatasetError({ file: this.file, line, column, reason });
  }
}

/** A sink that keeps every record (the in-memory parsers). */
function collectingSink(
  schema: Schema,
  file: string,
  options: LoadOptions,
): { sink: RecordSink; result: () => ParsedDataset } {
  const records: bigint[][] = [];
  const sink = new RecordSink(schema, file, (record) => records.push(record), options);
  return { sink, result: () => ({ records, keys: sink.keys, rowCount: records.length }) };
}

function fieldList(schema: Schema): string {
  return schema.fields.map((field) => field.name).join(", ");
}

// ---------------------------------------------------------------------------------------------------------
// CSV (RFC 4180)

export interface CsvCell {
  readonly text: string;
  /** Line on which the cell starts (1-based). */
  readonly line: number;
  readonly quoted: boolean;
}

export interface CsvRow {
  /** Line on which the row starts (1-based). */
  readonly line: number;
  readonly cells: CsvCell[];
}

/**
 * Splits CSV text into rows of cells (RFC 4180: `"` quoting with `""` escapes, commas and line breaks inside
 * quotes, LF or CRLF line ends, optional UTF-8 BOM). A final line end does not start a new row. Throws
 * `DatasetError` for an unterminated quote, text after a closing quote, a quote inside an unquoted cell, or
 * a bare carriage return.
 */
export function tokenizeCsv(text: string, file: string): CsvRow[] {
  const tokenizer = new CsvTokenizer(file);
  tokenizer.append(text);
  const rows: CsvRow[] = [];
  for (let row = tokenizer.next(true); row !== undefined; row = tokenizer.next(true)) rows.push(row);
  return rows;
}

/** Thrown inside the tokenizer when a row runs past the text appended so far (never escapes `next`). */
const NEED_MORE = Symbol("need more CSV text");

/**
 * Incremental RFC 4180 tokenizer: `append` text slices, `next(final)` returns the next complete row, or
 * undefined when the text so far ends inside a row (`final` false) or is exhausted. Rows and errors are the
 * same however the text is sliced.
 */
export class CsvTokenizer {
  private text = "";
  private pos = 0;
  private line = 1;
  private started = false;

  constructor(private readonly file: string) {}

  append(slice: string): void {
    this.text = this.text.slice(this.pos) + slice;
    this.pos = 0;
    if (!this.started && this.text.length > 0) {
      this.started = true;
      if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    }
  }

  next(final: boolean): CsvRow | undefined {
    if (this.pos >= this.text.length) return undefined;
    const start = this.pos;
    const line = this.line;
    try {
      return this.row(final);
    } catch (error) {
      if (error !== NEED_MORE) throw error;
      this.pos = start;
      this.line = line;
      return undefined;
    }
  }

  private row(final: boolean): CsvRow {
    const row: CsvRow = { line: this.line, cells: [] };
    for (;;) {
      const column = row.cells.length + 1;
      row.cells.push(
        this.text[this.pos] === '"' ? this.quotedCell(column, final) : this.plainCell(column, final),
      );
      if (this.endOfCell(column, final)) return row;
    }
  }

  /** Consumes the separator after a cell; true when the row ended (line end or end of text). */
  private endOfCell(column: number, final: boolean): boolean {
    const char = this.text[this.pos];
    if (char === ",") {
      this.pos++;
      return false;
    }
    if (char === undefined) {
      if (!final) throw NEED_MORE;
      return true;
    }
    if (char === "\r" && this.pos + 1 >= this.text.length && !final) throw NEED_MORE;
    if (char === "\r" && this.text[this.pos + 1] !== "\n") {
      this.fail(column, "bare carriage return (line ends must be LF or CRLF)");
    }
    this.pos += char === "\r" ? 2 : 1;
    this.line++;
    return true;
  }

  private plainCell(column: number, final: boolean): CsvCell {
    const start = this.pos;
    let end = start;
    for (; end < this.text.length; end++) {
      const char = this.text[end];
      if (char === "," || char === "\n" || char === "\r") break;
      if (char === '"')
        this.fail(column, "quote inside an unquoted cell (quote the whole cell and double the quote)");
    }
    if (end >= this.text.length && !final) throw NEED_MORE;
    this.pos = end;
    return { text: this.text.slice(start, end), line: this.line, quoted: false };
  }

  private quotedCell(column: number, final: boolean): CsvCell {
    const startLine = this.line;
    let value = "";
    let from = this.pos + 1;
    for (;;) {
      const close = this.text.indexOf('"', from);
      if (close < 0 || (close + 1 >= this.text.length && !final)) {
        if (!final) throw NEED_MORE;
        this.line = startLine;
        this.fail(column, "unterminated quoted cell");
      }
      const chunk = this.text.slice(from, close);
      value += chunk;
      this.line += countNewlines(chunk);
      if (this.text[close + 1] !== '"') {
        this.pos = close + 1;
        break;
      }
      value += '"';
      from = close + 2;
    }
    const next = this.text[this.pos];
    if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
      this.fail(column, "unexpected text after a closing quote");
    }
    return { text: value, line: startLine, quoted: true };
  }

  private fail(column: number, reason: string): never {
    throw new DatasetError({ file: this.file, line: this.line, column, reason });
  }
}

function countNewlines(text: string): number {
  let count = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) count++;
  return count;
}

function isBlankRow(row: CsvRow): boolean {
  const only = row.cells[0];
  return row.cells.length === 1 && only !== undefined && !only.quoted && only.text === "";
}

/**
 * Parses CSV text: a header row naming every schema field exactly once (any order, no unknown columns),
 * then one record per row. Blank lines are allowed only at the end. Throws `DatasetError` on any problem.
 */
export function parseCsv(
  text: string,
  schema: Schema,
  file: string,
  options: LoadOptions = {},
): ParsedDataset {
  const rows = tokenizeCsv(text, file);
  const { sink, result } = collectingSink(schema, file, options);
  const reader = new CsvRowReader(schema, sink);
  for (const row of rows) reader.push(row);
  reader.end();
  return result();
}

/**
 * Turns tokenized rows into records: the first non-blank row is the header; a blank row is an error
 * ("missing header row" before the header, "empty line" after it) unless only blank rows follow it.
 */
class CsvRowReader {
  private columns: { spec: FieldSpec; index: number }[] | undefined;
  private firstPendingBlank: CsvRow | undefined;

  constructor(
    private readonly schema: Schema,
    private readonly sink: RecordSink,
  ) {}

  push(row: CsvRow): void {
    if (isBlankRow(row)) {
      this.firstPendingBlank ??= row;
      return;
    }
    const blank = this.firstPendingBlank;
    if (blank !== undefined) {
      this.sink.fail(blank.line, 1, this.columns === undefined ? "missing header row" : "empty line");
    }
    if (this.columns === undefined) this.columns = mapHeader(row, this.schema, this.sink);
    else this.sink.add(csvRecord(row, this.columns, this.schema, this.sink), row.line);
  }

  end(): void {
    if (this.columns === undefined) this.sink.fail(1, 1, "missing header row");
  }
}

/** Maps each CSV column to its schema field spec and field index. */
function mapHeader(header: CsvRow, schema: Schema, sink: RecordSink): { spec: FieldSpec; index: number }[] {
  const byName = new Map(schema.fields.map((spec, index) => [spec.name, { spec, index }]));
  const seen = new Set<string>();
  const columns = header.cells.map((cell, i) => {
    const field = byName.get(cell.text);
    if (field === undefined) {
      sink.fail(
        header.line,
        i + 1,
        `unknown column ${JSON.stringify(cell.text)} (schema fields: ${fieldList(schema)})`,
      );
    }
    if (seen.has(cell.text)) sink.fail(header.line, cell.text, "duplicate column");
    seen.add(cell.text);
    return field;
  });
  for (const spec of schema.fields) {
    if (!seen.has(spec.name)) sink.fail(header.line, spec.name, "missing column in header");
  }
  return columns;
}

function csvRecord(
  row: CsvRow,
  columns: readonly { spec: FieldSpec; index: number }[],
  schema: Schema,
  sink: RecordSink,
): bigint[] {
  if (isBlankRow(row)) sink.fail(row.line, 1, "empty line");
  if (row.cells.length !== columns.length) {
    const column = Math.min(row.cells.length, columns.length) + 1;
    sink.fail(row.line, column, `expected ${columns.length} columns, found ${row.cells.length}`);
  }
  const record = new Array<bigint>(schema.fields.length);
  row.cells.forEach((cell, i) => {
    const { spec, index } = columns[i] as { spec: FieldSpec; index: number };
    record[index] = sink.encode(spec, cell.text, cell.line);
  });
  return record;
}

// ---------------------------------------------------------------------------------------------------------
// JSONL

/**
 * Parses JSONL text: one JSON object per non-blank line (LF or CRLF), keys exactly the schema fields (no
 * unknown, missing or repeated keys; `null` counts as missing). Throws `DatasetError` on any problem.
 */
export function parseJsonl(
  text: string,
  schema: Schema,
  file: string,
  options: LoadOptions = {},
): ParsedDataset {
  const { sink, result } = collectingSink(schema, file, options);
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split("\n");
  lines.forEach((rawLine, i) => {
    jsonlLine(rawLine, i + 1, schema, sink);
  });
  return result();
}

/** Validates one JSONL line (blank lines are skipped) and adds its record. */
function jsonlLine(rawLine: string, line: number, schema: Schema, sink: RecordSink): void {
  const content = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
  if (content.trim() === "") return;
  sink.add(jsonlRecord(content, line, schema, sink), line);
}

function jsonlRecord(content: string, line: number, schema: Schema, sink: RecordSink): bigint[] {
  const object = parseJsonObject(content, line, sink);
  const names = new Set(schema.fields.map((spec) => spec.name));
  for (const key of Object.keys(object)) {
    if (!names.has(key)) sink.fail(line, key, `unknown key (schema fields: ${fieldList(schema)})`);
  }
  return schema.fields.map((spec) => {
    if (!Object.hasOwn(object, spec.name)) sink.fail(line, spec.name, "missing key");
    return sink.encode(spec, object[spec.name], line);
  });
}

/** One JSONL line read strictly: a repeated key would make the row ambiguous (JSON.parse keeps the last). */
function parseJsonObject(content: string, line: number, sink: RecordSink): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(content);
  } catch (error) {
    if (!(error instanceof JsonTextError)) throw error;
    if (error.duplicateKey !== undefined && error.path === "$") {
      sink.fail(line, error.duplicateKey, "duplicate key in object");
    }
    sink.fail(line, error.column, `malformed JSON: ${error.reason}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    sink.fail(line, 1, "expected a JSON object");
  }
  return value as Record<string, unknown>;
}
