/**
 * @module service/policy
 *
 * A partner's policy: which datasets it may query, which fields its queries may name, which aggregate kinds
 * it may ask for, the minimum group size k handed to the circuit (answers about fewer than k records, or all
 * but fewer than k, come back as a *proven* "suppressed"), and a query budget per period.
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
 * Security caveats: a minimum group size alone does not stop differencing (trackers): count(P) and
 * count(P AND NOT target) are both large yet differ by the target. Budgets bound how many such pairs a
 * partner can ask for; restricting fields narrows what can be isolated. Policies are admin input and are
 * parsed strictly (a misspelt field is an error, not an unrestricted default).
 */
import { z } from "zod";
import { DATASET_ID_PATTERN } from "../core/formats.ts";
import type { Schema } from "../dataset/schema.ts";
import { MEMBERSHIP_SUPPRESSING_GROUP_SIZE } from "../query/lower.ts";
import { AGGREGATE_KINDS, type AggregateKind, type Query } from "../query/model.ts";
import { AccessError, InputError } from "../util/errors.ts";

const MAX_GROUP_SIZE = 2 ** 32 - 1;

export const policySchema = z.strictObject({
  /** Dataset ids this partner may list and query. */
  datasets: z.array(z.string().regex(DATASET_ID_PATTERN)).max(1024).default([]),
  /** Field names its queries may reference (predicate fields, the summed field, the membership key). */
  fields: z.array(z.string().min(1).max(256)).max(1024).default([]),
  aggregates: z.array(z.enum(AGGREGATE_KINDS)).max(AGGREGATE_KINDS.length).default(["count", "threshold"]),
  /** Minimum group size g passed to the circuit for count, sum and threshold (0 = off). */
  minGroupSize: z.int().min(0).max(MAX_GROUP_SIZE).default(5),
  /** Membership (when "membership" is in `aggregates`): suppressed unless `suppress` is explicitly false. */
  membership: z.strictObject({ suppress: z.boolean().default(true) }).default({ suppress: true }),
  budget: z
    .strictObject({
      /** Queries admitted per period (failed jobs are refunded). */
      queries: z.int().min(0).max(1_000_000_000),
      /** Period length; periods are aligned to the Unix epoch. */
      periodSeconds: z
        .int()
        .min(1)
        .max(366 * 86_400),
    })
    .default({ queries: 100, periodSeconds: 86_400 }),
});

export type Policy = z.infer<typeof policySchema>;

/** Validates a policy (admin input); throws `InputError("invalid_policy")` naming the field. */
export function parsePolicy(input: unknown): Policy {
  const result = policySchema.safeParse(input ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join(".") || "policy";
    throw new InputError("invalid_policy", `policy.${field}: ${issue?.message ?? "invalid"}`, {
      path: `policy.${field}`,
    });
  }
  return result.data;
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
}

/**
 * The minimum group size a query is proven under: the policy's g for count, sum and threshold; for
 * membership 0 when `membership.suppress` is false (answered), else max(g, 2) (always suppressed, whatever
 * the data: query/lower.ts `assertMembershipGroupSize`). Depends on the policy and the query kind only.
 */
export function minGroupSizeFor(query: Query, policy: Policy): number {
  if (query.aggregate.kind !== "membership") return policy.minGroupSize;
  return policy.membership.suppress ? Math.max(policy.minGroupSize, MEMBERSHIP_SUPPRESSING_GROUP_SIZE) : 0;
}

/** Start (ms) of the budget period containing `now`. */
export function periodStart(policy: Policy, now: number): number {
  const length = policy.budget.periodSeconds * 1000;
  return Math.floor(now / length) * length;
}
