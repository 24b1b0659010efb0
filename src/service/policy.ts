/**
 * @module service/policy
 *
 * A partner's policy: which datasets it may query, which fields its queries may name, which aggregate kinds
 * it may ask for, the minimum group size k handed to the circuit (answers about fewer than k records, or all
 * but fewer than k, come back as a *proven* "suppressed"), the dominance share d for sums (a sum where one
 * record makes more than d% of it is suppressed, proven too), and a query budget per period. Suppression is in
 * the proof, never a refusal: admission does not depend on whether the answer would be suppressed.
 *
 * `checkQueryAgainstPolicy` is the admission rule. It looks only at the canonical query, the dataset's
 * public schema and the policy, so whether a query is refused can never depend on the data (a refusal that
 * did would leak the very answer the size limit protects).
 *
 * Membership is a question about one person, not a group: its match count is 0 or 1, so the group-size
 * rule cannot protect it (g >= 2 suppresses every answer; g = 1 would suppress exactly the "no" answers).
 * It has its own switches: "membership" in `aggregates` allows it (plus the token scope
 * `queries:membership`), and `membership.suppress` (default true) decides whether its answers are proven
 * suppressed (group size max(g, 2)) or answered (group size 0). Suppression is off only when the policy
 * says `membership: {suppress: false}`; `minGroupSizeFor` is the one place that picks the group size.
 *
 * Pass queries (pass-admission.ts) are checked query by query with the same fields; their pass-only kinds
 * `avg` and `histogram` are listed in `aggregates` like the others (dp partners: count histograms, noisy).
 *
 * Modes (docs/service.md "Policy modes", docs/privacy.md): `exact` partners get exact answers with proven
 * suppression and the structural controls of policy-controls.ts; `dp` partners get noisy answers, each
 * costing `dp.epsilon`/`dp.delta` of the `privacyBudget` (budgets.ts charges it at admission). Both modes:
 * `requiredClauses` are added to every query of the partner (`withRequiredClauses`), so they are part of the
 * query the circuit proves and the bundle states.
 *
 * Security caveats: a minimum group size alone does not stop differencing (trackers): count(P) and
 * count(P AND NOT target) are both large yet differ by the target. Budgets bound how many such pairs a
 * partner can ask for; the structural controls and restricting fields narrow what can be isolated; only
 * `dp` mode bounds what a partner learns about one person. Policies are admin input and are parsed strictly
 * (a misspelt field is an error, not an unrestricted default).
 */
import { z } from "zod";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import type { Schema } from "../dataset/schema.ts";
import { canonicalQuery } from "../query/canonical.ts";
import { QueryError } from "../query/errors.ts";
import { DOMINANCE_SHARE_MAX, MEMBERSHIP_SUPPRESSING_GROUP_SIZE } from "../query/lower.ts";
import { AGGREGATE_KINDS, type AggregateKind, type Query, querySchema } from "../query/model.ts";
import { AccessError, ConflictError, InputError } from "../util/errors.ts";
import { firstIssueInWords } from "../util/zod-issues.ts";
import { checkStructuralControls, structuralControlsShape } from "./policy-controls.ts";

const MAX_GROUP_SIZE = 2 ** 32 - 1;

/** The aggregate kinds a policy can allow: the single-query kinds and the pass-only `avg` and `histogram`. */
export const POLICY_AGGREGATES = [...AGGREGATE_KINDS, "avg", "histogram"] as const;
export type PolicyAggregate = (typeof POLICY_AGGREGATES)[number];

/** Most clauses a policy may add to every query (each takes a circuit clause slot). */
export const MAX_REQUIRED_CLAUSES = 8;

/** Per-answer cost of a dp partner's queries (the noise's (epsilon, delta)). */
const dpSchema = z.strictObject({
  epsilon: z.number().min(1e-6).max(10),
  /** Binomial noise is (epsilon, delta)-DP with delta > 0 (docs/privacy.md). */
  delta: z.number().min(1e-15).max(1e-3).default(1e-9),
});

