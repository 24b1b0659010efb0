/**
 * @module dataset/schema
 *
 * Dataset schema (design.md section 1): parsing and validation of the schema JSON, field widths, and the
 * encoding of record values to the unsigned integers the circuits see (uint -> itself, enum -> index,
 * bool -> 0/1, date -> day number since 1970-01-01 in {@link DATE_BITS} bits, dataset/date.ts; string-key -> a
 * `bits`-bit keyed hash of a name, dataset/string-key.ts). `schemaHash` binds a manifest to its schema.
 *
 * Security caveats: field order is the circuit field index, so reordering fields changes every commitment;
 * enum encodings depend on the order of `values`. Encoding is strict on purpose (no trimming, no leading
 * zeros, no signs, no floats) so that one textual record has exactly one encoding. A string-key value is
 * encoded here only as its (already hashed) integer key: names are hashed by the loader and the service,
 * which hold the operator's secret; the schema module never sees it.
 */
import { z } from "zod";
import { CANONICAL_DECIMAL } from "../core/field.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { describeIssue, type ValidationIssue } from "../util/zod-issues.ts";
import { DATE_BITS, formatDayNumber, MAX_DATE, MIN_DATE, parseIsoDate } from "./date.ts";
import { formatJsonPath, SchemaError } from "./errors.ts";

export interface UintFieldSpec {
  readonly name: string;
  readonly type: "uint";
  readonly bits: number;
}
export interface EnumFieldSpec {
  readonly name: string;
  readonly type: "enum";
  readonly values: readonly string[];
}
export interface BoolFieldSpec {
  readonly name: string;
  readonly type: "bool";
}
/** A calendar date: ISO `YYYY-MM-DD` in files and queries, a {@link DATE_BITS}-bit day number in circuits. */
export interface DateFieldSpec {
  readonly name: string;
  readonly type: "date";
}
/**
 * A name (user name) in files, a `bits`-bit keyed hash of it in records, queries and circuits
 * (dataset/string-key.ts). Only the schema's key field may be one.
 */
export interface StringKeyFieldSpec {
  readonly name: string;
  readonly type: "string-key";
  readonly bits: number;
}
export type FieldSpec = UintFieldSpec | EnumFieldSpec | BoolFieldSpec | DateFieldSpec | StringKeyFieldSpec;

export interface Schema {
  readonly fields: readonly FieldSpec[];
  /** Name of the `uint` or `string-key` field whose values are unique per dataset (membership queries). */
  readonly key?: string;
}

/**
 * A decoded (display) value: uint as number when safe, else bigint; enum as its string; bool as boolean;
 * date as its ISO string.
 */
export type DecodedValue = number | bigint | string | boolean;

/** A value shaped like an ISO date, for the hint when one lands in a uint column. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

export const FIELD_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_UINT_BITS = 64;
/** Widest string key: every key is a JSON-safe integer, so a number in a query is always a key, never a name. */
export const MAX_STRING_KEY_BITS = 53;
export const MAX_ENUM_VALUES = 2 ** 16;
/** Circuit clauses address fields with an 8-bit index (design.md section 3). */
export const MAX_FIELDS = 256;

const fieldName = z.string().regex(FIELD_NAME_PATTERN, "must match /^[A-Za-z_][A-Za-z0-9_]*$/");

const uintSpec = z.strictObject({
  name: fieldName,
  type: z.literal("uint"),
  bits: z.int().min(1).max(MAX_UINT_BITS),
});

const enumSpec = z.strictObject({
  name: fieldName,
  type: z.literal("enum"),
  values: z
    .array(
      z
        .string()
        .min(1, "enum values must be non-empty strings")
        .transform((value) => value.normalize("NFC")),
    )
    .min(1, "an enum needs at least one value")
    .max(MAX_ENUM_VALUES, `an enum has at most ${MAX_ENUM_VALUES} values`)
    .superRefine((values, ctx) => {
      const seen = new Set<string>();
      values.forEach((value, index) => {
        if (seen.has(value))
          ctx.addIssue({ code: "custom", path: [index], message: `duplicate value "${value}"` });
        seen.add(value);
      });
    }),
});

