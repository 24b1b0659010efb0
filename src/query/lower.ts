/**
 * @module query/lower
 *
 * Lowers a readable query to the circuit clauses and public elements of design.md section 3, and decodes
 * those elements back for inspection.
 *
 * Clause `{fieldIndex, isSet, negate, values[M]}` is true for a record value v when
 * (isSet ? v in values : values[0] <= v <= values[1]) XOR negate. With max = 2^W - 1:
 * eq v -> [v,v]; neq v -> [v,v] negated; lt v -> [0,v-1] (v = 0: empty [1,0]); lte v -> [0,v];
 * gt v -> [v+1,max] (v = max: empty [1,0]); gte v -> [v,max]; between [a,b] -> [a,b];
 * in xs -> set xs padded by repeating its smallest value. Unused slots: fieldIndex 0, [0,max], not negated.
 * Membership K adds an `eq K` clause on the key field (merged into the canonical clause order, so an
 * identical user clause shares its slot) and lowers to threshold k = 1.
 *
 * Membership and the minimum group size g: the circuit applies the group-size rule to every aggregate
 * alike (suppressed when count < g or recordCount - count < g), and a membership count is 0 or 1 (keys are
 * unique). So g >= 2 suppresses every membership answer, and g = 1 suppresses exactly the "no" answers: a
 * proven "suppressed" would then say "no record", the very answer it claims to withhold. Membership is
 * therefore proven and verified only with g = 0 (answered) or g >= {@link MEMBERSHIP_SUPPRESSING_GROUP_SIZE}
 * (always suppressed); {@link assertMembershipGroupSize} is the one check, and the public g is what the
 * verifier recomputes, so a bundle says which of the two it is.
 *
 * Element layouts (little-endian):
 *   clause    = fieldIndex (8) | isSet (1) << 8 | negate (1) << 9 | values[m] (W) << (10 + m*W)
 *   aggregate = mode (8: 0 count, 1 sum, 2 threshold) | sumField (8) << 8 | k (W) << 16
 *
 * Security caveats: the query is canonicalised first, so equal queries give equal public elements and a
 * verifier can recompute them from the readable query. Every limit (C slots, M set values, W bits,
 * F fields, 248-bit elements) is a RangeError here rather than a silent truncation, and decoders refuse
 * non-canonical elements (stray high bits, non-zero range padding) instead of normalising them.
 */
import type { FieldSpec, Schema } from "../dataset/schema.ts";
import { fieldWidth } from "../dataset/schema.ts";
import { InputError } from "../util/errors.ts";
import { canonicalizeClauses, resolveCanonical } from "./canonical.ts";
import { QueryError } from "./errors.ts";
import type { QueryLimits, ResolvedAggregate, ResolvedClause } from "./model.ts";

/** Largest number of bits a public element may use (< 254-bit BN254 field, with margin). */
export const MAX_ELEMENT_BITS = 248;
/** Bits of the clause header: fieldIndex (8), isSet (1), negate (1). */
export const CLAUSE_HEADER_BITS = 10;
/** Bits of the aggregate header: mode (8), sumField (8). */
export const AGGREGATE_HEADER_BITS = 16;

export const AGGREGATE_MODE = Object.freeze({ count: 0, sum: 1, threshold: 2 } as const);
export type AggregateMode = (typeof AGGREGATE_MODE)[keyof typeof AGGREGATE_MODE];

/** The smallest group size that suppresses every membership answer (a membership count is 0 or 1). */
export const MEMBERSHIP_SUPPRESSING_GROUP_SIZE = 2;

/**
 * Throws `QueryError` at `minGroupSize` for a membership query with g = 1, whose proven suppression would
 * reveal the answer (see the module comment); any g is fine for the other aggregates.
 */
