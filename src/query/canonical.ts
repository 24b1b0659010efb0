/**
 * @module query/canonical
 *
 * The canonical form of a query (design.md section 3), its hash and a readable English description.
 * Canonical form: clauses sorted by (field index, op, encoded values), exact duplicates removed, `in` values
 * sorted ascending by encoding and deduplicated, every value written in its readable normal form (enum string,
 * boolean, integer as a JSON number up to 2^53-1 and a decimal string above), aggregate as given.
 * Ops sort in the order eq, neq, lt, lte, gt, gte, between, in; encoded value lists compare element-wise,
 * then by length.
 *
 * Security caveats: `queryHash` is for display and deduplication only; the circuit binds the lowered public
 * elements (lower.ts), not this hash. Two semantically equal queries written differently (e.g. `lt 5` and
 * `lte 4`) hash differently; this is intended, as the canonical form only removes notational freedom.
 * Descriptions quote enum values that could be mistaken for syntax, so a hostile schema value cannot
 * make one clause read like several.
 */
import type { Schema } from "../dataset/schema.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import {
  type Aggregate,
  type Clause,
  OPS,
  type Query,
  type QueryLimits,
  type ResolvedAggregate,
  type ResolvedClause,
  type ResolvedQuery,
  readableInteger,
  readableValue,
  resolveQuery,
  type ScalarValue,
} from "./model.ts";

/** Orders resolved clauses by (field index, op, encoded values). */
export function compareResolvedClauses(a: ResolvedClause, b: ResolvedClause): number {
  if (a.fieldIndex !== b.fieldIndex) return a.fieldIndex - b.fieldIndex;
  const opDelta = OPS.indexOf(a.op) - OPS.indexOf(b.op);
  if (opDelta !== 0) return opDelta;
  const shared = Math.min(a.values.length, b.values.length);
  for (let i = 0; i < shared; i++) {
    const x = a.values[i] as bigint;
    const y = b.values[i] as bigint;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.values.length - b.values.length;
}

/** Sorts `in` sets, sorts clauses and drops exact duplicates. Pure: the input is not modified. */
export function canonicalizeClauses(clauses: readonly ResolvedClause[]): ResolvedClause[] {
  const normalized = clauses.map((clause) =>
    clause.op === "in" ? { ...clause, values: sortedDistinct(clause.values) } : clause,
  );
  normalized.sort(compareResolvedClauses);
  return normalized.filter(
    (clause, i) => i === 0 || compareResolvedClauses(normalized[i - 1] as ResolvedClause, clause) !== 0,
  );
}

function sortedDistinct(values: readonly bigint[]): bigint[] {
  const sorted = [...new Set(values)];
  sorted.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return sorted;
}

/** Validates `query` against `schema` and returns it resolved with clauses in canonical order. */
export function resolveCanonical(query: unknown, schema: Schema, limits?: QueryLimits): ResolvedQuery {
  const resolved = resolveQuery(query, schema, limits);
  return { predicate: canonicalizeClauses(resolved.predicate), aggregate: resolved.aggregate };
}

/** The canonical readable query (validated; throws QueryError like parseQuery). */
export function canonicalQuery(query: unknown, schema: Schema, limits?: QueryLimits): Query {
  const resolved = resolveCanonical(query, schema, limits);
  return {
    predicate: resolved.predicate.map(readableClause),
    aggregate: readableAggregate(resolved.aggregate, schema),
  };
}

/** The readable normal form of a resolved clause (shared by query/pass.ts). */
export function readableClause(clause: ResolvedClause): Clause {
  const values = clause.values.map((value) => readableValue(clause.spec, value));
  if (clause.op === "in") return { field: clause.field, op: "in", value: values };
  if (clause.op === "between") {
    return {
      field: clause.field,
      op: "between",
      value: [values[0] as ScalarValue, values[1] as ScalarValue],
    };
  }
  return { field: clause.field, op: clause.op, value: values[0] as ScalarValue };
}

function readableAggregate(aggregate: ResolvedAggregate, schema: Schema): Aggregate {
  switch (aggregate.kind) {
    case "count":
      return { kind: "count" };
    case "sum":
      return {
        kind: "sum",
        field: schema.fields[aggregate.fieldIndex]?.name ?? aggregate.field,
        ...(aggregate.clamp === undefined
          ? {}
          : { clamp: [readableInteger(aggregate.clamp[0]), readableInteger(aggregate.clamp[1])] }),
      };
    case "threshold":
      return { kind: "threshold", k: readableInteger(aggregate.k) };
    case "membership":
      return { kind: "membership", key: readableInteger(aggregate.key) };
  }
}

/** Hex SHA-256 of the canonical JSON (design.md section 6) of the canonical query. */
export function queryHash(query: unknown, schema: Schema, limits?: QueryLimits): string {
  return canonicalJsonSha256(canonicalQuery(query, schema, limits));
}

const OP_SYMBOLS: Record<Exclude<Clause["op"], "between" | "in">, string> = {
  eq: "=",
  neq: "≠",
  lt: "<",
  lte: "≤",
  gt: ">",
  gte: "≥",
};

/**
 * Readable English for the canonical form of `query`, e.g.
 * `count of records where country = FR AND edits ≥ 100`.
 */
export function describeQuery(query: unknown, schema: Schema, limits?: QueryLimits): string {
  const canonical = canonicalQuery(query, schema, limits);
  const condition = canonical.predicate.map(describeClause).join(" AND ");
  const hasCondition = canonical.predicate.length > 0;
  const aggregate = canonical.aggregate;
  switch (aggregate.kind) {
    case "count":
      return hasCondition ? `count of records where ${condition}` : "count of all records";
    case "sum": {
      const summed =
        aggregate.clamp === undefined
          ? aggregate.field
          : `${aggregate.field} clamped to [${String(aggregate.clamp[0])}, ${String(aggregate.clamp[1])}]`;
      return hasCondition ? `sum of ${summed} where ${condition}` : `sum of ${summed} over all records`;
    }
    case "threshold": {
      const k = String(aggregate.k);
      const noun = k === "1" ? "record" : "records";
      if (!hasCondition) return `whether at least ${k} ${noun} exist${k === "1" ? "s" : ""}`;
      return `whether at least ${k} ${noun} match${k === "1" ? "es" : ""} ${condition}`;
    }
    case "membership": {
      const base = `whether ${schema.key ?? "key"} ${String(aggregate.key)} exists`;
      return hasCondition ? `${base} and matches ${condition}` : base;
    }
  }
}

/** Readable English of one canonical clause (shared by query/pass.ts). */
export function describeClause(clause: Clause): string {
  switch (clause.op) {
    case "between":
      return `${clause.field} between ${describeValue(clause.value[0])} and ${describeValue(clause.value[1])}`;
    case "in":
      return `${clause.field} in {${clause.value.map(describeValue).join(", ")}}`;
    default:
      return `${clause.field} ${OP_SYMBOLS[clause.op]} ${describeValue(clause.value)}`;
  }
}

/** Plain tokens print as-is; anything with spaces, braces, commas or quotes is JSON-quoted. */
function describeValue(value: string | number | boolean | bigint): string {
  if (typeof value !== "string") return String(value);
  return /^[\p{L}\p{N}_.:@/+-]+$/u.test(value) ? value : JSON.stringify(value);
}
