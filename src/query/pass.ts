/**
 * @module query/pass
 *
 * Multi-query passes (design.md section 9): the readable pass query (a predicate in disjunctive normal form
 * and an aggregate among count, sum, threshold, avg and histogram), its validation against a schema, its
 * canonical form and description in words, and its lowering to the public elements of the PassStep and
 * PassFinal circuits (C clause slots split into terms by start bits; the pass aggregate element). A pass
 * clause slot makes one comparison: `passClauses` writes eq/neq as one-value sets, the empty range as an
 * always-true range negated, and a two-sided between as two slots (design.md 9.2).
 *
 * Pass aggregate element (little-endian): mode (8: 0 count, 1 sum, 2 threshold, 3 avg, 4 histogram,
 * 5 histogram of sums) | sumField (8) | groupField1 (8) | groupField2 (8) | stride (16) | used cells (16) |
 * k (W) | termStarts (C; bit 0 always set). A histogram over fields f1 (n1 values) and f2 (n2 values) puts a
 * record in cell v[f1] + n1 * v[f2] (stride n1, used n1 * n2 <= G cells); over one field, f2 = 0, stride 0.
 *
 * Security caveats: every entry point re-validates the query (clauses through `resolveCanonical`, so they
 * obey exactly the single-query rules); limits (C, M, W, G, histogram slots) are errors, never truncation;
 * the decoder refuses non-canonical elements. Min and max are not offered: they reveal one person's value.
 * Browser-safe: no Node.js imports.
 */
import { z } from "zod";
import type { FieldSpec, Schema } from "../dataset/schema.ts";
import { canonicalJsonSha256 } from "../util/digest.ts";
import { compareResolvedClauses, describeClause, readableClause, resolveCanonical } from "./canonical.ts";
import { QueryError } from "./errors.ts";
import {
  type CircuitClause,
  type CircuitShape,
  checkShape,
  encodeClauseElement,
  lowerClause,
  MAX_ELEMENT_BITS,
  maxValue,
} from "./lower.ts";
import type { Clause, IntegerLike, ResolvedClause } from "./model.ts";

export const PASS_MODE = Object.freeze({
  count: 0,
  sum: 1,
  threshold: 2,
  avg: 3,
  histogram: 4,
  histogramSum: 5,
} as const);
export type PassMode = (typeof PASS_MODE)[keyof typeof PASS_MODE];

export type PassAggregate =
  | { kind: "count" }
  | { kind: "sum"; field: string }
  | { kind: "threshold"; k: IntegerLike }
  | { kind: "avg"; field: string }
  | { kind: "histogram"; by: string[]; sum?: string };

/** AND of clauses, or an OR of such terms. */
export type PassPredicate = Clause[] | { anyOf: Clause[][] };

export interface PassQuery {
  predicate: PassPredicate;
  aggregate: PassAggregate;
}

export type ResolvedPassAggregate =
  | { kind: "count" }
  | { kind: "sum" | "avg"; fieldIndex: number }
  | { kind: "threshold"; k: bigint }
  | { kind: "histogram"; by: number[]; sizes: number[]; sumField: number | undefined };

export interface ResolvedPassQuery {
  /** Canonical DNF terms (at least one; `[[]]` = every record). */
  terms: ResolvedClause[][];
  aggregate: ResolvedPassAggregate;
}

/** Shape of the pass circuits (design.md 9.1): the query encoding, G cells, Q queries, H histogram slots. */
export interface PassQueryShape extends CircuitShape {
  cells: number;
  queries: number;
  histogramSlots: number;
}

export interface LoweredPassAggregate {
  mode: PassMode;
  sumField: number;
  group1: number;
  group2: number;
  stride: number;
  used: number;
  k: bigint;
  /** C bits: clause c starts a DNF term (starts[0] is always true). */
  starts: boolean[];
}

export interface LoweredPassQuery {
  clauses: CircuitClause[];
  aggregate: LoweredPassAggregate;
}

export interface PassPublicElements {
  /** Q aggregate elements, slot order. */
  aggregates: bigint[];
  /** Q x C clause elements. */
  clauses: bigint[][];
}

export interface CellOutcome {
  readonly hidden: boolean;
  /** The cell's count or sum; 0n when hidden. */
  readonly value: bigint;
}