export function assertMembershipGroupSize(kind: ResolvedAggregate["kind"], minGroupSize: number): void {
  if (kind !== "membership" || minGroupSize === 0 || minGroupSize >= MEMBERSHIP_SUPPRESSING_GROUP_SIZE)
    return;
  throw new QueryError(
    "minGroupSize",
    `membership under minimum group size ${minGroupSize} would be suppressed exactly when no record matches, revealing the answer; use 0 (answer it) or at least ${MEMBERSHIP_SUPPRESSING_GROUP_SIZE} (always suppressed)`,
  );
}

/** Largest dominance share (a percentage of a sum; 0 = no dominance rule, design.md section 4). */
export const DOMINANCE_SHARE_MAX = 100;

/** A dominance share is an integer percentage 0..100 (0 = no rule); throws RangeError otherwise. */
export function checkDominanceShare(share: number): number {
  if (!Number.isSafeInteger(share) || share < 0 || share > DOMINANCE_SHARE_MAX) {
    throw new RangeError(
      `dominanceShare must be an integer percentage in 0..${DOMINANCE_SHARE_MAX} (got ${share})`,
    );
  }
  return share;
}

/** Parameters of the circuit a query is lowered for (design.md section 4: F, W, C, M). */
export interface CircuitShape {
  /** F: number of record fields (schemas with fewer are zero-padded). */
  fields: number;
  /** W: bits per value. */
  width: number;
  /** C: clause slots. */
  clauses: number;
  /** M: values per clause (a range uses values[0], values[1]). */
  setSize: number;
}

export interface CircuitClause {
  fieldIndex: number;
  isSet: boolean;
  negate: boolean;
  /** Exactly M values, each < 2^W. */
  values: bigint[];
}

export interface LoweredAggregate {
  mode: AggregateMode;
  /** Field summed (mode sum), else 0. */
  sumField: number;
  /** Threshold (mode threshold), else 0. */
  k: bigint;
  /** Clamping bounds [lo, hi] of a sum (design.md 8.3), encoded after k; absent: no clamping. */
  clamp?: readonly [bigint, bigint];
}

export interface LoweredQuery {
  /** Exactly C clauses; unused slots are always true. */
  clauses: CircuitClause[];
  aggregate: LoweredAggregate;
}

export interface QueryPublicElements {
  aggregate: bigint;
  /** Exactly C clause elements, in slot order (public signals 7 .. 7+C-1). */
  clauses: bigint[];
}

/** Lowers `query` (validated and canonicalised) to the circuit clauses and aggregate of `shape`. */
export function lowerQuery(
  query: unknown,
  schema: Schema,
  shape: CircuitShape,
  limits?: QueryLimits,
): LoweredQuery {
  checkShape(shape);
  checkSchemaFits(schema, shape);
  const resolved = resolveCanonical(query, schema, limits);
  const max = maxValue(shape.width);
  const clauses = withMembershipClause(resolved.predicate, resolved.aggregate, schema);
  if (clauses.length > shape.clauses) {
    throw new QueryError(
      "predicate",
      `query needs ${clauses.length} clause slots after lowering; this circuit has C = ${shape.clauses}`,
      "query_too_large",
    );
  }
  const lowered = clauses.map((clause) => lowerClause(clause, shape));
  while (lowered.length < shape.clauses) lowered.push(unusedClause(shape.setSize, max));
  return { clauses: lowered, aggregate: lowerAggregate(resolved.aggregate, shape.width) };
}

/** The public elements (aggregate and C clause elements) of `query` for `shape`. */
export function encodeQueryPublic(
  query: unknown,
  schema: Schema,
  shape: CircuitShape,
  limits?: QueryLimits,
): QueryPublicElements {
  const lowered = lowerQuery(query, schema, shape, limits);
  return {
    aggregate: encodeAggregateElement(lowered.aggregate, shape.width),
    clauses: lowered.clauses.map((clause) => encodeClauseElement(clause, shape.width, shape.setSize)),
  };
}

