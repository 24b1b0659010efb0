/**
 * @module verifier/release
 *
 * Geoeditors-style releases (`zktally-release/v1`, docs/privacy.md "Releases"): the table of editors per
 * (wiki, country, activity level) with noise per cell, epsilon per country from a risk list, cells withheld
 * below a release threshold decided on the noisy value. A release document carries the tiers, the country ->
 * tier map, the threshold, one nonce and the dp-histogram bundles (one table per wiki value: the count of
 * records matching `wiki = w` per country x activity level); the TSV is separate text.
 *
 * `verifyRelease(document, tsv, options)` checks: the structure (strict); every bundle with
 * verifyDpHistogram (the release's nonce, one manifest for all); every table is the release query of a wiki
 * value and every wiki value has one (a repeated table, padding a pass, must repeat the same noisy cells: the
 * same query and nonce give the same noise); every cell's tier is its country's and every tier's epsilon the
 * document's; and the TSV is exactly the rows `releaseTsv` derives: the cells whose noisy value is at least the
 * threshold, in (wiki, country, activity) order. Withholding is post-processing of public noisy values, so it
 * costs no privacy and anyone can recompute it.
 *
 * Browser-safe: no Node.js imports, no prover code.
 */
import type { Schema } from "../dataset/schema.ts";
import { canonicalPassQuery, type PassQuery } from "../query/pass.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import type { RandomBytes } from "./batch.ts";
import { describeValue, expectFields, expectString, frozenJsonCopy, readJsonInput } from "./bundle.ts";
import {
  type DpHistogramBundle,
  type DpHistogramVerified,
  parseDpHistogramBundle,
  verifyDpHistogram,
} from "./dp-histogram.ts";
import { VerifierInputError } from "./errors.ts";
import { parseScalar } from "./parse.ts";
import type { VerifyOptions } from "./verify-bundle.ts";

export const RELEASE_FORMAT = "zktally-release/v1";
/** The TSV header; rows are `wiki, country, activity level, noisy editors`. */
export const RELEASE_TSV_HEADER = "wiki\tcountry\tactivity_level\teditors";

export interface ReleaseFields {
  readonly wiki: string;
  readonly country: string;
  readonly activity: string;
}

export interface ReleaseTier {
  readonly name: string;
  readonly epsilon: string;
  readonly delta: string;
}

export interface ReleaseDocument {
  readonly format: typeof RELEASE_FORMAT;
  readonly datasetId: string;
  readonly epoch: number;
  readonly fields: ReleaseFields;
  /** Cells whose noisy value is below it are withheld (not in the TSV). */
  readonly threshold: number;
  readonly tiers: readonly ReleaseTier[];
  /** Every country value of the schema -> its tier. */
  readonly countryTiers: Readonly<Record<string, string>>;
  readonly nonce: string;
  readonly bundles: readonly DpHistogramBundle[];
  readonly createdAt: string;
}

/** The release query of one wiki value: records with `wiki = w` per country x activity level. */
export function releaseQuery(fields: ReleaseFields, wiki: string, schema: Schema): PassQuery {
  return canonicalPassQuery(
    {
      predicate: [{ field: fields.wiki, op: "eq", value: wiki }],
      aggregate: { kind: "histogram", by: [fields.country, fields.activity] },
    },
    schema,
  );
}

/** The enum values of a release field (wiki, country or activity must be enums). */
export function enumValues(schema: Schema, name: string): readonly string[] {
  const spec = schema.fields.find((field) => field.name === name);
  if (spec?.type !== "enum")
    throw new RangeError(`release field ${JSON.stringify(name)} must be an enum field`);
  return spec.values;
}

export interface ReleaseCell {
  readonly wiki: string;
  readonly country: string;
  readonly activity: string;
  readonly tier: string;
  readonly noisy: bigint;
}