export interface HistogramOutcome {
  readonly tableSuppressed: boolean;
  /** One per cell of the table, in cell order (v[f1] + n1 * v[f2]). */
  readonly cells: readonly CellOutcome[];
}

export type PassResult =
  | { readonly kind: "count" | "sum"; readonly suppressed: boolean; readonly value: bigint }
  | { readonly kind: "threshold"; readonly suppressed: boolean; readonly value: boolean }
  | { readonly kind: "avg"; readonly suppressed: boolean; readonly sum: bigint; readonly count: number }
  | ({ readonly kind: "histogram"; readonly suppressed: boolean } & Pick<HistogramOutcome, "cells">);

/** Most queries in one pass request, independent of any circuit (Q bounds it when lowering). */
export const MAX_PASS_QUERIES = 64;
/** Most DNF terms of one predicate. */
export const MAX_TERMS = 16;
const PASS_HEADER_BITS = 64;
const MAX_CELLS = 1 << 16;

const nameSchema = z.string().min(1).max(256);
const clauseArray = z.array(z.unknown()).max(64);
const passQuerySchema = z.strictObject({
  predicate: z.union([clauseArray, z.strictObject({ anyOf: z.array(clauseArray).min(1).max(MAX_TERMS) })]),
  aggregate: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("count") }),
    z.strictObject({ kind: z.literal("sum"), field: nameSchema }),
    z.strictObject({ kind: z.literal("threshold"), k: z.unknown() }),
    z.strictObject({ kind: z.literal("avg"), field: nameSchema }),
    z.strictObject({
      kind: z.literal("histogram"),
      by: z.array(nameSchema).min(1).max(2),
      sum: nameSchema.optional(),
    }),
  ]),
});

/** Validates one pass query against `schema` and resolves it (canonical terms, encoded values). */
export function resolvePassQuery(json: unknown, schema: Schema, at = ""): ResolvedPassQuery {
  const parsed = passQuerySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? [])
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("");
    throw new QueryError(`${at}${path}`.replace(/^\./, ""), issue?.message ?? "invalid pass query");
  }
  const { predicate, aggregate } = parsed.data;
  const rawTerms = Array.isArray(predicate) ? [predicate] : predicate.anyOf;
  const resolvedTerms = rawTerms.map((term, t) => {
    const path = Array.isArray(predicate) ? `${at}predicate` : `${at}predicate.anyOf[${t}]`;
    return withPath(path, "predicate", () =>
      resolveCanonical({ predicate: term, aggregate: { kind: "count" } }, schema),
    ).predicate;
  });
  return { terms: canonicalTerms(resolvedTerms), aggregate: resolvePassAggregate(aggregate, schema, at) };
}

function withPath<T>(prefix: string, strip: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    const rest = error.path.startsWith(strip) ? error.path.slice(strip.length) : `.${error.path}`;
    throw new QueryError(`${prefix}${rest}`, error.reason, error.code as "invalid_query");
  }
}

/** Sorted, deduplicated terms; a term with no clause (always true) absorbs all others. */
function canonicalTerms(terms: ResolvedClause[][]): ResolvedClause[][] {
  if (terms.some((term) => term.length === 0)) return [[]];
  const sorted = [...terms].sort(compareTerms);
  return sorted.filter((term, i) => i === 0 || compareTerms(sorted[i - 1] as ResolvedClause[], term) !== 0);
}

function compareTerms(a: readonly ResolvedClause[], b: readonly ResolvedClause[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const delta = compareResolvedClauses(a[i] as ResolvedClause, b[i] as ResolvedClause);
    if (delta !== 0) return delta;
  }
  return a.length - b.length;
}

function lookup(schema: Schema, name: string, path: string): [number, FieldSpec] {
  const index = schema.fields.findIndex((spec) => spec.name === name);
  if (index < 0) {
    const known = schema.fields.map((spec) => spec.name).join(", ");
    throw new QueryError(path, `unknown field "${name}"; known fields: ${known}`);
  }
  return [index, schema.fields[index] as FieldSpec];
}

function uintField(schema: Schema, name: string, path: string, what: string): number {
  const [index, spec] = lookup(schema, name, path);
  if (spec.type !== "uint")
    throw new QueryError(path, `${what} needs a uint field; "${name}" is ${spec.type}`);
  return index;
}