/** Adds membership's `eq key` clause and restores canonical order (deduplicating an identical user clause). */
function withMembershipClause(
  predicate: ResolvedClause[],
  aggregate: ResolvedAggregate,
  schema: Schema,
): ResolvedClause[] {
  if (aggregate.kind !== "membership") return predicate;
  const spec = schema.fields[aggregate.keyIndex] as FieldSpec;
  const keyClause: ResolvedClause = {
    field: spec.name,
    fieldIndex: aggregate.keyIndex,
    spec,
    op: "eq",
    values: [aggregate.key],
  };
  return canonicalizeClauses([...predicate, keyClause]);
}

/** Lowers one resolved clause to its circuit clause (shared by the multi-query lowering, query/pass.ts). */
export function lowerClause(clause: ResolvedClause, shape: CircuitShape): CircuitClause {
  const max = maxValue(shape.width);
  for (const value of clause.values) {
    if (value > max) {
      throw new QueryError(
        "predicate",
        `clause on field "${clause.field}": value ${value} exceeds 2^W-1 = ${max} (W = ${shape.width})`,
        "query_too_large",
      );
    }
  }
  if (clause.op === "in") return lowerSet(clause, shape.setSize);
  const [lo, hi, negate] = rangeOf(clause, max);
  return { fieldIndex: clause.fieldIndex, isSet: false, negate, values: rangeValues(lo, hi, shape.setSize) };
}

function lowerSet(clause: ResolvedClause, setSize: number): CircuitClause {
  if (clause.values.length > setSize) {
    throw new QueryError(
      "predicate",
      `in clause on field "${clause.field}" has ${clause.values.length} values; this circuit allows M = ${setSize}`,
      "query_too_large",
    );
  }
  const first = clause.values[0] as bigint;
  const values = [...clause.values];
  while (values.length < setSize) values.push(first);
  return { fieldIndex: clause.fieldIndex, isSet: true, negate: false, values };
}

/** [lo, hi, negate] for a non-set clause; an empty range is [1, 0]. */
function rangeOf(clause: ResolvedClause, max: bigint): [bigint, bigint, boolean] {
  const v = clause.values[0] as bigint;
  switch (clause.op) {
    case "eq":
      return [v, v, false];
    case "neq":
      return [v, v, true];
    case "lt":
      return v === 0n ? [1n, 0n, false] : [0n, v - 1n, false];
    case "lte":
      return [0n, v, false];
    case "gt":
      return v === max ? [1n, 0n, false] : [v + 1n, max, false];
    case "gte":
      return [v, max, false];
    case "between":
      return [v, clause.values[1] as bigint, false];
    case "in":
      throw new TypeError("rangeOf: in clauses are sets, not ranges");
  }
}

function rangeValues(lo: bigint, hi: bigint, setSize: number): bigint[] {
  const values = new Array<bigint>(setSize).fill(0n);
  values[0] = lo;
  values[1] = hi;
  return values;
}

function unusedClause(setSize: number, max: bigint): CircuitClause {
  return { fieldIndex: 0, isSet: false, negate: false, values: rangeValues(0n, max, setSize) };
}

function lowerAggregate(aggregate: ResolvedAggregate, width: number): LoweredAggregate {
  switch (aggregate.kind) {
    case "count":
      return { mode: AGGREGATE_MODE.count, sumField: 0, k: 0n };
    case "sum":
      return {
        mode: AGGREGATE_MODE.sum,
        sumField: aggregate.fieldIndex,
        k: 0n,
        ...(aggregate.clamp === undefined ? {} : { clamp: aggregate.clamp }),
      };
    case "threshold": {
      const max = maxValue(width);
      if (aggregate.k > max) {
        throw new QueryError(
          "aggregate.k",
          `threshold k = ${aggregate.k} exceeds 2^W-1 = ${max} (W = ${width})`,
          "query_too_large",
        );
      }
      return { mode: AGGREGATE_MODE.threshold, sumField: 0, k: aggregate.k };
    }
    case "membership":
      return { mode: AGGREGATE_MODE.threshold, sumField: 0, k: 1n };
  }
}