/** Every proven cell, one table per wiki value, in (wiki, country, activity) order; repeats must agree. */
export function releaseCells(
  document: Pick<ReleaseDocument, "fields" | "bundles">,
  schema: Schema,
): ReleaseCell[] {
  const tables = new Map<string, ReleaseCell[]>();
  const wikis = enumValues(schema, document.fields.wiki);
  document.bundles.forEach((bundle, b) => {
    bundle.queries.forEach((query, q) => {
      const wiki = wikis.find(
        (w) => canonicalJson(releaseQuery(document.fields, w, schema)) === canonicalJson(query),
      );
      if (wiki === undefined) {
        throw new VerifierInputError(`bundles[${b}].queries[${q}]`, "not the release query of a wiki value");
      }
      const cells = (bundle.answers[q]?.cells ?? []).map((cell) => ({
        wiki,
        country: String(cell.cell[0]),
        activity: String(cell.cell[1]),
        tier: cell.tier,
        noisy: BigInt(cell.noisy),
      }));
      const seen = tables.get(wiki);
      if (seen !== undefined && cellsKey(seen) !== cellsKey(cells)) {
        throw new VerifierInputError(`bundles[${b}].answers[${q}]`, `a second table of ${wiki} differs`);
      }
      tables.set(wiki, cells);
    });
  });
  const countries = enumValues(schema, document.fields.country);
  const levels = enumValues(schema, document.fields.activity);
  return wikis.flatMap((wiki) => {
    const table = tables.get(wiki);
    if (table === undefined)
      throw new VerifierInputError("bundles", `no table for wiki ${JSON.stringify(wiki)}`);
    const rank = (cell: ReleaseCell) =>
      countries.indexOf(cell.country) * levels.length + levels.indexOf(cell.activity);
    return [...table].sort((a, b) => rank(a) - rank(b));
  });
}

function cellsKey(cells: readonly ReleaseCell[]): string {
  return cells.map((cell) => `${cell.country}/${cell.activity}/${cell.tier}/${cell.noisy}`).join(",");
}

/** The TSV of a release: the header, then every cell with noisy >= threshold (withheld cells omitted). */
export function releaseTsv(cells: readonly ReleaseCell[], threshold: number): string {
  const rows = cells
    .filter((cell) => cell.noisy >= BigInt(threshold))
    .map((cell) => [cell.wiki, cell.country, cell.activity, String(cell.noisy)].join("\t"));
  return `${[RELEASE_TSV_HEADER, ...rows].join("\n")}\n`;
}

const FIELDS = [
  "format",
  "datasetId",
  "epoch",
  "fields",
  "threshold",
  "tiers",
  "countryTiers",
  "nonce",
  "bundles",
  "createdAt",
] as const;

/** Parses a release document strictly (bundles parsed as dp-histogram bundles); throws VerifierInputError. */
export function parseRelease(value: unknown): { document: ReleaseDocument; schema: Schema } {
  const snapshot = frozenJsonCopy(readJsonInput(value, "release"));
  const record = expectFields(snapshot, "release", FIELDS);
  if (record.format !== RELEASE_FORMAT)
    throw new VerifierInputError(
      "format",
      `expected ${JSON.stringify(RELEASE_FORMAT)}, got ${describeValue(record.format)}`,
    );
  const fields = expectFields(record.fields, "fields", ["wiki", "country", "activity"]);
  for (const name of ["wiki", "country", "activity"] as const) expectString(fields[name], `fields.${name}`);
  const threshold = record.threshold;
  if (typeof threshold !== "number" || !Number.isSafeInteger(threshold) || Math.abs(threshold) > 2 ** 40) {
    throw new VerifierInputError("threshold", "expected an integer");
  }
  const tiers = record.tiers;
  if (!Array.isArray(tiers) || tiers.length === 0) throw new VerifierInputError("tiers", "expected tiers");
  tiers.forEach((tier, i) => {
    const entry = expectFields(tier, `tiers[${i}]`, ["name", "epsilon", "delta"]);
    for (const key of ["name", "epsilon", "delta"]) expectString(entry[key], `tiers[${i}].${key}`);
  });
  parseScalar(record.nonce, "nonce");
  const bundles = record.bundles;
  if (!Array.isArray(bundles) || bundles.length === 0)
    throw new VerifierInputError("bundles", "expected bundles");
  const parsed = bundles.map((bundle, b) => {
    try {
      return parseDpHistogramBundle(bundle);
    } catch (error) {
      if (error instanceof VerifierInputError)
        throw new VerifierInputError(`bundles[${b}].${error.field}`, error.reason);
      throw error;
    }
  });
  const schema = (parsed[0] as (typeof parsed)[number]).schema;
  const names = new Set(tiers.map((tier) => (tier as ReleaseTier).name));
  const countryTiers = expectFields(
    record.countryTiers,
    "countryTiers",
    enumValues(schema, fields.country as string),
  );
  for (const [country, tier] of Object.entries(countryTiers)) {
    if (typeof tier !== "string" || !names.has(tier))
      throw new VerifierInputError(`countryTiers.${country}`, "expected the name of one of the tiers");
  }
  return { document: snapshot as ReleaseDocument, schema };
}

