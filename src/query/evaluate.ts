/**
 * @module query/evaluate
 *
 * Reference semantics of queries (design.md section 3), in plain TypeScript:
 * - `evaluateQuery` evaluates the readable query directly (AND of clauses over the real records).
 * - `evaluateLowered` evaluates the lowered circuit form exactly as the Aggregate circuit does
 *   (design.md section 4) and returns its `suppressed` and `answer` outputs.
 * Property tests check the two agree, which pins the lowering to the readable semantics.
 *
 * Suppression: with minimum group size g > 0 the answer is suppressed when count < g or
 * recordCount - count < g; a suppressed answer is 0n / false. Membership counts the one record with the
 * key (0 or 1), so g >= 2 always suppresses it and g = 1 is refused (its suppression would be the answer:
 * query/lower.ts, `assertMembershipGroupSize`).
 *
 * Dominance (sums only): with dominance share d > 0 (a percentage) a sum is also suppressed when one matching
 * record contributes more than d% of it, 100 * max > d * sum (`isDominated`; circuits/lib/suppression.circom).
 *
 * Security caveats: the returned `count` of `evaluateQuery` is the true match count even when the answer
 * is suppressed; it is for the operator's own checks and tests, and must never be shown to a requester.
 * Records are private data: nothing here logs them or puts them into error messages.
 */
import type { FieldSpec, Schema } from "../dataset/schema.ts";
import { fieldWidth } from "../dataset/schema.ts";
import { resolveCanonical } from "./canonical.ts";
import {
  AGGREGATE_MODE,
  type AggregateMode,
  assertMembershipGroupSize,
  checkDominanceShare,
  type LoweredQuery,
} from "./lower.ts";
import type { AggregateKind, QueryLimits, ResolvedClause } from "./model.ts";

export interface EvaluateOptions {
  /** Minimum group size g; 0 or absent = no suppression. */
  minGroupSize?: number;
  /** Dominance share d (percent, sums only); 0 or absent = no dominance rule. */
  dominanceShare?: number;
  limits?: QueryLimits;
}

/** The suppression policy of a statement: minimum group size g and dominance share d (0 = off each). */
export interface SuppressionPolicy {
  readonly minGroupSize: number;
  readonly dominanceShare?: number;
}

/** Per-query totals with circuit semantics: matches, their sum and the largest single contribution. */
export interface LoweredTotals {
  readonly count: number;
  readonly sum: bigint;
  readonly max: bigint;
}

export interface QueryResult {
  kind: AggregateKind;
  /** count/sum as bigint, threshold/membership as boolean; 0n/false when suppressed. */
  answer: bigint | boolean;
  /** Records matching the predicate (and, for membership, the key). Private: see module caveats. */
  count: number;
  suppressed: boolean;
}

/** The circuit outputs of design.md section 4 (public signals 0 and 1). */
export interface LoweredResult {
  suppressed: 0n | 1n;
  answer: bigint;
}

/**
 * Evaluates `query` over `records` (encoded values in schema order, real records only).
 * Throws QueryError for invalid queries and RangeError/TypeError for malformed records or options.
 */
export function evaluateQuery(
  query: unknown,
  schema: Schema,
  records: readonly (readonly bigint[])[],
  opts: EvaluateOptions = {},
): QueryResult {
  const minGroupSize = checkMinGroupSize(opts.minGroupSize ?? 0);
  const dominanceShare = checkDominanceShare(opts.dominanceShare ?? 0);
  const resolved = resolveCanonical(query, schema, opts.limits);
  checkRecords(schema, records);
  const aggregate = resolved.aggregate;
  assertMembershipGroupSize(aggregate.kind, minGroupSize);
  const matching = records.filter(
    (row) =>
      resolved.predicate.every((clause) => clauseHolds(clause, row[clause.fieldIndex] as bigint)) &&
      (aggregate.kind !== "membership" || row[aggregate.keyIndex] === aggregate.key),
  );
  const count = matching.length;
  const suppressed = isSuppressed(count, records.length, minGroupSize);
  switch (aggregate.kind) {
    case "count":
      return { kind: "count", answer: suppressed ? 0n : BigInt(count), count, suppressed };
    case "sum": {
      let sum = 0n;
      let max = 0n;
      for (const row of matching) {
        const part = clamped(row[aggregate.fieldIndex] as bigint, aggregate.clamp);
        sum += part;
        max = largerOf(max, part);
      }
      const hidden = suppressed || isDominated(max, sum, dominanceShare);
      return { kind: "sum", answer: hidden ? 0n : sum, count, suppressed: hidden };
    }
    case "threshold":
      return { kind: "threshold", answer: !suppressed && BigInt(count) >= aggregate.k, count, suppressed };
    case "membership":
      return { kind: "membership", answer: !suppressed && count >= 1, count, suppressed };
  }
}

/** Readable-query semantics of one clause on an encoded value. */
export function clauseHolds(clause: ResolvedClause, value: bigint): boolean {
  const [a, b] = clause.values as [bigint, bigint];
  switch (clause.op) {
    case "eq":
      return value === a;
    case "neq":
      return value !== a;
    case "lt":
      return value < a;
    case "lte":
      return value <= a;
    case "gt":
      return value > a;
    case "gte":
      return value >= a;
    case "between":
      return a <= value && value <= b;
    case "in":
      return clause.values.includes(value);
  }
}

/** The suppression rule of design.md section 3, shared by both evaluators. */
export function isSuppressed(count: number, recordCount: number, minGroupSize: number): boolean {
  return minGroupSize > 0 && (count < minGroupSize || recordCount - count < minGroupSize);
}

/** The larger of two bigints (Math.max takes numbers only). */
export function largerOf(a: bigint, b: bigint): bigint {
  if (a >= b) return a;
  return b;
}