/** Number of cells a histogram field contributes: enum values or 2 for a bool. */
export function groupSize(spec: FieldSpec): number {
  if (spec.type === "enum") return spec.values.length;
  if (spec.type === "bool") return 2;
  throw new RangeError(`field "${spec.name}" is a ${spec.type}; histograms group by enum or bool fields`);
}

function resolvePassAggregate(
  aggregate: z.infer<typeof passQuerySchema>["aggregate"],
  schema: Schema,
  at: string,
): ResolvedPassAggregate {
  const path = `${at}aggregate`;
  switch (aggregate.kind) {
    case "count":
      return { kind: "count" };
    case "sum":
    case "avg":
      return {
        kind: aggregate.kind,
        fieldIndex: uintField(schema, aggregate.field, `${path}.field`, aggregate.kind),
      };
    case "threshold": {
      const k = aggregate.k;
      const ok =
        (typeof k === "number" && Number.isSafeInteger(k) && k >= 0) ||
        (typeof k === "string" && /^(0|[1-9]\d{0,30})$/.test(k));
      if (!ok) throw new QueryError(`${path}.k`, "expected a non-negative integer");
      return { kind: "threshold", k: BigInt(k as number | string) };
    }
    case "histogram": {
      const by = aggregate.by.map((name, i) => {
        const [index, spec] = lookup(schema, name, `${path}.by[${i}]`);
        if (spec.type !== "enum" && spec.type !== "bool") {
          throw new QueryError(
            `${path}.by[${i}]`,
            `histograms group by enum or bool fields; "${name}" is a ${spec.type}`,
          );
        }
        return index;
      });
      if (by.length === 2 && by[0] === by[1])
        throw new QueryError(`${path}.by[1]`, "the two fields must differ");
      const sizes = by.map((index) => groupSize(schema.fields[index] as FieldSpec));
      const sumField =
        aggregate.sum === undefined
          ? undefined
          : uintField(schema, aggregate.sum, `${path}.sum`, "a histogram of sums");
      if (sizes.reduce((a, b) => a * b, 1) < 2)
        throw new QueryError(`${path}.by`, "a histogram needs at least 2 cells");
      return { kind: "histogram", by, sizes, sumField };
    }
  }
}

/** The canonical readable pass query (single terms as a plain clause list). */
export function canonicalPassQuery(json: unknown, schema: Schema): PassQuery {
  const resolved = resolvePassQuery(json, schema);
  const readableTerms = resolved.terms.map((term) => term.map(readableClause));
  const predicate: PassPredicate =
    readableTerms.length === 1 ? (readableTerms[0] as Clause[]) : { anyOf: readableTerms };
  return { predicate, aggregate: readableAggregate(resolved.aggregate, schema) };
}

function readableAggregate(aggregate: ResolvedPassAggregate, schema: Schema): PassAggregate {
  const name = (index: number) => (schema.fields[index] as FieldSpec).name;
  switch (aggregate.kind) {
    case "count":
      return { kind: "count" };
    case "sum":
    case "avg":
      return { kind: aggregate.kind, field: name(aggregate.fieldIndex) };
    case "threshold":
      return {
        kind: "threshold",
        k: aggregate.k <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(aggregate.k) : aggregate.k.toString(),
      };
    case "histogram":
      return {
        kind: "histogram",
        by: aggregate.by.map(name),
        ...(aggregate.sumField === undefined ? {} : { sum: name(aggregate.sumField) }),
      };
  }
}

/** Hex SHA-256 of the canonical JSON of the canonical pass query. */
export function passQueryHash(json: unknown, schema: Schema): string {
  return canonicalJsonSha256(canonicalPassQuery(json, schema));
}

/** Readable English of a pass query, e.g. `avg of edits where (country = FR) OR (bot = true)`. */
export function describePassQuery(json: unknown, schema: Schema): string {
  const canonical = canonicalPassQuery(json, schema);
  const terms = Array.isArray(canonical.predicate) ? [canonical.predicate] : canonical.predicate.anyOf;
  const condition =
    terms.length === 1
      ? (terms[0] as Clause[]).map(describeClause).join(" AND ")
      : terms.map((term) => `(${term.map(describeClause).join(" AND ")})`).join(" OR ");
  const where = condition === "" ? "over all records" : `where ${condition}`;
  const aggregate = canonical.aggregate;
  switch (aggregate.kind) {
    case "count":
      return `count of records ${where}`;
    case "sum":
      return `sum of ${aggregate.field} ${where}`;
    case "avg":
      return `average of ${aggregate.field} ${where}`;
    case "threshold":
      return `whether at least ${String(aggregate.k)} records match ${where}`;
    case "histogram": {
      const of = aggregate.sum === undefined ? "count of records" : `sum of ${aggregate.sum}`;
      return `${of} per ${aggregate.by.join(" × ")} ${where}`;
    }
  }
}

