/**
 * @module verifier/describe
 *
 * The statement of a bundle in words, e.g.
 * `dataset wiki-editors epoch 3: 1,284 records match country = FR AND edits ≥ 100`.
 * The sentence is a pure function of the signed manifest (dataset id, epoch, schema), the canonical
 * query, the answer and the minimum group size, i.e. of exactly what the public signals bind; the
 * verifier recomputes it and refuses a bundle whose `statement` text says anything else.
 *
 * Security caveats: conditions come from `describeQuery` (query/canonical.ts), which quotes enum values
 * that could read as syntax, so a hostile schema cannot make one clause look like several. Dataset ids
 * are restricted to `[A-Za-z0-9._-]` by the manifest parser. The exact wording is part of the
 * `zktally-bundle/v1` format (docs/bundle.md): changing it needs a new format version.
 */
import type { DatasetManifest } from "../dataset/manifest.ts";
import type { Schema } from "../dataset/schema.ts";
import { describeQuery } from "../query/canonical.ts";
import type { Query } from "../query/model.ts";
import type { BundleAnswer } from "./bundle.ts";

/** What the sentence is built from (all public, all bound by the proof's signals or the manifest). */
export interface StatementParts {
  readonly manifest: Pick<DatasetManifest, "datasetId" | "epoch">;
  readonly schema: Schema;
  /** Canonical readable query. */
  readonly query: Query;
  readonly answer: BundleAnswer;
  readonly minGroupSize: number;
  /** Dominance share d (percent; sums only). Absent or 0: no dominance rule, and the sentence says nothing. */
  readonly dominanceShare?: number;
}

const COUNT_PREFIX = "count of records where ";

/** Groups the digits of a non-negative decimal integer by thousands: "1284" → "1,284". */
export function groupDigits(decimal: string | number | bigint): string {
  const digits = String(decimal);
  if (!/^[0-9]+$/.test(digits)) throw new TypeError(`groupDigits: not a decimal integer: ${digits}`);
  return digits.replace(/\B(?=(\d{3})+$)/g, ",");
}

/** The predicate alone in words (`country = FR AND edits ≥ 100`), or undefined when there is none. */
export function describePredicate(query: Query, schema: Schema): string | undefined {
  if (query.predicate.length === 0) return undefined;
  const words = describeQuery({ predicate: query.predicate, aggregate: { kind: "count" } }, schema);
  if (!words.startsWith(COUNT_PREFIX)) throw new Error(`describePredicate: unexpected wording ${words}`);
  return words.slice(COUNT_PREFIX.length);
}

function records(count: string): string {
  return count === "1" ? "1 record" : `${groupDigits(count)} records`;
}

function countSentence(count: string, predicate: string | undefined): string {
  if (predicate === undefined) return `${records(count)} in total`;
  return `${records(count)} ${count === "1" ? "matches" : "match"} ${predicate}`;
}

function sumSentence(field: string, sum: string, predicate: string | undefined): string {
  const over = predicate === undefined ? "all records" : `the records matching ${predicate}`;
  return `the sum of ${field} over ${over} is ${groupDigits(sum)}`;
}

function thresholdSentence(k: string, holds: boolean, predicate: string | undefined): string {
  const [plural, singular] = predicate === undefined ? ["exist", "exists"] : ["match", "matches"];
  const tail = predicate === undefined ? "" : ` ${predicate}`;
  if (holds) return `at least ${records(k)} ${k === "1" ? singular : plural}${tail}`;
  if (k === "1") return `no record ${singular}${tail}`;
  return `fewer than ${records(k)} ${plural}${tail}`;
}

function membershipSentence(keyField: string, key: string, exists: boolean, predicate: string | undefined) {
  const subject = `a record with ${keyField} = ${key}`;
  if (exists)
    return predicate === undefined ? `${subject} exists` : `${subject} exists and matches ${predicate}`;
  return predicate === undefined
    ? `no record with ${keyField} = ${key} exists`
    : `no record with ${keyField} = ${key} matches ${predicate}`;
}

/** The summed field in words: `edits`, or `edits clamped to [0, 500]` (design.md 8.3). */
export function summedField(aggregate: Extract<Query["aggregate"], { kind: "sum" }>): string {
  if (aggregate.clamp === undefined) return aggregate.field;
  return `${aggregate.field} clamped to [${String(aggregate.clamp[0])}, ${String(aggregate.clamp[1])}]`;
}

/** The claim of an unsuppressed answer, without the dataset prefix. */
function claim(parts: StatementParts): string {
  const { query, answer, schema } = parts;
  const predicate = describePredicate(query, schema);
  const aggregate = query.aggregate;
  switch (aggregate.kind) {
    case "count":
      return countSentence(String(answer.value), predicate);
    case "sum":
      return sumSentence(summedField(aggregate), String(answer.value), predicate);
    case "threshold":
      return thresholdSentence(String(aggregate.k), answer.value === true, predicate);
    case "membership":
      return membershipSentence(schema.key ?? "key", String(aggregate.key), answer.value === true, predicate);
  }
}

/** The dominance share that applies to the statement: d for a sum with d > 0, else 0 (no words). */
export function appliedDominanceShare(parts: Pick<StatementParts, "query" | "dominanceShare">): number {
  return parts.query.aggregate.kind === "sum" ? (parts.dominanceShare ?? 0) : 0;
}

/** Why an answer can be suppressed, in words: the minimum group size, the dominance rule, or both. */
export function suppressionRules(minGroupSize: number, dominanceShare: number): string {
  const rules: string[] = [];
  if (minGroupSize > 0 || dominanceShare === 0)
    rules.push(`the minimum group size ${groupDigits(minGroupSize)}`);
  if (dominanceShare > 0) {
    rules.push(`the dominance rule (one record would make more than ${dominanceShare}% of the sum)`);
  }
  return rules.join(" or ");
}

/**
 * The statement in words: `dataset <id> epoch <n>: <claim>`, with ` (minimum group size g)` appended
 * when g > 0, or `answer suppressed by the minimum group size g: <query>` for a suppressed answer. A sum
 * under a dominance share d > 0 says so: ` (..., no record more than d% of the sum)` when answered,
 * `answer suppressed by the minimum group size g or the dominance rule (...)` when not (one flag: which rule
 * applied is not revealed). A membership statement has g = 0 (answered, no suffix) or g >= 2 (always
 * suppressed): parseBundle refuses g = 1, under which "suppressed" would mean "no record" (query/lower.ts).
 */
export function describeStatement(parts: StatementParts): string {
  const prefix = `dataset ${parts.manifest.datasetId} epoch ${parts.manifest.epoch}: `;
  const g = parts.minGroupSize;
  const d = appliedDominanceShare(parts);
  if (parts.answer.suppressed) {
    return `${prefix}answer suppressed by ${suppressionRules(g, d)}: ${describeQuery(parts.query, parts.schema)}`;
  }
  const rules = [
    ...(g > 0 ? [`minimum group size ${groupDigits(g)}`] : []),
    ...(d > 0 ? [`no record more than ${d}% of the sum`] : []),
  ];
  const policy = rules.length > 0 ? ` (${rules.join(", ")})` : "";
  return `${prefix}${claim(parts)}${policy}`;
}
