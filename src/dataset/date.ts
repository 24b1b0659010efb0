/**
 * @module dataset/date
 *
 * Calendar dates of `date` fields (design.md section 1): an ISO `YYYY-MM-DD` string is stored as its day
 * number since 1970-01-01 (proleptic Gregorian, UTC), an unsigned integer of {@link DATE_BITS} bits, so the
 * circuits compare dates exactly as they compare any uint. Pure and browser-safe (the verifier SDK formats
 * dates with it).
 *
 * Security caveats: parsing is strict (exactly `YYYY-MM-DD`, a real calendar day, inside the range), so one
 * date has exactly one textual form and one encoding; no time zones, no times of day.
 */

/** Bits of a date's day number: 0 .. 65535 covers 1970-01-01 .. 2149-06-06. */
export const DATE_BITS = 16;
export const MAX_DAY_NUMBER = 2 ** DATE_BITS - 1;
export const MIN_DATE = "1970-01-01";
export const MAX_DATE = "2149-06-06";

const ISO_DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const MS_PER_DAY = 86_400_000;

/** Day number of an ISO date, or the reason it is not a valid date of a `date` field. */
export function parseIsoDate(text: string): number | string {
  const match = ISO_DATE.exec(text);
  if (match === null) return "expected an ISO date YYYY-MM-DD";
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12) return `month ${match[2]} is not 01..12`;
  if (day < 1 || day > daysInMonth(year, month)) return `${match[1]}-${match[2]} has no day ${match[3]}`;
  const days = Date.UTC(year, month - 1, day) / MS_PER_DAY;
  if (days < 0 || days > MAX_DAY_NUMBER) return `dates run from ${MIN_DATE} to ${MAX_DATE}`;
  return days;
}

/** The ISO date of a day number (0 .. {@link MAX_DAY_NUMBER}); throws `RangeError` outside. */
export function formatDayNumber(days: number | bigint): string {
  const n = Number(days);
  if (!Number.isInteger(n) || n < 0 || n > MAX_DAY_NUMBER) {
    throw new RangeError(`day number ${days} is not a date (0 .. ${MAX_DAY_NUMBER})`);
  }
  return new Date(n * MS_PER_DAY).toISOString().slice(0, 10);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
