/**
 * @module service/policy-controls
 *
 * The structural controls of a partner's policy (docs/service.md, "Policy modes"), applied at admission to
 * the partner's own clauses, before the policy's required clauses are added:
 *
 * - `operators`: per field, the operators its clauses may use (a field not listed: any operator).
 * - `keyClauses`: "membership-only" (the default) refuses every clause on the schema's key field, so the
 *   key can only be named by a membership aggregate; "any" allows them (a loose policy: `userId != X` is the
 *   classic differencing clause).
 * - `minRangeWidth`: per field, the fewest encoded values a clause may select, and (unless it selects the
 *   whole domain) the fewest it may leave out. `eq`, a narrow `between` or `in`, and their complements
 *   (`neq`, a range missing one value) isolate small groups, and the complement is what a differencing pair
 *   subtracts, so both sides are bounded.
 *
 * Everything here reads the canonical query, the public schema and the policy only, so a refusal cannot
 * depend on the data. What these controls cannot prevent is documented in docs/privacy.md ("What exact mode
 * cannot prevent").
 */
import { z } from "zod";
import { DATE_BITS } from "../dataset/date.ts";
import type { FieldSpec, Schema } from "../dataset/schema.ts";
import { resolveCanonical } from "../query/canonical.ts";
import { OPS, type ResolvedClause } from "../query/model.ts";
import { AccessError } from "../util/errors.ts";

const fieldName = z.string().min(1).max(256);

/** The policy fields of the structural controls (merged into `policySchema`). */
export const structuralControlsShape = {
  /** Per field, the operators its clauses may use; fields not listed allow every operator. */
  operators: z.record(fieldName, z.array(z.enum(OPS)).max(OPS.length)).default({}),
  /** Clauses on the key field: refused ("membership-only", default) or allowed ("any"). */
  keyClauses: z.enum(["membership-only", "any"]).default("membership-only"),
  /** Per field, the fewest encoded values a clause may select and (unless it selects all) leave out. */
  minRangeWidth: z.record(fieldName, z.int().min(1).max(Number.MAX_SAFE_INTEGER)).default({}),
};

const controlsSchema = z.object(structuralControlsShape);
export type StructuralControls = z.infer<typeof controlsSchema>;

/** Throws `AccessError("policy_denied")` naming the first clause the controls refuse. */
export function checkStructuralControls(query: unknown, schema: Schema, controls: StructuralControls): void {
  const { predicate } = resolveCanonical(query, schema);
  for (const clause of predicate) {
    checkKeyClause(clause, schema, controls);
    checkOperator(clause, controls);
    checkWidth(clause, controls);
  }
}

function denied(message: string): AccessError {
  return new AccessError("policy_denied", message);
}

function checkKeyClause(clause: ResolvedClause, schema: Schema, controls: StructuralControls): void {
  if (controls.keyClauses === "any" || clause.field !== schema.key) return;
  throw denied(`clauses on the key field ${clause.field} are not allowed by your policy (membership only)`);
}

function checkOperator(clause: ResolvedClause, controls: StructuralControls): void {
  const allowed = controls.operators[clause.field];
  if (allowed === undefined || allowed.includes(clause.op)) return;
  throw denied(
    `operator ${clause.op} on field ${clause.field} is not allowed by your policy (allowed: ${allowed.join(", ") || "none"})`,
  );
}

function checkWidth(clause: ResolvedClause, controls: StructuralControls): void {
  const min = controls.minRangeWidth[clause.field];
  if (min === undefined) return;
  const domain = domainSize(clause.spec);
  const selected = selectedCount(clause, domain);
  const excluded = domain - selected;
  if (selected >= BigInt(min) && (excluded === 0n || excluded >= BigInt(min))) return;
  throw denied(
    `the clause on field ${clause.field} selects ${selected} and leaves out ${excluded} of its ${domain} values; your policy needs at least ${min} on each side`,
  );
}

/** Number of encoded values a field can take. */
export function domainSize(spec: FieldSpec): bigint {
  switch (spec.type) {
    case "uint":
    case "string-key":
      return 1n << BigInt(spec.bits);
    case "enum":
      return BigInt(spec.values.length);
    case "bool":
      return 2n;
    case "date":
      return 1n << BigInt(DATE_BITS);
  }
}

/** How many encoded values of a domain of `domain` values (0 .. domain-1) the clause selects. */
export function selectedCount(clause: ResolvedClause, domain: bigint): bigint {
  const [a = 0n, b = 0n] = clause.values;
  const clamp = (n: bigint) => (n < 0n ? 0n : n > domain ? domain : n);
  switch (clause.op) {
    case "eq":
      return a < domain ? 1n : 0n;
    case "neq":
      return a < domain ? domain - 1n : domain;
    case "lt":
      return clamp(a);
    case "lte":
      return clamp(a + 1n);
    case "gt":
      return clamp(domain - a - 1n);
    case "gte":
      return clamp(domain - a);
    case "between":
      return a >= domain ? 0n : clamp((b < domain ? b : domain - 1n) - a + 1n);
    case "in":
      return BigInt(clause.values.filter((value) => value < domain).length);
  }
}