/** The cell index of a record under a resolved histogram (v[f1] + n1 * v[f2]). */
export function cellOf(
  aggregate: Extract<ResolvedPassAggregate, { kind: "histogram" }>,
  row: readonly bigint[],
): number {
  const first = Number(row[aggregate.by[0] as number] ?? 0n);
  if (aggregate.by.length === 1) return first;
  return first + (aggregate.sizes[0] as number) * Number(row[aggregate.by[1] as number] ?? 0n);
}

/** Lowers one pass query for `shape`, in query slot `slot` (histograms only in slots < H). */
export function lowerPassQuery(
  json: unknown,
  schema: Schema,
  shape: PassQueryShape,
  slot: number,
): LoweredPassQuery {
  checkPassShape(shape);
  const resolved = resolvePassQuery(json, schema);
  const circuitShape = {
    fields: shape.fields,
    width: shape.width,
    clauses: shape.clauses,
    setSize: shape.setSize,
  };
  const clauses: CircuitClause[] = [];
  const starts: boolean[] = [];
  for (const term of resolved.terms) {
    const lowered = term.flatMap((clause) => passClauses(lowerClause(clause, circuitShape), shape.width));
    lowered.forEach((clause, i) => {
      clauses.push(clause);
      starts.push(i === 0);
    });
  }
  if (clauses.length > shape.clauses) {
    throw new QueryError(
      "predicate",
      `pass query needs ${clauses.length} clause slots; this circuit has C = ${shape.clauses}`,
      "query_too_large",
    );
  }
  if (starts.length === 0) starts.push(true);
  const max = maxValue(shape.width);
  while (clauses.length < shape.clauses) {
    clauses.push({
      fieldIndex: 0,
      isSet: false,
      negate: false,
      values: [0n, max, ...new Array<bigint>(shape.setSize - 2).fill(0n)],
    });
  }
  while (starts.length < shape.clauses) starts.push(false);
  return { clauses, aggregate: lowerPassAggregate(resolved.aggregate, shape, slot, starts) };
}

/**
 * A section-3 clause as pass clause slots (design.md 9.2): a pass slot makes one comparison, so a range must
 * be one-sided (lo = 0 or hi = max). eq / neq ([v, v]) become the one-value set {v} (negated for neq), the
 * empty range [1, 0] becomes [0, max] negated, and a two-sided range [a, b] (between) takes two slots,
 * [a, max] and [0, b], in the same term. Sets and one-sided ranges are kept as they are.
 */
export function passClauses(clause: CircuitClause, width: number): CircuitClause[] {
  if (clause.isSet) return [clause];
  const max = maxValue(width);
  const [lo, hi] = clause.values as [bigint, bigint];
  const withRange = (from: bigint, to: bigint, negate: boolean): CircuitClause => ({
    ...clause,
    negate,
    values: clause.values.map((_, m) => (m === 0 ? from : m === 1 ? to : 0n)),
  });
  if (lo === hi) return [{ ...clause, isSet: true, values: clause.values.map(() => lo) }];
  if (lo > hi) return [withRange(0n, max, !clause.negate)];
  if (lo === 0n || hi === max) return [clause];
  if (clause.negate) throw new RangeError("passClauses: a negated two-sided range has no one-slot form");
  return [withRange(lo, max, false), withRange(0n, hi, false)];
}

/** Clause slots a pass query needs after `passClauses` (it fits a circuit of C slots when this is <= C). */
export function passClauseSlots(json: unknown, schema: Schema, shape: PassQueryShape): number {
  const resolved = resolvePassQuery(json, schema);
  const lowered = resolved.terms.flat().map((clause) => lowerClause(clause, shape));
  return lowered.reduce((n, clause) => n + passClauses(clause, shape.width).length, 0);
}

