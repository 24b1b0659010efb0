/**
 * @module dataset/errors
 *
 * Typed errors of the dataset module. Each carries machine-readable location fields so callers (CLI, service)
 * can report them without parsing messages.
 *
 * Security caveat: `DatasetError` messages quote (truncated) cell values from the operator's private file.
 * They are meant for the operator's console; never forward them to partners verbatim.
 */
import { InputError } from "../util/errors.ts";

/** A path into a JSON value, as zod reports it. */
export type JsonPath = ReadonlyArray<PropertyKey>;

/** Formats `["fields", 2, "bits"]` as `fields[2].bits` (the root is `$`). */
export function formatJsonPath(path: JsonPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "$" : out;
}

/** The dataset schema JSON is malformed; `path` points at the offending element. */
export class SchemaError extends InputError {
  override readonly path: string;
  /** `where` says where in words (`field "x"`); the message names `path` when it is not given. */
  constructor(
    path: string,
    readonly reason: string,
    where?: string,
  ) {
    super("invalid_schema", `schema ${where ?? path}: ${reason}`, { path });
    this.path = path;
  }
}

/** Where a dataset row went wrong: the column is a schema field name or a 1-based column number. */
export interface DatasetErrorLocation {
  readonly file: string;
  readonly line: number;
  readonly column: string | number;
  readonly reason: string;
}

/** A dataset file was rejected; the whole load fails, nothing partial is returned. */
export class DatasetError extends InputError implements DatasetErrorLocation {
  readonly file: string;
  readonly line: number;
  readonly column: string | number;
  readonly reason: string;
  constructor(location: DatasetErrorLocation) {
    // JSON quoting keeps hostile column names (quotes, line breaks) from forging log lines.
    const column =
      typeof location.column === "number"
        ? String(location.column)
        : JSON.stringify(truncate(location.column));
    super("invalid_records", `${location.file}:${location.line}: column ${column}: ${location.reason}`, {
      path: `${location.file}:${location.line}`,
    });
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
    this.reason = location.reason;
  }
}

/** A dataset manifest is structurally malformed (as opposed to merely carrying a bad signature). */
export class ManifestError extends InputError {
  override readonly path: string;
  constructor(
    path: string,
    readonly reason: string,
  ) {
    super("invalid_manifest", `manifest ${path}: ${reason}`, { path });
    this.path = path;
  }
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