/**
 * A dp partner's (epsilon, delta) budget per dataset, composed sequentially over every epoch of the dataset
 * (budgets.ts). Without `windowSeconds` it is a lifetime budget (only an audited admin reset restores it).
 */
const privacyBudgetSchema = z.strictObject({
  epsilon: z.number().min(1e-6).max(1000),
  delta: z.number().min(0).max(1).default(1e-6),
  windowSeconds: z
    .int()
    .min(1)
    .max(100 * 366 * 86_400)
    .optional(),
});

export const policySchema = z.strictObject({
  /** `exact`: exact answers, proven suppression, structural controls; `dp`: noisy answers under a budget. */
  mode: z.enum(["exact", "dp"]).default("exact"),
  /** Dataset ids this partner may list and query. */
  datasets: z.array(z.string().regex(DATASET_ID_PATTERN)).max(1024).default([]),
  /** Field names its queries may reference (predicate fields, the summed field, the membership key). */
  fields: z.array(z.string().min(1).max(256)).max(1024).default([]),
  /** Aggregate kinds its queries may use; `avg` and `histogram` exist only in pass queries (POST /v1/passes). */
  aggregates: z
    .array(z.enum(POLICY_AGGREGATES))
    .max(POLICY_AGGREGATES.length)
    .default(["count", "threshold"]),
  /** Minimum group size g passed to the circuit for count, sum and threshold (0 = off). */
  minGroupSize: z.int().min(0).max(MAX_GROUP_SIZE).default(5),
  /**
   * Dominance rule for exact sums (percent, 0 = off, the default): a sum where one matching record contributes
   * more than this share of the total comes back as a proven "suppressed" (50 is the usual choice).
   */
  dominanceShare: z.int().min(0).max(DOMINANCE_SHARE_MAX).default(0),
  /** Membership (when "membership" is in `aggregates`): suppressed unless `suppress` is explicitly false. */
  membership: z.strictObject({ suppress: z.boolean().default(true) }).default({ suppress: true }),
  ...structuralControlsShape,
  /** Clauses added to every query of this partner (part of the proven query, so a verifier sees them). */
  requiredClauses: querySchema().shape.predicate.max(MAX_REQUIRED_CLAUSES).default([]),
  /** dp mode: the (epsilon, delta) each answer costs. */
  dp: dpSchema.optional(),
  /** dp mode: the (epsilon, delta) budget per dataset (all epochs together). */
  privacyBudget: privacyBudgetSchema.optional(),
  budget: z
    .strictObject({
      /** Queries admitted in any window of `periodSeconds` (a sliding window; failed jobs are refunded). */
      queries: z.int().min(0).max(1_000_000_000),
      /** Length of the sliding window. */
      periodSeconds: z
        .int()
        .min(1)
        .max(366 * 86_400),
    })
    .default({ queries: 100, periodSeconds: 86_400 }),
  /** Show this partner's answers in the public transparency log (service/transparency.ts). */
  publicAnswers: z.boolean().default(false),
});

export type Policy = z.infer<typeof policySchema>;

/** Validates a policy (admin input); throws `InputError("invalid_policy")` naming the field. */
export function parsePolicy(input: unknown): Policy {
  const result = policySchema.safeParse(input ?? {});
  if (!result.success) {
    const { path, reason } = firstIssueInWords(result.error.issues);
    throw invalidPolicy(path, reason);
  }
  const policy = result.data;
  if (policy.mode === "dp" && (policy.dp === undefined || policy.privacyBudget === undefined)) {
    throw invalidPolicy(policy.dp === undefined ? "dp" : "privacyBudget", "required in dp mode");
  }
  if (policy.mode === "dp" && policy.aggregates.some((kind) => !DP_AGGREGATES.includes(kind))) {
    throw invalidPolicy("aggregates", `dp mode answers only ${DP_AGGREGATES.join(", ")} (noisy)`);
  }
  return policy;
}