function lowerPassAggregate(
  aggregate: ResolvedPassAggregate,
  shape: PassQueryShape,
  slot: number,
  starts: boolean[],
): LoweredPassAggregate {
  const base = { sumField: 0, group1: 0, group2: 0, stride: 0, used: 0, k: 0n, starts };
  switch (aggregate.kind) {
    case "count":
      return { ...base, mode: PASS_MODE.count };
    case "sum":
      return { ...base, mode: PASS_MODE.sum, sumField: aggregate.fieldIndex };
    case "avg":
      return { ...base, mode: PASS_MODE.avg, sumField: aggregate.fieldIndex };
    case "threshold":
      if (aggregate.k > maxValue(shape.width)) {
        throw new QueryError(
          "aggregate.k",
          `threshold k exceeds 2^W-1 (W = ${shape.width})`,
          "query_too_large",
        );
      }
      return { ...base, mode: PASS_MODE.threshold, k: aggregate.k };
    case "histogram": {
      if (slot >= shape.histogramSlots) {
        throw new QueryError(
          "aggregate",
          `histograms go in query slots 0..${shape.histogramSlots - 1} of this circuit (H = ${shape.histogramSlots}); this one is in slot ${slot}`,
          "query_too_large",
        );
      }
      const used = aggregate.sizes.reduce((a, b) => a * b, 1);
      if (used > shape.cells) {
        throw new QueryError(
          "aggregate.by",
          `the histogram has ${used} cells; this circuit has G = ${shape.cells}`,
          "query_too_large",
        );
      }
      const two = aggregate.by.length === 2;
      return {
        ...base,
        mode: aggregate.sumField === undefined ? PASS_MODE.histogram : PASS_MODE.histogramSum,
        sumField: aggregate.sumField ?? 0,
        group1: aggregate.by[0] as number,
        group2: two ? (aggregate.by[1] as number) : 0,
        stride: two ? (aggregate.sizes[0] as number) : 0,
        used,
      };
    }
  }
}

/** The query that fills an unused slot: count of all records. */
export const PADDING_PASS_QUERY: PassQuery = Object.freeze({
  predicate: [],
  aggregate: { kind: "count" },
}) as PassQuery;

/** Lowers 1..Q queries into the Q slots (unused slots get {@link PADDING_PASS_QUERY}). */
export function lowerPass(
  queries: readonly unknown[],
  schema: Schema,
  shape: PassQueryShape,
): LoweredPassQuery[] {
  if (!Array.isArray(queries) || queries.length < 1 || queries.length > shape.queries) {
    throw new QueryError(
      "queries",
      `expected 1 to ${shape.queries} queries (Q of this circuit), got ${Array.isArray(queries) ? queries.length : "none"}`,
      "query_too_large",
    );
  }
  const slots = [...queries];
  while (slots.length < shape.queries) slots.push(PADDING_PASS_QUERY);
  return slots.map((query, slot) => withQueryIndex(slot, () => lowerPassQuery(query, schema, shape, slot)));
}

function withQueryIndex<T>(slot: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    throw new QueryError(
      `queries[${slot}].${error.path}`.replace(/\.$/, ""),
      error.reason,
      error.code as "invalid_query",
    );
  }
}

/** The public elements of a whole pass (Q aggregates, Q x C clauses). */
export function encodePassPublic(
  queries: readonly unknown[],
  schema: Schema,
  shape: PassQueryShape,
): PassPublicElements {
  const lowered = lowerPass(queries, schema, shape);
  return {
    aggregates: lowered.map((query) => encodePassAggregate(query.aggregate, shape.width, shape.clauses)),
    clauses: lowered.map((query) =>
      query.clauses.map((clause) => encodeClauseElement(clause, shape.width, shape.setSize)),
    ),
  };
}

/** Packs a lowered pass aggregate into its element. */
export function encodePassAggregate(aggregate: LoweredPassAggregate, width: number, clauses: number): bigint {
  checkPassCanonical(aggregate, width, clauses);
  let element =
    BigInt(aggregate.mode) |
    (BigInt(aggregate.sumField) << 8n) |
    (BigInt(aggregate.group1) << 16n) |
    (BigInt(aggregate.group2) << 24n) |
    (BigInt(aggregate.stride) << 32n) |
    (BigInt(aggregate.used) << 48n) |
    (aggregate.k << 64n);
  aggregate.starts.forEach((start, c) => {
    if (start) element |= 1n << BigInt(PASS_HEADER_BITS + width + c);
  });
  return element;
}