const boolSpec = z.strictObject({ name: fieldName, type: z.literal("bool") });
const dateSpec = z.strictObject({ name: fieldName, type: z.literal("date") });
const stringKeySpec = z.strictObject({
  name: fieldName,
  type: z.literal("string-key"),
  bits: z.int().min(1).max(MAX_STRING_KEY_BITS),
});

const schemaJson = z
  .strictObject({
    fields: z
      .array(z.discriminatedUnion("type", [uintSpec, enumSpec, boolSpec, dateSpec, stringKeySpec]))
      .min(1, "a schema needs at least one field")
      .max(MAX_FIELDS, `a schema has at most ${MAX_FIELDS} fields`),
    key: z.string().optional(),
  })
  .superRefine((schema, ctx) => {
    const seen = new Set<string>();
    schema.fields.forEach((field, index) => {
      if (seen.has(field.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["fields", index, "name"],
          message: `duplicate field "${field.name}"`,
        });
      }
      seen.add(field.name);
      if (field.type === "string-key" && field.name !== schema.key) {
        ctx.addIssue({
          code: "custom",
          path: ["fields", index, "type"],
          message: `a string-key field must be the schema's key: add "key": ${JSON.stringify(field.name)}`,
        });
      }
    });
    if (schema.key === undefined) return;
    const keyField = schema.fields.find((field) => field.name === schema.key);
    if (keyField === undefined) {
      ctx.addIssue({ code: "custom", path: ["key"], message: `key "${schema.key}" is not a field` });
    } else if (keyField.type !== "uint" && keyField.type !== "string-key") {
      ctx.addIssue({
        code: "custom",
        path: ["key"],
        message: `key "${schema.key}" must be a uint or string-key field`,
      });
    }
  });

/** Validates schema JSON; throws `SchemaError` (with the path of the first problem). Returns a frozen copy. */
export function parseSchema(json: unknown): Schema {
  const result = schemaJson.safeParse(json);
  if (!result.success) {
    throw schemaIssue(json, result.error.issues[0]);
  }
  const fields = result.data.fields.map((field) =>
    Object.freeze(
      field.type === "enum" ? { ...field, values: Object.freeze([...field.values]) } : { ...field },
    ),
  );
  const schema: Schema = { fields: Object.freeze(fields) };
  return Object.freeze(result.data.key === undefined ? schema : { ...schema, key: result.data.key });
}

/** A `SchemaError` for a zod issue: in words, naming the field by its name when the issue is inside one. */
function schemaIssue(json: unknown, issue: ValidationIssue | undefined): SchemaError {
  if (issue === undefined) return new SchemaError("$", "invalid schema");
  const [top, index] = issue.path;
  const fields = (json as { fields?: unknown } | null)?.fields;
  const name =
    top === "fields" && typeof index === "number" && Array.isArray(fields)
      ? (fields[index] as { name?: unknown } | undefined)?.name
      : undefined;
  const path = formatJsonPath(issue.path);
  const where = typeof name === "string" ? `field ${JSON.stringify(name)} (${path})` : undefined;
  return new SchemaError(path, describeIssue(issue), where);
}

/**
 * Bits a field's encoded value occupies: uint and string-key -> bits, enum -> ceil(log2(len)) (min 1),
 * bool -> 1, date -> {@link DATE_BITS}.
 */
export function fieldWidth(spec: FieldSpec): number {
  switch (spec.type) {
    case "uint":
    case "string-key":
      return spec.bits;
    case "enum":
      // (len - 1) in binary has exactly ceil(log2(len)) digits for len >= 2, and "0" (1 digit) for len = 1.
      return Math.max(0, spec.values.length - 1).toString(2).length;
    case "bool":
      return 1;
    case "date":
      return DATE_BITS;
  }
}

/** The widest field of the schema; the commitment layout's width W must be at least this. */
export function maxFieldWidth(schema: Schema): number {
  return Math.max(...schema.fields.map(fieldWidth));
}