export interface ReleaseVerified {
  readonly valid: true;
  readonly kind: "release";
  readonly datasetId: string;
  readonly epoch: number;
  readonly rows: number;
  readonly withheld: number;
  readonly threshold: number;
  readonly tiers: readonly ReleaseTier[];
  readonly bundles: readonly DpHistogramVerified[];
}

export interface ReleaseRejected {
  readonly valid: false;
  readonly kind: "release";
  readonly check: string;
  readonly reason: string;
  readonly at?: number | "final";
}

export type ReleaseVerifyResult = ReleaseVerified | ReleaseRejected;

function rejectRelease(check: string, reason: string, at?: number | "final"): ReleaseRejected {
  return { valid: false, kind: "release", check, reason, ...(at === undefined ? {} : { at }) };
}

/** Tiers: every cell's tier is its country's, every bundle tier's epsilon the document's (delta no larger). */
function checkTiers(document: ReleaseDocument, cells: readonly ReleaseCell[]): ReleaseRejected | undefined {
  const wrong = cells.find((cell) => document.countryTiers[cell.country] !== cell.tier);
  if (wrong !== undefined) {
    return rejectRelease(
      "tiers",
      `cell ${wrong.wiki}/${wrong.country}/${wrong.activity} is noised as tier ${wrong.tier}, not its country's`,
    );
  }
  const byName = new Map(document.tiers.map((tier) => [tier.name, tier]));
  for (const bundle of document.bundles) {
    for (const tier of bundle.privacy.tiers) {
      const stated = byName.get(tier.name);
      if (
        stated === undefined ||
        stated.epsilon !== tier.epsilon ||
        !(Number(tier.delta) <= Number(stated.delta))
      ) {
        return rejectRelease(
          "tiers",
          `tier ${tier.name} of a bundle is not the release's (epsilon ${tier.epsilon}, delta ${tier.delta})`,
        );
      }
    }
  }
  return undefined;
}

/** Verifies a release document and its TSV text (see the module comment). Throws VerifierInputError when malformed. */
export function verifyRelease(
  value: unknown,
  tsv: string,
  options: VerifyOptions,
  rng?: RandomBytes,
): ReleaseVerifyResult {
  const { document, schema } = parseRelease(value);
  const verified: DpHistogramVerified[] = [];
  for (const [b, bundle] of document.bundles.entries()) {
    const result = verifyDpHistogram(bundle, { ...options, expectedNonce: document.nonce }, rng);
    if (!result.valid) return rejectRelease(result.check, `bundle ${b}: ${result.reason}`, result.at);
    if (result.datasetId !== document.datasetId || result.epoch !== document.epoch) {
      return rejectRelease("manifest", `bundle ${b} is about another dataset or epoch`);
    }
    if (verified.length > 0 && result.manifestHash !== verified[0]?.manifestHash) {
      return rejectRelease("manifest", `bundle ${b} carries another manifest`);
    }
    verified.push(result);
  }
  const cells = releaseCells(document, schema);
  const tierProblem = checkTiers(document, cells);
  if (tierProblem !== undefined) return tierProblem;
  const expected = releaseTsv(cells, document.threshold);
  if (tsv !== expected) {
    const got = tsv.split("\n");
    const line = expected.split("\n").findIndex((row, i) => got[i] !== row);
    return rejectRelease(
      "tsv",
      `the TSV differs from the proven cells at line ${line + 1} (rows must be exactly the cells with noisy >= ${document.threshold})`,
    );
  }
  const rows = expected.split("\n").length - 2;
  return {
    valid: true,
    kind: "release",
    datasetId: document.datasetId,
    epoch: document.epoch,
    rows,
    withheld: cells.length - rows,
    threshold: document.threshold,
    tiers: document.tiers,
    bundles: verified,
  };
}

/** True when `value` (object or JSON text) claims the release format. */
export function isReleaseDocument(value: unknown): boolean {
  const json = readJsonInput(value, "release");
  return (
    typeof json === "object" && json !== null && (json as { format?: unknown }).format === RELEASE_FORMAT
  );
}