/** Unpacks a pass aggregate element; throws for elements no canonical lowering produces. */
export function decodePassAggregate(element: bigint, width: number, clauses: number): LoweredPassAggregate {
  const bits = PASS_HEADER_BITS + width + clauses;
  if (typeof element !== "bigint" || element < 0n || element >> BigInt(bits) !== 0n) {
    throw new RangeError(`pass aggregate element must be in [0, 2^${bits})`);
  }
  const field = (shift: number, size: number) =>
    Number((element >> BigInt(shift)) & ((1n << BigInt(size)) - 1n));
  const mode = field(0, 8);
  if (mode > 5) throw new RangeError(`non-canonical pass aggregate: mode ${mode} is not 0..5`);
  const aggregate: LoweredPassAggregate = {
    mode: mode as PassMode,
    sumField: field(8, 8),
    group1: field(16, 8),
    group2: field(24, 8),
    stride: field(32, 16),
    used: field(48, 16),
    k: (element >> 64n) & maxValue(width),
    starts: Array.from(
      { length: clauses },
      (_, c) => ((element >> BigInt(PASS_HEADER_BITS + width + c)) & 1n) === 1n,
    ),
  };
  checkPassCanonical(aggregate, width, clauses);
  return aggregate;
}

function checkPassCanonical(aggregate: LoweredPassAggregate, width: number, clauses: number): void {
  const { mode, sumField, group1, group2, stride, used, k, starts } = aggregate;
  if (!Number.isInteger(mode) || mode < 0 || mode > 5)
    throw new RangeError(`pass mode must be 0..5, got ${mode}`);
  for (const [name, value, size] of [
    ["sumField", sumField, 8],
    ["group1", group1, 8],
    ["group2", group2, 8],
    ["stride", stride, 16],
    ["used", used, 16],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** size) {
      throw new RangeError(`pass aggregate ${name} must fit ${size} bits, got ${value}`);
    }
  }
  if (typeof k !== "bigint" || k < 0n || k > maxValue(width))
    throw new RangeError(`pass aggregate k must fit W bits`);
  if (starts.length !== clauses || starts[0] !== true) {
    throw new RangeError(`pass aggregate needs ${clauses} term-start bits with bit 0 set`);
  }
  const summing = mode === PASS_MODE.sum || mode === PASS_MODE.avg || mode === PASS_MODE.histogramSum;
  const grouping = mode === PASS_MODE.histogram || mode === PASS_MODE.histogramSum;
  if (!summing && sumField !== 0) throw new RangeError("non-canonical pass aggregate: sumField must be 0");
  if (!grouping && (group1 !== 0 || group2 !== 0 || stride !== 0 || used !== 0)) {
    throw new RangeError("non-canonical pass aggregate: grouping fields must be 0 unless a histogram");
  }
  if (mode !== PASS_MODE.threshold && k !== 0n)
    throw new RangeError("non-canonical pass aggregate: k must be 0");
}

/** Validates a pass shape (the single-query rules plus G a power of two <= 2^16, 1 <= H <= Q). */
export function checkPassShape(shape: PassQueryShape): void {
  checkShape(shape);
  const { cells, queries, histogramSlots } = shape;
  if (!Number.isSafeInteger(cells) || cells < 1 || cells > MAX_CELLS || (cells & (cells - 1)) !== 0) {
    throw new RangeError(`cells G must be a power of two in 1..${MAX_CELLS}, got ${cells}`);
  }
  if (!Number.isSafeInteger(queries) || queries < 1 || queries > MAX_PASS_QUERIES) {
    throw new RangeError(`queries Q must be in 1..${MAX_PASS_QUERIES}, got ${queries}`);
  }
  if (!Number.isSafeInteger(histogramSlots) || histogramSlots < 0 || histogramSlots > queries) {
    throw new RangeError(`histogram slots H must be in 0..Q, got ${histogramSlots}`);
  }
  if (PASS_HEADER_BITS + shape.width + shape.clauses > MAX_ELEMENT_BITS) {
    throw new RangeError(`pass aggregate element needs 64 + W + C bits > ${MAX_ELEMENT_BITS}`);
  }
}
