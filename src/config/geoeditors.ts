/**
 * @module config/geoeditors
 *
 * Deterministic generator of the synthetic dataset `npm start` commits: editors shaped like Wikimedia's
 * geoeditors data (wiki, country, monthly activity level 1-4 / 5-99 / 100+ consistent with the month's edit
 * count, registration date as a `date` field, bot flag), keyed by a strictly increasing userId so that the
 * file streams into a chunk chain. Records 1 and 2 (in userId order) live in Iceland (`IS`), a group far below
 * any sensible minimum group size: the main job's suppressed query asks about it. Same seed, same bytes.
 *
 * Caveat: entirely synthetic; no real user ids or activity. Not a privacy-safe sample of anything.
 */
import { COUNTRIES_BY_WIKI, Random, type Weighted, WIKIS } from "./sample-data.ts";

export const GEOEDITORS_SEED = 20260401;
/** The rare country the generator plants in exactly two records (the suppressed group). */
export const RARE_COUNTRY = "IS";

const ACTIVITY_LEVELS: Weighted<readonly [string, number, number]> = [
  [["1-4", 1, 4], 55],
  [["5-99", 5, 99], 33],
  [["100+", 100, 3000], 12],
];

const COUNTRIES = [
  ...new Set(Object.values(COUNTRIES_BY_WIKI).flatMap((weighted) => weighted.map(([country]) => country))),
  RARE_COUNTRY,
];

/** The schema of the generated file (dates are ISO strings in the file, day numbers in the circuits). */
export const GEOEDITORS_SCHEMA = Object.freeze({
  fields: [
    { name: "userId", type: "uint", bits: 32 },
    { name: "wiki", type: "enum", values: WIKIS.map(([wiki]) => wiki) },
    { name: "country", type: "enum", values: COUNTRIES },
    { name: "activity", type: "enum", values: ACTIVITY_LEVELS.map(([[level]]) => level) },
    { name: "edits", type: "uint", bits: 32 },
    { name: "registered", type: "date" },
    { name: "bot", type: "bool" },
  ],
  key: "userId",
});

/** 2001-01-15 (the first registrations) .. 2025-06-30, as day numbers since 1970-01-01. */
const FIRST_REGISTRATION = Date.UTC(2001, 0, 15) / 86_400_000;
const LAST_REGISTRATION = Date.UTC(2025, 5, 30) / 86_400_000;

function isoDate(dayNumber: number): string {
  return new Date(dayNumber * 86_400_000).toISOString().slice(0, 10);
}

function editorRow(random: Random, userId: number, rare: boolean): string {
  const wiki = random.pick(WIKIS);
  const country = rare ? RARE_COUNTRY : random.pick(COUNTRIES_BY_WIKI[wiki] ?? []);
  const bot = random.int(0, 24) === 0;
  const [activity, lo, hi] = bot ? (["100+", 500, 40000] as const) : random.pick(ACTIVITY_LEVELS);
  const registered = isoDate(random.int(FIRST_REGISTRATION, LAST_REGISTRATION));
  return [userId, wiki, country, activity, random.int(lo, hi), registered, bot].join(",");
}

/** The CSV text of `count` (>= 3) editors, userIds strictly increasing, LF line ends, header first. */
export function generateGeoeditorsCsv(count: number, seed = GEOEDITORS_SEED): string {
  if (!Number.isSafeInteger(count) || count < 3)
    throw new RangeError(`record count must be >= 3, got ${count}`);
  const random = new Random(seed);
  const lines = [GEOEDITORS_SCHEMA.fields.map((field) => field.name).join(",")];
  let userId = 0;
  for (let i = 0; i < count; i++) {
    userId += random.int(1, 5000);
    lines.push(editorRow(random, userId, i === 1 || i === 2));
  }
  return `${lines.join("\n")}\n`;
}
