/**
 * @module examples/wikimedia/generate
 *
 * Deterministic generator of the synthetic sample dataset `editors.csv`: 60 editors shaped like Wikimedia
 * monthly editor activity (wiki, country, activity bucket consistent with the month's edits, registration
 * day counted from 2001-01-15, bot flag). Integer-only PRNG (mulberry32), so every platform produces the
 * same bytes. Run: `npx tsx examples/wikimedia/generate.ts` (rewrites editors.csv next to this file).
 *
 * Caveat: entirely synthetic; no real user ids or activity. Not a privacy-safe sample of anything.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { COUNTRIES_BY_WIKI, Random, type Weighted, WIKIS } from "../../src/config/sample-data.ts";

export const EDITOR_COUNT = 60;
export const DEFAULT_SEED = 20010115;
/** Days from 2001-01-15 to 2025-06-30: the latest registration day generated. */
const LAST_REGISTRATION_DAY = 8932;

/** Monthly-edit ranges per activity bucket (inclusive), with how often each bucket occurs. */
const ACTIVITY: Weighted<readonly [string, number, number]> = [
  [["1-4", 1, 4], 40],
  [["5-24", 5, 24], 30],
  [["25-99", 25, 99], 18],
  [["100+", 100, 2500], 12],
];

interface Editor {
  userId: number;
  wiki: string;
  country: string;
  activity: string;
  edits: number;
  registered: number;
  bot: boolean;
}

function makeEditor(random: Random, userId: number): Editor {
  const wiki = random.pick(WIKIS);
  const country = random.pick(COUNTRIES_BY_WIKI[wiki] ?? []);
  const bot = random.int(0, 19) === 0;
  // Bots are heavy editors; humans follow the bucket mix.
  const [activity, lo, hi] = bot ? (["100+", 500, 40000] as const) : random.pick(ACTIVITY);
  return {
    userId,
    wiki,
    country,
    activity,
    edits: random.int(lo, hi),
    registered: random.int(0, LAST_REGISTRATION_DAY),
    bot,
  };
}

/** The CSV text of `count` synthetic editors (distinct userIds, LF line ends, header first). */
export function generateEditorsCsv(seed = DEFAULT_SEED, count = EDITOR_COUNT): string {
  const random = new Random(seed);
  const used = new Set<number>();
  const lines = ["userId,wiki,country,activity,edits,registered,bot"];
  while (lines.length <= count) {
    const userId = random.int(1, 48_000_000);
    if (used.has(userId)) continue;
    used.add(userId);
    const e = makeEditor(random, userId);
    lines.push([e.userId, e.wiki, e.country, e.activity, e.edits, e.registered, e.bot].join(","));
  }
  return `${lines.join("\n")}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL("./editors.csv", import.meta.url), generateEditorsCsv());
}
