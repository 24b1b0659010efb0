/**
 * @module dataset/load
 *
 * Loads a dataset file (CSV per RFC 4180, or JSONL) against a schema into encoded records. Any bad row
 * rejects the whole load with a `DatasetError` carrying file, line, column and reason; nothing partial is
 * ever returned, so a commitment can never silently cover a truncated or half-parsed dataset.
 *
 * Security caveats: values are parsed strictly (see `encodeValue`); keys must be unique; invalid UTF-8 is
 * refused rather than replaced. Error messages quote truncated cell values and must stay on the operator's
 * side. The whole file is held in memory.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { DatasetError } from "./errors.ts";
import { type FieldSpec, keyFieldIndex, type Schema, tryEncodeValue } from "./schema.ts";

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

/** Reads `path` (format by extension: .csv or .jsonl) and parses it against `schema`. */
export async function loadDataset(path: string, schema: Schema): Promise<LoadedDataset> {
  const format = formatOf(path);
  const file = basename(path);
  const text = decodeUtf8(await readFile(path), file);
  const parsed = format === "csv" ? parseCsv(text, schema, file) : parseJsonl(text, schema, file);
  return { ...parsed, file, format };
}

function formatOf(path: string): DatasetFormat {
  const extension = extname(path).toLowerCase();
  if (extension === ".csv") return "csv";
  if (extension === ".jsonl") return "jsonl";
  throw new RangeError(
    `unsupported dataset file extension "${extension}" in ${path} (expected .csv or .jsonl)`,
  );
}

/** Strict UTF-8 decoding; on failure, finds the first bad line so the error can point at it. */
function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
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

/** Collects encoded records and enforces key uniqueness. */
class RecordSink {
  readonly records: bigint[][] = [];
  readonly keys: Map<bigint, number> | undefined;
  private readonly keyIndex: number | undefined;
  private readonly recordLines: number[] = [];

  constructor(
    private readonly schema: Schema,
    private readonly file: string,
  ) {
    this.keyIndex = keyFieldIndex(schema);
    this.keys = this.keyIndex === undefined ? undefined : new Map();
  }

  /** Encodes one value; empty/absent is "missing value". Throws `DatasetError`. */
  encode(spec: FieldSpec, raw: unknown, line: number): bigint {
    if (raw === "" || raw === null || raw === undefined) this.fail(line, spec.name, "missing value");
    const result = tryEncodeValue(spec, raw);
    if (typeof result !== "bigint") this.fail(line, spec.name, result.reason);
    return result;
  }

  add(record: bigint[], line: number): void {
    if (this.keys !== undefined && this.keyIndex !== undefined) {
      const key = record[this.keyIndex] as bigint;
      const previous = this.keys.get(key);
      if (previous !== undefined) {
        const firstLine = this.recordLines[previous];
        this.fail(line, this.schema.key as string, `duplicate key ${key} (first seen on line ${firstLine})`);
      }
      this.keys.set(key, this.records.length);
    }
    this.records.push(record);
    this.recordLines.push(line);
  }

  fail(line: number, column: string | number, reason: string): never {
    throw new DatasetError({ file: this.file, line, column, reason });
  }

  result(): ParsedDataset {
    return { records: this.records, keys: this.keys, rowCount: this.records.length };
  }
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
  const tokenizer = new CsvTokenizer(text, file);
  const rows: CsvRow[] = [];
  while (!tokenizer.done()) rows.push(tokenizer.row());
  return rows;
}