/** Index (circuit field index) of the field called `name`; throws `RangeError` listing known fields. */
export function fieldIndex(schema: Schema, name: string): number {
  const index = schema.fields.findIndex((field) => field.name === name);
  if (index < 0) {
    const known = schema.fields.map((field) => field.name).join(", ");
    throw new RangeError(`unknown field "${name}" (known fields: ${known})`);
  }
  return index;
}

/** Index of the key field, or undefined when the schema has no key. */
export function keyFieldIndex(schema: Schema): number | undefined {
  return schema.key === undefined ? undefined : fieldIndex(schema, schema.key);
}

/** The key field when it is a string key (names hashed by the operator), else undefined. */
export function stringKeyField(schema: Schema): StringKeyFieldSpec | undefined {
  const index = keyFieldIndex(schema);
  const spec = index === undefined ? undefined : schema.fields[index];
  return spec?.type === "string-key" ? spec : undefined;
}

/** Hex SHA-256 of the canonical JSON of the schema (design.md section 1). */
export function schemaHash(schema: Schema): string {
  return canonicalJsonSha256(schema);
}

/** Why a raw value could not be encoded: the error class to throw and the reason without location. */
export interface EncodeFailure {
  readonly kind: "type" | "range";
  readonly reason: string;
}

/**
 * Encodes `raw` to its circuit value, or describes why not. Used by `encodeValue` and by the loader, which
 * needs the bare reason to attach file/line/column.
 */
export function tryEncodeValue(spec: FieldSpec, raw: unknown): bigint | EncodeFailure {
  switch (spec.type) {
    case "uint":
      return encodeUint(spec.bits, raw);
    case "enum":
      return encodeEnum(spec.values, raw);
    case "bool":
      return encodeBool(raw);
    case "date":
      return encodeDate(raw);
    case "string-key":
      return encodeHashedKey(spec.bits, raw);
  }
}

/**
 * Encodes one value per design.md section 1. uint: non-negative safe integer, bigint, or decimal string
 * (no sign, leading zeros or whitespace), below 2^bits. enum: one of `values`. bool: true/false or the
 * strings "true"/"false"/"1"/"0". date: an ISO `YYYY-MM-DD` string. string-key: the hashed key as an integer
 * (a name is hashed by the loader or the service, never here). Throws `TypeError` (wrong type) or `RangeError` (bad value), prefixed
 * with `where` (default: `field "<name>"`).
 */
export function encodeValue(spec: FieldSpec, raw: unknown, where?: string): bigint {
  const result = tryEncodeValue(spec, raw);
  if (typeof result === "bigint") return result;
  const message = `${where ?? `field "${spec.name}"`}: ${result.reason}`;
  throw result.kind === "type" ? new TypeError(message) : new RangeError(message);
}

/** Inverse of `encodeValue` for display; throws `RangeError` when `v` is not a valid encoding. */
export function decodeValue(spec: FieldSpec, v: bigint): DecodedValue {
  if (typeof v !== "bigint") throw new TypeError(`field "${spec.name}": encoded value must be a bigint`);
  const width = fieldWidth(spec);
  if (v < 0n || v >= 1n << BigInt(width)) {
    throw new RangeError(`field "${spec.name}": encoded value ${v} does not fit ${width} bits`);
  }
  switch (spec.type) {
    case "uint":
    case "string-key":
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    case "enum": {
      const value = spec.values[Number(v)];
      if (value === undefined) {
        throw new RangeError(
          `field "${spec.name}": encoded value ${v} is not an index of its ${spec.values.length} values`,
        );
      }
      return value;
    }
    case "bool":
      return v === 1n;
    case "date":
      return formatDayNumber(v);
  }
}

function encodeUint(bits: number, raw: unknown): bigint | EncodeFailure {
  const parsed = parseUint(raw);
  if (typeof parsed !== "bigint") return parsed;
  const max = (1n << BigInt(bits)) - 1n;
  if (parsed > max) return { kind: "range", reason: `value ${parsed} exceeds uint${bits} (max ${max})` };
  return parsed;
}