/**
 * The dominance rule: one contribution `max` is more than `share` percent of `sum` (100 * max > share * sum).
 * Share 0 switches the rule off; a sum of 0 is never dominated.
 */
export function isDominated(max: bigint, sum: bigint, share: number): boolean {
  return share > 0 && 100n * max > BigInt(share) * sum;
}

/**
 * Evaluates a lowered query with circuit semantics over slots `records[0 .. recordCount-1]` (later rows are
 * padding, ignored like flag-0 slots). A missing column reads as 0, as the circuit's padded fields do.
 */
export function evaluateLowered(
  lowered: LoweredQuery,
  records: readonly (readonly bigint[])[],
  recordCount: number,
  policy: number | SuppressionPolicy,
): LoweredResult {
  if (!Number.isSafeInteger(recordCount) || recordCount < 0 || recordCount > records.length) {
    throw new RangeError(`recordCount must be an integer in 0..${records.length}, got ${recordCount}`);
  }
  const totals = loweredTotals(lowered, records.slice(0, recordCount));
  return loweredOutputs(lowered, totals, recordCount, policy);
}

/**
 * Matching records, the sum of the summed field over them and its largest single contribution, with circuit
 * semantics (all rows real; the circuit tracks the maximum whatever the mode).
 */
export function loweredTotals(lowered: LoweredQuery, records: readonly (readonly bigint[])[]): LoweredTotals {
  const { sumField, clamp } = lowered.aggregate;
  let count = 0;
  let sum = 0n;
  let max = 0n;
  for (const row of records) {
    if (!lowered.clauses.every((clause) => circuitClauseHolds(clause, row[clause.fieldIndex] ?? 0n)))
      continue;
    const part = clamped(row[sumField] ?? 0n, clamp);
    count += 1;
    sum += part;
    max = largerOf(max, part);
  }
  return { count, sum, max };
}

/** The circuit outputs (suppressed, answer) from the totals over all real records and the policy. */
export function loweredOutputs(
  lowered: Pick<LoweredQuery, "aggregate">,
  totals: LoweredTotals,
  recordCount: number,
  policy: number | SuppressionPolicy,
): LoweredResult {
  const { minGroupSize, dominanceShare = 0 } = typeof policy === "number" ? { minGroupSize: policy } : policy;
  checkMinGroupSize(minGroupSize);
  checkDominanceShare(dominanceShare);
  const { mode, k } = lowered.aggregate;
  const { count, sum, max } = totals;
  const dominated = mode === AGGREGATE_MODE.sum && isDominated(max, sum, dominanceShare);
  if (dominated || isSuppressed(count, recordCount, minGroupSize)) return { suppressed: 1n, answer: 0n };
  return { suppressed: 0n, answer: aggregateAnswer(mode, count, sum, k) };
}

/** Circuit semantics of one lowered clause (shared by query/pass-evaluate.ts). */
export function circuitClauseHolds(clause: LoweredQuery["clauses"][number], value: bigint): boolean {
  const [lo, hi] = clause.values as [bigint, bigint];
  const inside = clause.isSet ? clause.values.includes(value) : lo <= value && value <= hi;
  return inside !== clause.negate;
}

function aggregateAnswer(mode: AggregateMode, count: number, sum: bigint, k: bigint): bigint {
  switch (mode) {
    case AGGREGATE_MODE.count:
      return BigInt(count);
    case AGGREGATE_MODE.sum:
      return sum;
    case AGGREGATE_MODE.threshold:
      return BigInt(count) >= k ? 1n : 0n;
  }
}

function checkMinGroupSize(minGroupSize: number): number {
  if (!Number.isSafeInteger(minGroupSize) || minGroupSize < 0) {
    throw new RangeError(`minGroupSize must be a non-negative integer, got ${minGroupSize}`);
  }
  return minGroupSize;
}

/** Rows must have one encoded value per schema field, each within the field's width; keys unique. */
function checkRecords(schema: Schema, records: readonly (readonly bigint[])[]): void {
  if (!Array.isArray(records)) throw new TypeError("records must be an array of rows");
  const keyIndex =
    schema.key === undefined ? -1 : schema.fields.findIndex((spec) => spec.name === schema.key);
  const keys = new Set<bigint>();
  records.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== schema.fields.length) {
      throw new RangeError(`records[${i}] must have ${schema.fields.length} values (one per schema field)`);
    }
    schema.fields.forEach((spec, j) => {
      checkRecordValue(spec, row[j], `records[${i}][${j}]`);
    });
    if (keyIndex >= 0) {
      const key = row[keyIndex] as bigint;
      if (keys.has(key)) throw new RangeError(`records[${i}] repeats a key; keys must be unique`);
      keys.add(key);
    }
  });
}

function checkRecordValue(spec: FieldSpec, value: unknown, path: string): void {
  if (typeof value !== "bigint") throw new TypeError(`${path} (field "${spec.name}") must be a bigint`);
  if (value < 0n || value >> BigInt(fieldWidth(spec)) !== 0n) {
    throw new RangeError(`${path} (field "${spec.name}") is outside 0..2^${fieldWidth(spec)}-1`);
  }
  if (spec.type === "enum" && value >= BigInt(spec.values.length)) {
    throw new RangeError(
      `${path} (field "${spec.name}") is not an index of its ${spec.values.length} values`,
    );
  }
}

/** min(max(value, lo), hi), or the value itself without a clamp (design.md 8.3). */
export function clamped(value: bigint, clamp: readonly [bigint, bigint] | undefined): bigint {
  if (clamp === undefined) return value;
  if (value < clamp[0]) return clamp[0];
  return value > clamp[1] ? clamp[1] : value;
}
