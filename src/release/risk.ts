/**
 * @module release/risk
 *
 * The risk list of a release (docs/privacy.md "Releases"): privacy tiers (name -> epsilon, one delta) and the
 * tier of every country. Two file forms:
 *
 * - JSON `{"tiers": {"low": 1.1, "medium": 0.2, "high": 0.1}, "delta": 1e-9, "default": "low",
 *   "countries": {"FR": "medium", "IR": "high"}}` (tiers, delta and default optional);
 * - TSV lines `country<TAB>tier` (a header line `country<TAB>tier` allowed, `#` comments) with the default
 *   tiers of Wikimedia's geoeditors release: low 1.1, medium 0.2, high 0.1, unlisted countries low.
 *
 * Every country value of the schema gets a tier; an unknown country or tier name is an error naming it.
 */
import { z } from "zod";
import { parseStrictJson } from "../util/strict-json.ts";
import type { ReleaseTier } from "../verifier/release.ts";

/** Wikimedia's geoeditors tiers: 1.1 / 0.2 / 0.1 by a country's risk. */
export const DEFAULT_RISK_TIERS: Readonly<Record<string, number>> = Object.freeze({
  low: 1.1,
  medium: 0.2,
  high: 0.1,
});
export const DEFAULT_RELEASE_DELTA = 1e-9;

/**
 * The JSON form of a risk list as a zod schema (the admin release endpoint and config `release.riskLists`
 * take it; `parseRiskList` then checks tier names, countries and the default against the schema).
 */
export const riskListJsonSchema = z
  .strictObject({
    tiers: z
      .record(z.string(), z.number().positive())
      .optional()
      .describe("tier name -> epsilon per cell (default low 1.1, medium 0.2, high 0.1)"),
    delta: z.number().positive().lt(1).optional().describe("delta of every tier (default 1e-9)"),
    default: z.string().optional().describe("the tier of unlisted countries (default: the first tier)"),
    countries: z.record(z.string(), z.string()).optional().describe("country value -> tier name"),
  })
  .describe("risk list: privacy tiers and the tier of each country (docs/privacy.md, Releases)");
export type RiskListJson = z.output<typeof riskListJsonSchema>;
/** How a named risk list (config `release.riskLists`) is written. */
export const RISK_LIST_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface RiskList {
  readonly tiers: readonly ReleaseTier[];
  readonly countryTiers: Readonly<Record<string, string>>;
}

export class RiskListError extends Error {
  override name = "RiskListError";
}

interface RawRisk {
  tiers: Record<string, number>;
  delta: number;
  fallback: string;
  countries: Record<string, string>;
}

function fromJson(json: unknown): RawRisk {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new RiskListError("the risk list must be a JSON object");
  const record = json as Record<string, unknown>;
  const unknownKey = Object.keys(record).find(
    (key) => !["tiers", "delta", "default", "countries"].includes(key),
  );
  if (unknownKey !== undefined)
    throw new RiskListError(`unknown risk list field ${JSON.stringify(unknownKey)}`);
  const tiers = (record.tiers ?? DEFAULT_RISK_TIERS) as Record<string, number>;
  const countries = (record.countries ?? {}) as Record<string, string>;
  if (typeof tiers !== "object" || typeof countries !== "object")
    throw new RiskListError("tiers and countries must be objects");
  const delta = (record.delta ?? DEFAULT_RELEASE_DELTA) as number;
  const fallback = (record.default ?? Object.keys(tiers)[0]) as string;
  return { tiers, delta, fallback, countries };
}

function fromTsv(text: string): RawRisk {
  const countries: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || (i === 0 && /^country\ttier$/i.test(trimmed))) return;
    const parts = trimmed.split("\t");
    if (parts.length !== 2) throw new RiskListError(`line ${i + 1}: expected "country<TAB>tier"`);
    countries[parts[0] as string] = parts[1] as string;
  });
  return { tiers: { ...DEFAULT_RISK_TIERS }, delta: DEFAULT_RELEASE_DELTA, fallback: "low", countries };
}

/** Parses a risk list (JSON or TSV text) for the schema's `countries`. */
export function parseRiskList(text: string, countries: readonly string[]): RiskList {
  const raw = text.trimStart().startsWith("{") ? fromJson(parseStrictJson(text)) : fromTsv(text);
  const names = Object.keys(raw.tiers);
  if (names.length === 0) throw new RiskListError("the risk list has no tiers");
  for (const [name, epsilon] of Object.entries(raw.tiers)) {
    if (!/^[A-Za-z0-9._-]{1,32}$/.test(name))
      throw new RiskListError(`tier name ${JSON.stringify(name)} is not valid`);
    if (typeof epsilon !== "number" || !(epsilon > 0) || !Number.isFinite(epsilon))
      throw new RiskListError(`tier ${name}: epsilon must be a positive number`);
  }
  if (typeof raw.delta !== "number" || !(raw.delta > 0 && raw.delta < 1))
    throw new RiskListError("delta must be a number in (0, 1)");
  if (!names.includes(raw.fallback))
    throw new RiskListError(`default tier ${JSON.stringify(raw.fallback)} is not a tier`);
  for (const [country, tier] of Object.entries(raw.countries)) {
    if (!countries.includes(country))
      throw new RiskListError(`country ${JSON.stringify(country)} is not in the schema`);
    if (!names.includes(tier))
      throw new RiskListError(`country ${country}: tier ${JSON.stringify(tier)} is not a tier`);
  }
  return {
    tiers: names.map((name) => ({
      name,
      epsilon: String(raw.tiers[name]),
      delta: String(raw.delta),
    })),
    countryTiers: Object.fromEntries(
      countries.map((country) => [country, raw.countries[country] ?? raw.fallback]),
    ),
  };
}
