/**
 * @module query
 *
 * Public API of the query module (design.md section 3): the readable query model and its validation,
 * the canonical form and hash, the lowering to circuit clauses and public elements, and the reference
 * evaluators. See each file for its security caveats; in short, every entry point re-validates its query
 * against the schema, and `evaluateQuery`'s `count` is private even when the answer is suppressed.
 */
export {
  canonicalizeClauses,
  canonicalQuery,
  compareResolvedClauses,
  describeQuery,
  queryHash,
  resolveCanonical,
} from "./canonical.ts";
export { formatPath, QueryError } from "./errors.ts";
export {
  type EvaluateOptions,
  evaluateLowered,
  evaluateQuery,
  isSuppressed,
  type LoweredResult,
  type QueryResult,
} from "./evaluate.ts";
export {
  AGGREGATE_HEADER_BITS,
  AGGREGATE_MODE,
  type AggregateMode,
  assertMembershipGroupSize,
  type CircuitClause,
  type CircuitShape,
  CLAUSE_HEADER_BITS,
  checkShape,
  decodeAggregateElement,
  decodeClauseElement,
  encodeAggregateElement,
  encodeClauseElement,
  encodeQueryPublic,
  type LoweredAggregate,
  type LoweredQuery,
  lowerQuery,
  MAX_ELEMENT_BITS,
  MEMBERSHIP_SUPPRESSING_GROUP_SIZE,
  maxValue,
  type QueryPublicElements,
} from "./lower.ts";
export {
  AGGREGATE_KINDS,
  type Aggregate,
  type AggregateKind,
  type BetweenClause,
  type Clause,
  DEFAULT_QUERY_LIMITS,
  encodeFieldValue,
  type InClause,
  type IntegerLike,
  OPS,
  type Op,
  parseQuery,
  type Query,
  type QueryLimits,
  querySchema,
  type ResolvedAggregate,
  type ResolvedClause,
  type ResolvedQuery,
  readableInteger,
  readableValue,
  resolveQuery,
  type ScalarValue,
  SINGLE_VALUE_OPS,
  type SingleValueClause,
  type SingleValueOp,
} from "./model.ts";