/** The aggregates a dp partner may ask: the ones with a noisy answer. */
export const DP_AGGREGATES: readonly PolicyAggregate[] = ["count", "sum", "histogram"];

/** `field` is a dotted path inside the policy, `""` for the policy itself. */
function invalidPolicy(field: string, message: string): InputError {
  const at = field === "" ? "policy" : `policy.${field}`;
  return new InputError("invalid_policy", `${at}: ${message}`, { path: at });
}

/** Fields a canonical query references: predicate fields, the summed field, the membership key field. */
export function referencedFields(query: Query, schema: Schema): string[] {
  const fields = new Set(query.predicate.map((clause) => clause.field));
  if (query.aggregate.kind === "sum") fields.add(query.aggregate.field);
  if (query.aggregate.kind === "membership" && schema.key !== undefined) fields.add(schema.key);
  return [...fields].sort();
}

/**
 * Throws `AccessError("policy_denied")` if the policy does not allow the query's aggregate kind or one of
 * its fields. Uses only the query, the public schema and the policy.
 */
export function checkQueryAgainstPolicy(query: Query, schema: Schema, policy: Policy): void {
  const kind: AggregateKind = query.aggregate.kind;
  if (!policy.aggregates.includes(kind)) {
    throw new AccessError("policy_denied", `aggregate ${kind} is not allowed by your policy`);
  }
  const allowed = new Set(policy.fields);
  const denied = referencedFields(query, schema).filter((field) => !allowed.has(field));
  if (denied.length > 0) {
    throw new AccessError("policy_denied", `field(s) ${denied.join(", ")} not allowed by your policy`);
  }
  checkStructuralControls(query, schema, policy);
  if (policy.mode === "dp" && query.aggregate.kind === "sum" && query.aggregate.clamp === undefined) {
    // The noise is scaled to one record's largest contribution: the query must state it (docs/privacy.md).
    throw new AccessError("policy_denied", "dp sums need clamping bounds: aggregate.clamp = [lo, hi]");
  }
}

/**
 * The query the circuit proves: the partner's canonical query AND the policy's required clauses, in
 * canonical form. Required clauses that do not fit the dataset's schema are the operator's mistake:
 * `ConflictError("policy_mismatch")`, never silently dropped.
 */
export function withRequiredClauses(query: Query, schema: Schema, policy: Policy): Query {
  if (policy.requiredClauses.length === 0) return query;
  try {
    canonicalQuery({ predicate: policy.requiredClauses, aggregate: { kind: "count" } }, schema);
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    throw new ConflictError(
      "policy_mismatch",
      "the clauses your policy adds to every query do not fit this dataset's schema; ask the operator",
    );
  }
  return canonicalQuery({ ...query, predicate: [...query.predicate, ...policy.requiredClauses] }, schema);
}

/**
 * The minimum group size a query is proven under: the policy's g for count, sum and threshold; for
 * membership 0 when `membership.suppress` is false (answered), else max(g, 2) (always suppressed, whatever
 * the data: query/lower.ts `assertMembershipGroupSize`); 0 in dp mode. Depends on the policy and the query kind
 * only.
 */
export function minGroupSizeFor(query: Query, policy: Policy): number {
  // Noisy answers are never suppressed (the noise protects small groups; a suppression decision on the
  // true count would itself leak it): dp answers are proven under group size 0.
  if (policy.mode === "dp") return 0;
  if (query.aggregate.kind !== "membership") return policy.minGroupSize;
  return policy.membership.suppress ? Math.max(policy.minGroupSize, MEMBERSHIP_SUPPRESSING_GROUP_SIZE) : 0;
}

/**
 * The dominance share a query is proven under: the policy's d for exact sums, 0 otherwise (the rule only
 * applies to sums; dp sums are clamped and noisy instead). Depends on the policy and the query kind only.
 */
export function dominanceShareFor(query: Query, policy: Policy): number {
  if (policy.mode === "dp" || query.aggregate.kind !== "sum") return 0;
  return policy.dominanceShare;
}