class CsvTokenizer {
  private pos: number;
  private line = 1;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  }

  done(): boolean {
    return this.pos >= this.text.length;
  }

  row(): CsvRow {
    const row: CsvRow = { line: this.line, cells: [] };
    for (;;) {
      const column = row.cells.length + 1;
      row.cells.push(this.text[this.pos] === '"' ? this.quotedCell(column) : this.plainCell(column));
      if (this.endOfCell(column)) return row;
    }
  }

  /** Consumes the separator after a cell; true when the row ended (line end or end of text). */
  private endOfCell(column: number): boolean {
    const char = this.text[this.pos];
    if (char === ",") {
      this.pos++;
      return false;
    }
    if (char === undefined) return true;
    if (char === "\r" && this.text[this.pos + 1] !== "\n") {
      this.fail(column, "bare carriage return (line ends must be LF or CRLF)");
    }
    this.pos += char === "\r" ? 2 : 1;
    this.line++;
    return true;
  }

  private plainCell(column: number): CsvCell {
    const start = this.pos;
    let end = start;
    for (; end < this.text.length; end++) {
      const char = this.text[end];
      if (char === "," || char === "\n" || char === "\r") break;
      if (char === '"')
        this.fail(column, "quote inside an unquoted cell (quote the whole cell and double the quote)");
    }
    this.pos = end;
    return { text: this.text.slice(start, end), line: this.line, quoted: false };
  }

  private quotedCell(column: number): CsvCell {
    const startLine = this.line;
    let value = "";
    let from = this.pos + 1;
    for (;;) {
      const close = this.text.indexOf('"', from);
      if (close < 0) {
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
export function parseCsv(text: string, schema: Schema, file: string): ParsedDataset {
  const rows = tokenizeCsv(text, file);
  while (rows.length > 0 && isBlankRow(rows[rows.length - 1] as CsvRow)) rows.pop();
  const sink: RecordSink = new RecordSink(schema, file);
  const header = rows[0];
  if (header === undefined || isBlankRow(header)) sink.fail(header?.line ?? 1, 1, "missing header row");
  const columns = mapHeader(header, schema, sink);
  for (const row of rows.slice(1)) sink.add(csvRecord(row, columns, schema, sink), row.line);
  return sink.result();
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
export function parseJsonl(text: string, schema: Schema, file: string): ParsedDataset {
  const sink = new RecordSink(schema, file);
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split("\n");
  lines.forEach((rawLine, i) => {
    const line = i + 1;
    const content = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (content.trim() === "") return;
    sink.add(jsonlRecord(content, line, schema, sink), line);
  });
  return sink.result();
}

function jsonlRecord(content: string, line: number, schema: Schema, sink: RecordSink): bigint[] {
  const object = parseJsonObject(content, line, sink);
  const names = new Set(schema.fields.map((spec) => spec.name));
  const seen = new Set<string>();
  for (const key of topLevelKeys(content)) {
    if (!names.has(key)) sink.fail(line, key, `unknown key (schema fields: ${fieldList(schema)})`);
    if (seen.has(key)) sink.fail(line, key, "duplicate key in object");
    seen.add(key);
  }
  return schema.fields.map((spec) => {
    if (!Object.hasOwn(object, spec.name)) sink.fail(line, spec.name, "missing key");
    return sink.encode(spec, object[spec.name], line);
  });
}

function parseJsonObject(content: string, line: number, sink: RecordSink): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message)?.[1];
    sink.fail(line, position === undefined ? 1 : Number(position) + 1, `malformed JSON: ${message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    sink.fail(line, 1, "expected a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Keys of the outermost object of already-validated JSON text, in order and with repeats (JSON.parse
 * silently keeps the last of repeated keys, which would make a row ambiguous).
 */
export function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const char = json[i];
    if (char === "{" || char === "[") depth++;
    else if (char === "}" || char === "]") depth--;
    else if (char === '"') {
      const end = endOfString(json, i);
      if (depth === 1 && json[skipWhitespace(json, end + 1)] === ":")
        keys.push(JSON.parse(json.slice(i, end + 1)));
      i = end;
    }
  }
  return keys;
}

/** Index of the closing quote of the JSON string starting at `start`. */
function endOfString(json: string, start: number): number {
  for (let i = start + 1; i < json.length; i++) {
    if (json[i] === "\\") i++;
    else if (json[i] === '"') return i;
  }
  return json.length - 1;
}

function skipWhitespace(json: string, from: number): number {
  let i = from;
  while (json[i] === " " || json[i] === "\t" || json[i] === "\n" || json[i] === "\r") i++;
  return i;
}
