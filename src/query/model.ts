/**
 * @module query/model
 *
 * The readable query of design.md section 3: zod schemas for its structure, TypeScript types, and
 * `parseQuery`, which validates a query against a dataset schema (known fields, encodable values,
 * `between` bounds in order, distinct `in` values, `sum` over uint fields only, `membership` only with a key,
 * only eq/neq/in on a string key). A string key's values here are its hashed keys (integers); names are
 * mapped to them before, by the operator (query/named-keys.ts).
 * `resolveQuery` runs the same checks and also returns every value in its circuit encoding (section 1).
 *
 * Security caveats:
 * - `parseQuery`/`resolveQuery` are the only ways untrusted JSON becomes a query; the canonical form, the
 *   lowering and the evaluators all re-run them, so a hand-built object cannot skip a check.
 * - JSON numbers above 2^53-1 are refused rather than silently rounded; such values must be decimal strings.
 * - Errors quote only the requester's input and the public schema, never record data.
 */
import { z } from "zod";
import { canonicalDecimalSchema } from "../core/formats.ts";
import { formatDayNumber } from "../dataset/date.ts";
import { encodeValue, type FieldSpec, fieldWidth, type Schema } from "../dataset/schema.ts";
import { describeIssue } from "../util/zod-issues.ts";
import { formatPath, QueryError } from "./errors.ts";

/** Operators taking a single value. */
export const SINGLE_VALUE_OPS = ["eq", "neq", "lt", "lte", "gt", "gte"] as const;
/** All operators, in the order used to sort canonical clauses. */
export const OPS = [...SINGLE_VALUE_OPS, "between", "in"] as const;
/** Aggregate kinds. */
export const AGGREGATE_KINDS = ["count", "sum", "threshold", "membership"] as const;

export type SingleValueOp = (typeof SINGLE_VALUE_OPS)[number];
export type Op = (typeof OPS)[number];
export type AggregateKind = (typeof AGGREGATE_KINDS)[number];

/** A schema value as written in a query: enum string, boolean, or integer (decimal string allowed). */
export type ScalarValue = string | number | boolean | bigint;
/** A non-negative integer as written in a query: safe JSON number, bigint, or decimal string. */
export type IntegerLike = number | bigint | string;

export type SingleValueClause = { field: string; op: SingleValueOp; value: ScalarValue };
export type BetweenClause = { field: string; op: "between"; value: [ScalarValue, ScalarValue] };
export type InClause = { field: string; op: "in"; value: ScalarValue[] };
export type Clause = SingleValueClause | BetweenClause | InClause;

export type Aggregate =
  | { kind: "count" }
  | { kind: "sum"; field: string; clamp?: [IntegerLike, IntegerLike] }
  | { kind: "threshold"; k: IntegerLike }
  | { kind: "membership"; key: IntegerLike };

export interface Query {
  predicate: Clause[];
  aggregate: Aggregate;
}

/** A clause with its field resolved and its values encoded (section 1). */
export interface ResolvedClause {
  field: string;
  fieldIndex: number;
  spec: FieldSpec;
  op: Op;
  /** One value for single-value ops, `[lo, hi]` for between, the set (as given) for in. */
  values: bigint[];
}

export type ResolvedAggregate =
  | { kind: "count" }
  | { kind: "sum"; field: string; fieldIndex: number; clamp?: readonly [bigint, bigint] }
  | { kind: "threshold"; k: bigint }
  | { kind: "membership"; key: bigint; keyIndex: number };

export interface ResolvedQuery {
  predicate: ResolvedClause[];
  aggregate: ResolvedAggregate;
}

/** Structural caps, independent of any circuit (circuit limits are enforced when lowering). */
export interface QueryLimits {
  /** Most clauses in `predicate` (P). */
  maxClauses: number;
  /** Most values in one `in` clause (M). */
  maxSetSize: number;
}

export const DEFAULT_QUERY_LIMITS: Readonly<QueryLimits> = Object.freeze({ maxClauses: 32, maxSetSize: 64 });

/** The operators that mean something on a hashed key (an order of hashes means nothing). */
const STRING_KEY_OPS: ReadonlySet<Op> = new Set(["eq", "neq", "in"]);

/** Longest accepted string value; bounds the work done on hostile input. */
const MAX_STRING_LENGTH = 256;

const scalarValueSchema = z.union([z.string().max(MAX_STRING_LENGTH), z.number(), z.boolean(), z.bigint()], {
  error: `expected a string (at most ${MAX_STRING_LENGTH} characters), an integer or a boolean`,
});