/** A string key's integer (a number or bigint, never a string: a string is a name, hashed elsewhere). */
function encodeHashedKey(bits: number, raw: unknown): bigint | EncodeFailure {
  if (typeof raw === "string") {
    return {
      kind: "type",
      reason: `${quote(raw)} is a name: names of a string-key field are hashed by the operator (load the file with the dataset secret, or ask through the service); here only the hashed key, a number, is accepted`,
    };
  }
  return encodeUint(bits, raw);
}

function parseUint(raw: unknown): bigint | EncodeFailure {
  if (typeof raw === "bigint") {
    return raw < 0n ? { kind: "range", reason: `value ${raw} is negative` } : raw;
  }
  if (typeof raw === "number") {
    if (!Number.isFinite(raw) || !Number.isInteger(raw)) {
      return { kind: "range", reason: `value ${raw} is not an integer` };
    }
    if (raw < 0) return { kind: "range", reason: `value ${raw} is negative` };
    if (!Number.isSafeInteger(raw)) {
      return {
        kind: "range",
        reason: `value ${raw} is beyond the safe integer range; write it as a decimal string`,
      };
    }
    return BigInt(raw);
  }
  if (typeof raw === "string") {
    if (!CANONICAL_DECIMAL.test(raw)) {
      const hint = ISO_DATE.test(raw)
        ? '; it looks like a date (YYYY-MM-DD): a uint holds numbers, so declare the field as {"type": "date"} or store day numbers'
        : "";
      return {
        kind: "range",
        reason: `malformed number ${quote(raw)} (expected decimal digits without sign, leading zeros or whitespace)${hint}`,
      };
    }
    // Anything this long is far beyond 2^64; avoid echoing or parsing huge strings.
    if (raw.length > 30) return { kind: "range", reason: `value ${quote(raw)} is too large` };
    return BigInt(raw);
  }
  return { kind: "type", reason: `expected a non-negative integer, got ${describeType(raw)}` };
}

function encodeEnum(values: readonly string[], raw: unknown): bigint | EncodeFailure {
  if (typeof raw !== "string") return { kind: "type", reason: `expected a string, got ${describeType(raw)}` };
  // NFC: a value typed in decomposed form (e + U+0301) is the same value as the schema's composed one.
  const index = values.indexOf(raw.normalize("NFC"));
  if (index < 0)
    return { kind: "range", reason: `unknown value ${quote(raw)} (expected one of: ${listValues(values)})` };
  return BigInt(index);
}

function encodeDate(raw: unknown): bigint | EncodeFailure {
  if (typeof raw !== "string") {
    return { kind: "type", reason: `expected an ISO date string YYYY-MM-DD, got ${describeType(raw)}` };
  }
  const days = parseIsoDate(raw);
  if (typeof days === "string") {
    return { kind: "range", reason: `invalid date ${quote(raw)}: ${days} (${MIN_DATE} .. ${MAX_DATE})` };
  }
  return BigInt(days);
}

function encodeBool(raw: unknown): bigint | EncodeFailure {
  if (raw === true || raw === "true" || raw === "1") return 1n;
  if (raw === false || raw === "false" || raw === "0") return 0n;
  if (typeof raw === "string") {
    return { kind: "range", reason: `invalid bool ${quote(raw)} (expected true, false, 1 or 0)` };
  }
  return { kind: "type", reason: `expected a boolean, got ${describeType(raw)}` };
}

/** JSON-quotes a value for messages, truncated so a huge cell cannot flood logs. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function listValues(values: readonly string[]): string {
  const shown = values.slice(0, 12).join(", ");
  return values.length > 12 ? `${shown}, … (${values.length} values)` : shown;
}

function describeType(raw: unknown): string {
  if (raw === null) return "null";
  if (Array.isArray(raw)) return "an array";
  if (typeof raw === "number") return `number ${raw}`;
  return typeof raw;
}
