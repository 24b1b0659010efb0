/**
 * @module util/zod-issues
 *
 * Says what a zod validation issue means in the words of the JSON it checked, for the schema and query
 * errors a person reads (`type must be one of uint, enum, bool` instead of `Invalid discriminator value.
 * Expected 'uint' | 'enum' | 'bool'`). Browser-safe: no imports.
 */

/** The parts of a zod issue read here (zod 4's issue objects have these fields). */
export interface ValidationIssue {
  readonly code?: string;
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
  readonly keys?: readonly string[];
  readonly expected?: unknown;
  readonly maximum?: unknown;
  readonly minimum?: unknown;
  readonly origin?: unknown;
  /** The discriminator values of a discriminated union (zod 4). */
  readonly options?: readonly unknown[];
  /** The allowed values of an enum (zod 4). */
  readonly values?: readonly unknown[];
}

function lastKey(issue: ValidationIssue): string {
  const last = [...issue.path].reverse().find((part) => typeof part === "string");
  return typeof last === "string" ? last : "value";
}

function list(values: readonly unknown[]): string {
  return values.map(String).join(", ");
}

/** A bound issue: `bits must be at most 64`, `values must have at least 1 element`. */
function bound(issue: ValidationIssue, key: string): string {
  const limit = issue.code === "too_big" ? `at most ${issue.maximum}` : `at least ${issue.minimum}`;
  const unit = issue.origin === "array" ? " entries" : issue.origin === "string" ? " characters" : "";
  return `${key} must be ${limit}${unit}`;
}

/**
 * The first issue of a failed parse, for an error message: its dotted path (`""` at the root) and what it
 * means in words (the service's bodies, policies and configuration; schemas and queries format their own).
 */
export function firstIssueInWords(issues: readonly ValidationIssue[]): { path: string; reason: string } {
  const issue = issues[0];
  if (issue === undefined) return { path: "", reason: "invalid" };
  return { path: issue.path.map(String).join("."), reason: describeIssue(issue) };
}

/** A readable sentence for one issue, naming the property it concerns (not its path: the caller has that). */
export function describeIssue(issue: ValidationIssue): string {
  const key = lastKey(issue);
  if (issue.code === "invalid_union" && Array.isArray(issue.options))
    return `${key} must be one of ${list(issue.options)}`;
  if (issue.code === "invalid_value" && Array.isArray(issue.values))
    return `${key} must be one of ${list(issue.values)}`;
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
    return `${key} is required (${String(issue.expected)})`;
  }
  if (issue.code === "invalid_type") return `${key}: expected ${String(issue.expected)}`;
  if (issue.code === "unrecognized_keys") {
    return `unknown ${issue.keys?.length === 1 ? "property" : "properties"} ${(issue.keys ?? []).map((k) => JSON.stringify(k)).join(", ")}`;
  }
  if ((issue.code === "too_big" || issue.code === "too_small") && !issue.message.startsWith("Too")) {
    return issue.message;
  }
  if (issue.code === "too_big" || issue.code === "too_small") return bound(issue, key);
  // A custom message written as a predicate ("must match ...") reads as one about its property.
  return issue.message.startsWith("must ") ? `${key} ${issue.message}` : issue.message;
}