const integerLikeSchema = z.union(
  [
    z
      .number()
      .refine(Number.isSafeInteger)
      .refine((n) => n >= 0),
    z.bigint().nonnegative(),
    canonicalDecimalSchema,
  ],
  { error: "expected a non-negative integer (write values above 2^53-1 as decimal strings)" },
);

const fieldNameSchema = z.string().min(1).max(MAX_STRING_LENGTH);

/** Builds the zod schema of a readable query for the given structural limits. */
export function querySchema(limits: QueryLimits = DEFAULT_QUERY_LIMITS) {
  checkLimits(limits);
  const clause = z.discriminatedUnion("op", [
    z.strictObject({ field: fieldNameSchema, op: z.enum(SINGLE_VALUE_OPS), value: scalarValueSchema }),
    z.strictObject({
      field: fieldNameSchema,
      op: z.literal("between"),
      value: z.tuple([scalarValueSchema, scalarValueSchema], { error: "between takes [lo, hi]" }),
    }),
    z.strictObject({
      field: fieldNameSchema,
      op: z.literal("in"),
      value: z
        .array(scalarValueSchema)
        .min(1, { error: "in takes at least one value" })
        .max(limits.maxSetSize, { error: `in takes at most ${limits.maxSetSize} values` }),
    }),
  ]);
  const aggregate = z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("count") }),
    z.strictObject({
      kind: z.literal("sum"),
      field: fieldNameSchema,
      clamp: z.tuple([integerLikeSchema, integerLikeSchema]).optional(),
    }),
    z.strictObject({ kind: z.literal("threshold"), k: integerLikeSchema }),
    z.strictObject({ kind: z.literal("membership"), key: integerLikeSchema }),
  ]);
  return z.strictObject({
    predicate: z
      .array(clause)
      .max(limits.maxClauses, { error: `predicate takes at most ${limits.maxClauses} clauses` }),
    aggregate,
  });
}

const defaultQuerySchema = querySchema();

/** Validates `json` as a query over `schema`; throws {@link QueryError} naming the offending path. */
export function parseQuery(json: unknown, schema: Schema, limits?: QueryLimits): Query {
  return analyzeQuery(json, schema, limits).query;
}

/** Validates like {@link parseQuery} and returns the query with fields resolved and values encoded. */
export function resolveQuery(json: unknown, schema: Schema, limits?: QueryLimits): ResolvedQuery {
  return analyzeQuery(json, schema, limits).resolved;
}

function analyzeQuery(
  json: unknown,
  schema: Schema,
  limits: QueryLimits | undefined,
): { query: Query; resolved: ResolvedQuery } {
  const zodSchema = limits === undefined ? defaultQuerySchema : querySchema(limits);
  const result = zodSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new QueryError(
      formatPath(issue?.path ?? []),
      issue === undefined ? "invalid query" : describeIssue(issue),
    );
  }
  const query: Query = result.data;
  const predicate = query.predicate.map((clause, index) => resolveClause(clause, index, schema));
  return { query, resolved: { predicate, aggregate: resolveAggregate(query.aggregate, schema) } };
}

function resolveClause(clause: Clause, index: number, schema: Schema): ResolvedClause {
  const at = `predicate[${index}]`;
  const fieldIndex = lookupField(schema, clause.field, `${at}.field`);
  const spec = schema.fields[fieldIndex] as FieldSpec;
  const base = { field: clause.field, fieldIndex, spec, op: clause.op };
  if (spec.type === "string-key" && !STRING_KEY_OPS.has(clause.op)) {
    throw new QueryError(
      `${at}.op`,
      `"${spec.name}" is a string key (a hash of a name): only eq, neq and in apply to it, not ${clause.op}`,
    );
  }
  if (clause.op === "between") {
    const lo = encodeFieldValue(spec, clause.value[0], `${at}.value[0]`);
    const hi = encodeFieldValue(spec, clause.value[1], `${at}.value[1]`);
    if (lo > hi) {
      throw new QueryError(`${at}.value`, `between needs lo <= hi, got lo = ${lo} > hi = ${hi} (encoded)`);
    }
    return { ...base, values: [lo, hi] };
  }
  if (clause.op === "in") {
    const values = clause.value.map((raw, j) => encodeFieldValue(spec, raw, `${at}.value[${j}]`));
    checkDistinct(values, `${at}.value`);
    return { ...base, values };
  }
  return { ...base, values: [encodeFieldValue(spec, clause.value, `${at}.value`)] };
}