/** Packs a circuit clause into its public element. */
export function encodeClauseElement(clause: CircuitClause, width: number, setSize: number): bigint {
  checkPacking(width, setSize);
  checkByte(clause.fieldIndex, "clause.fieldIndex");
  if (typeof clause.isSet !== "boolean") throw new TypeError("clause.isSet must be a boolean");
  if (typeof clause.negate !== "boolean") throw new TypeError("clause.negate must be a boolean");
  if (!Array.isArray(clause.values) || clause.values.length !== setSize) {
    throw new RangeError(`clause.values must have exactly M = ${setSize} values`);
  }
  let element = BigInt(clause.fieldIndex) | (BigInt(clause.isSet) << 8n) | (BigInt(clause.negate) << 9n);
  clause.values.forEach((value, m) => {
    checkWord(value, width, `clause.values[${m}]`);
    element |= value << BigInt(CLAUSE_HEADER_BITS + m * width);
  });
  return element;
}

/** Unpacks a clause element; throws for elements no canonical lowering produces. */
export function decodeClauseElement(element: bigint, width: number, setSize: number): CircuitClause {
  checkPacking(width, setSize);
  checkWord(element, CLAUSE_HEADER_BITS + setSize * width, "clause element");
  const mask = maxValue(width);
  const values: bigint[] = [];
  for (let m = 0; m < setSize; m++) values.push((element >> BigInt(CLAUSE_HEADER_BITS + m * width)) & mask);
  const isSet = ((element >> 8n) & 1n) === 1n;
  if (!isSet && values.slice(2).some((value) => value !== 0n)) {
    throw new RangeError("non-canonical clause element: a range must have values[2..M-1] = 0");
  }
  return { fieldIndex: Number(element & 0xffn), isSet, negate: ((element >> 9n) & 1n) === 1n, values };
}

/** Packs the aggregate into its public element. */
export function encodeAggregateElement(aggregate: LoweredAggregate, width: number): bigint {
  checkWidth(width);
  const { mode, sumField, k } = aggregate;
  if (mode !== 0 && mode !== 1 && mode !== 2)
    throw new RangeError(`aggregate.mode must be 0, 1 or 2, got ${mode}`);
  checkByte(sumField, "aggregate.sumField");
  checkWord(k, width, "aggregate.k");
  checkAggregateCanonical(mode, sumField, k);
  const element = BigInt(mode) | (BigInt(sumField) << 8n) | (k << BigInt(AGGREGATE_HEADER_BITS));
  if (aggregate.clamp === undefined) return element;
  const [lo, hi] = aggregate.clamp;
  if (AGGREGATE_HEADER_BITS + 3 * width > MAX_ELEMENT_BITS) {
    throw new RangeError(`a clamped sum needs 16 + 3W <= ${MAX_ELEMENT_BITS} bits (W = ${width})`);
  }
  checkWord(lo, width, "aggregate.clamp[0]");
  checkWord(hi, width, "aggregate.clamp[1]");
  checkClampCanonical(mode, lo, hi);
  const at = BigInt(AGGREGATE_HEADER_BITS + width);
  return element | (lo << at) | (hi << (at + BigInt(width)));
}

/** Unpacks an aggregate element; throws for elements no canonical lowering produces. */
export function decodeAggregateElement(element: bigint, width: number): LoweredAggregate {
  checkWidth(width);
  checkWord(element, AGGREGATE_HEADER_BITS + 3 * width, "aggregate element");
  const mode = Number(element & 0xffn);
  if (mode !== 0 && mode !== 1 && mode !== 2) {
    throw new RangeError(`non-canonical aggregate element: mode ${mode} is not 0, 1 or 2`);
  }
  const sumField = Number((element >> 8n) & 0xffn);
  const k = (element >> BigInt(AGGREGATE_HEADER_BITS)) & maxValue(width);
  checkAggregateCanonical(mode, sumField, k);
  const at = BigInt(AGGREGATE_HEADER_BITS + width);
  const clamp = [(element >> at) & maxValue(width), element >> (at + BigInt(width))] as const;
  if (clamp[0] === 0n && clamp[1] === 0n) return { mode, sumField, k };
  checkClampCanonical(mode, clamp[0], clamp[1]);
  return { mode, sumField, k, clamp };
}

/** A clamp is encoded only for sums, with lo <= hi and hi >= 1 (an all-zero clamp field means none). */
function checkClampCanonical(mode: AggregateMode, lo: bigint, hi: bigint): void {
  if (mode !== AGGREGATE_MODE.sum) throw new RangeError("non-canonical aggregate: a clamp needs mode sum");
  if (hi < 1n || lo > hi)
    throw new RangeError(`non-canonical aggregate: clamp [${lo}, ${hi}] needs 0 <= lo <= hi, hi >= 1`);
}

function checkAggregateCanonical(mode: AggregateMode, sumField: number, k: bigint): void {
  if (mode !== AGGREGATE_MODE.sum && sumField !== 0) {
    throw new RangeError(`non-canonical aggregate: sumField must be 0 unless mode is sum, got ${sumField}`);
  }
  if (mode !== AGGREGATE_MODE.threshold && k !== 0n) {
    throw new RangeError(`non-canonical aggregate: k must be 0 unless mode is threshold, got ${k}`);
  }
}

/** Validates F, W, C, M and the element bit budgets. */
export function checkShape(shape: CircuitShape): void {
  if (shape === null || typeof shape !== "object")
    throw new InputError("invalid_shape", "circuit shape must be an object");
  checkPositiveInteger(shape.fields, "shape.fields");
  checkPositiveInteger(shape.clauses, "shape.clauses");
  if (shape.fields > 256)
    throw new InputError("invalid_shape", `shape.fields = ${shape.fields} exceeds 256 (8-bit fieldIndex)`);
  checkPacking(shape.width, shape.setSize);
}

function checkSchemaFits(schema: Schema, shape: CircuitShape): void {
  if (schema.fields.length > shape.fields) {
    throw new InputError(
      "schema_exceeds_circuit",
      `schema has ${schema.fields.length} fields; this circuit has F = ${shape.fields}`,
      { path: "schema.fields" },
    );
  }
  for (const spec of schema.fields) {
    const bits = fieldWidth(spec);
    if (bits > shape.width) {
      throw new InputError(
        "schema_exceeds_circuit",
        `field "${spec.name}" needs ${bits} bits; this circuit has W = ${shape.width}`,
        { path: `schema.fields.${spec.name}` },
      );
    }
  }
}

function checkPacking(width: number, setSize: number): void {
  checkWidth(width);
  checkPositiveInteger(setSize, "setSize (M)");
  if (setSize < 2)
    throw new InputError("invalid_shape", `setSize M = ${setSize} must be >= 2 (a range uses two values)`);
  const bits = CLAUSE_HEADER_BITS + setSize * width;
  if (bits > MAX_ELEMENT_BITS) {
    throw new InputError(
      "invalid_shape",
      `clause element needs 10 + M*W = ${bits} bits > ${MAX_ELEMENT_BITS} (M = ${setSize}, W = ${width})`,
    );
  }
}

function checkWidth(width: number): void {
  checkPositiveInteger(width, "width (W)");
  if (AGGREGATE_HEADER_BITS + width > MAX_ELEMENT_BITS) {
    throw new InputError(
      "invalid_shape",
      `width W = ${width} exceeds ${MAX_ELEMENT_BITS - AGGREGATE_HEADER_BITS} (aggregate element)`,
    );
  }
}

function checkPositiveInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InputError("invalid_shape", `${name} must be a positive integer, got ${value}`);
}

function checkByte(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > 255) {
    throw new RangeError(`${name} must be an integer in 0..255, got ${value}`);
  }
}

/** Throws unless `value` is a bigint in [0, 2^bits). */
function checkWord(value: bigint, bits: number, name: string): void {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint`);
  if (value < 0n || value >> BigInt(bits) !== 0n)
    throw new RangeError(`${name} must be in [0, 2^${bits}), got ${value}`);
}

/** 2^bits - 1. */
export function maxValue(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}