function checkDistinct(values: readonly bigint[], path: string): void {
  const firstIndex = new Map<bigint, number>();
  values.forEach((value, j) => {
    const earlier = firstIndex.get(value);
    if (earlier !== undefined) {
      throw new QueryError(`${path}[${j}]`, `duplicate of ${path}[${earlier}]; in values must be distinct`);
    }
    firstIndex.set(value, j);
  });
}

function resolveAggregate(aggregate: Aggregate, schema: Schema): ResolvedAggregate {
  switch (aggregate.kind) {
    case "count":
      return { kind: "count" };
    case "sum": {
      const fieldIndex = lookupField(schema, aggregate.field, "aggregate.field");
      const spec = schema.fields[fieldIndex] as FieldSpec;
      if (spec.type !== "uint") {
        throw new QueryError("aggregate.field", `sum needs a uint field; "${spec.name}" is ${spec.type}`);
      }
      if (aggregate.clamp === undefined) return { kind: "sum", field: aggregate.field, fieldIndex };
      return { kind: "sum", field: aggregate.field, fieldIndex, clamp: resolveClamp(aggregate.clamp, spec) };
    }
    case "threshold":
      return { kind: "threshold", k: BigInt(aggregate.k) };
    case "membership": {
      if (schema.key === undefined) {
        throw new QueryError(
          "aggregate.key",
          "membership needs a schema with a key field; this schema has none",
        );
      }
      const keyIndex = lookupField(schema, schema.key, "aggregate.key");
      const key = encodeFieldValue(schema.fields[keyIndex] as FieldSpec, aggregate.key, "aggregate.key");
      return { kind: "membership", key, keyIndex };
    }
  }
}

/** Index of the field called `name`; QueryError listing the known fields otherwise. */
function lookupField(schema: Schema, name: string, path: string): number {
  const index = schema.fields.findIndex((spec) => spec.name === name);
  if (index < 0) {
    const known = schema.fields.map((spec) => spec.name).join(", ");
    throw new QueryError(path, `unknown field "${name}"; known fields: ${known}`);
  }
  return index;
}

/**
 * Encodes a query value for `spec` (section 1, via the schema module's strict `encodeValue`: enum strings,
 * booleans, safe integers, bigints, canonical decimal strings), reporting failures at `path`.
 */
export function encodeFieldValue(spec: FieldSpec, raw: ScalarValue, path: string): bigint {
  let encoded: bigint;
  try {
    encoded = encodeValue(spec, raw);
  } catch (error) {
    throw new QueryError(path, error instanceof Error ? error.message : String(error));
  }
  // Defensive: the rest of the module relies on encodings fitting the field width.
  if (typeof encoded !== "bigint" || encoded < 0n || encoded >> BigInt(fieldWidth(spec)) !== 0n) {
    throw new QueryError(path, `value does not fit ${spec.type} field "${spec.name}"`);
  }
  return encoded;
}

/**
 * The readable query value for an encoded value: enum string, boolean, ISO date, or integer
 * ({@link readableInteger}).
 */
export function readableValue(spec: FieldSpec, encoded: bigint): string | number | boolean {
  switch (spec.type) {
    case "uint":
    case "string-key":
      return readableInteger(encoded);
    case "bool":
      return encoded === 1n;
    case "date":
      return formatDayNumber(encoded);
    case "enum": {
      const value = spec.values[Number(encoded)];
      if (value === undefined)
        throw new RangeError(`enum field "${spec.name}" has no value at index ${encoded}`);
      return value;
    }
  }
}

/** A JSON-safe integer: a number when exactly representable (<= 2^53-1), a decimal string above. */
export function readableInteger(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

function checkLimits(limits: QueryLimits): void {
  for (const name of ["maxClauses", "maxSetSize"] as const) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`query limit ${name} must be a positive integer, got ${value}`);
    }
  }
}

/**
 * Clamping bounds of a sum (design.md 8.3): integers 0 <= lo <= hi <= the field's max, hi >= 1; each matching
 * record adds min(max(value, lo), hi), so one record moves the sum by at most hi.
 */
function resolveClamp(
  clamp: readonly [IntegerLike, IntegerLike],
  spec: FieldSpec,
): readonly [bigint, bigint] {
  const [lo, hi] = [BigInt(clamp[0]), BigInt(clamp[1])];
  const max = spec.type === "uint" ? (1n << BigInt(spec.bits)) - 1n : 0n;
  if (lo < 0n || hi < 1n || lo > hi || hi > max) {
    throw new QueryError(
      "aggregate.clamp",
      `clamp [${lo}, ${hi}] must satisfy 0 <= lo <= hi, 1 <= hi <= ${max} (the field's largest value)`,
    );
  }
  return [lo, hi];
}
