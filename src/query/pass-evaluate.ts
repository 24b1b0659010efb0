/**
 * @module query/pass-evaluate
 *
 * Reference semantics of multi-query passes (design.md section 9.3), in plain TypeScript:
 * - `evaluatePass` evaluates readable pass queries directly (DNF predicate over the real records);
 * - `passTotals` and `passSlotOutputs` compute the same with circuit semantics from the lowered queries (what
 *   PassStep accumulates and PassFinal reveals), so property tests pin the lowering to the readable meaning;
 * - `histogramOutcome` is the one definition of per-cell suppression and the table rule.
 *
 * Suppression with minimum group size g > 0: count, sum, threshold and avg as the single-query rule (count < g
 * or recordCount - count < g). A histogram cell of count c in a table of total T is hidden when c < g or
 * T - c < g; the whole table is hidden when n >= 1 cells are and their total R has R < g or R >= n (g - 1),
 * since T (public for an unconditional histogram, or from another query) minus the visible cells is R, and
 * those two cases (and n = 1) pin every hidden cell. A histogram of sums hides by the cells' counts.
 *
 * Security caveats: results carry true counts only where they are released; the totals of `passTotals` are
 * private (operator side only). Records are never logged or quoted in errors.
 */
import type { Schema } from "../dataset/schema.ts";
import { circuitClauseHolds, clauseHolds, isSuppressed } from "./evaluate.ts";
import {
  type CellOutcome,
  cellOf,
  type HistogramOutcome,
  type LoweredPassQuery,
  lowerPass,
  PASS_MODE,
  type PassQueryShape,
  type PassResult,
  resolvePassQuery,
} from "./pass.ts";

export type { CellOutcome, HistogramOutcome, PassResult };

/** Per-cell suppression and the table rule (see the module comment). */
export function histogramOutcome(
  counts: readonly number[],
  values: readonly bigint[],
  minGroupSize: number,
): HistogramOutcome {
  if (minGroupSize === 0) {
    return { tableSuppressed: false, cells: values.map((value) => ({ hidden: false, value })) };
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const small = counts.map((c) => c < minGroupSize || total - c < minGroupSize);
  const n = small.filter(Boolean).length;
  const mass = counts.reduce((acc, c, i) => acc + (small[i] ? c : 0), 0);
  const tableSuppressed = n > 0 && (mass < minGroupSize || mass >= n * (minGroupSize - 1));
  return {
    tableSuppressed,
    cells: counts.map((_, i) => {
      const hidden = tableSuppressed || (small[i] as boolean);
      return { hidden, value: hidden ? 0n : (values[i] as bigint) };
    }),
  };
}

/** Evaluates readable pass queries over the real records (encoded values in schema order). */
export function evaluatePass(
  queries: readonly unknown[],
  schema: Schema,
  records: readonly (readonly bigint[])[],
  minGroupSize = 0,
): PassResult[] {
  return queries.map((query) => evaluateOne(query, schema, records, minGroupSize));
}

function evaluateOne(
  query: unknown,
  schema: Schema,
  records: readonly (readonly bigint[])[],
  minGroupSize: number,
): PassResult {
  const resolved = resolvePassQuery(query, schema);
  const matching = records.filter((row) =>
    resolved.terms.some((term) =>
      term.every((clause) => clauseHolds(clause, row[clause.fieldIndex] as bigint)),
    ),
  );
  const count = matching.length;
  const suppressed = isSuppressed(count, records.length, minGroupSize);
  const aggregate = resolved.aggregate;
  const sumOf = (field: number, rows: readonly (readonly bigint[])[]) =>
    rows.reduce((total, row) => total + (row[field] as bigint), 0n);
  switch (aggregate.kind) {
    case "count":
      return { kind: "count", suppressed, value: suppressed ? 0n : BigInt(count) };
    case "sum":
      return { kind: "sum", suppressed, value: suppressed ? 0n : sumOf(aggregate.fieldIndex, matching) };
    case "threshold":
      return { kind: "threshold", suppressed, value: !suppressed && BigInt(count) >= aggregate.k };
    case "avg":
      return {
        kind: "avg",
        suppressed,
        sum: suppressed ? 0n : sumOf(aggregate.fieldIndex, matching),
        count: suppressed ? 0 : count,
      };
    case "histogram": {
      const used = aggregate.sizes.reduce((a, b) => a * b, 1);
      const counts = new Array<number>(used).fill(0);
      const sums = new Array<bigint>(used).fill(0n);
      for (const row of matching) {
        const cell = cellOf(aggregate, row);
        counts[cell] = (counts[cell] as number) + 1;
        if (aggregate.sumField !== undefined)
          sums[cell] = (sums[cell] as bigint) + (row[aggregate.sumField] as bigint);
      }
      const values = aggregate.sumField === undefined ? counts.map(BigInt) : sums;
      const outcome = histogramOutcome(counts, values, minGroupSize);
      return { kind: "histogram", suppressed: outcome.tableSuppressed, cells: outcome.cells };
    }
  }
}

/** What PassStep accumulates for one query slot (private). */
export interface SlotTotals {
  count: bigint;
  sum: bigint;
  /** G cell counts and sums (all zero outside histogram modes or beyond H). */
  cellCount: bigint[];
  cellSum: bigint[];
}

/** Circuit semantics: the totals of every slot over `records` (all real), with G cells per slot. */
export function passTotals(
  lowered: readonly LoweredPassQuery[],
  records: readonly (readonly bigint[])[],
  cells: number,
): SlotTotals[] {
  return lowered.map((query) => {
    const totals: SlotTotals = {
      count: 0n,
      sum: 0n,
      cellCount: new Array<bigint>(cells).fill(0n),
      cellSum: new Array<bigint>(cells).fill(0n),
    };
    const { mode, sumField, group1, group2, stride } = query.aggregate;
    const grouping = mode === PASS_MODE.histogram || mode === PASS_MODE.histogramSum;
    for (const row of records) {
      if (!loweredMatch(query, row)) continue;
      const value = row[sumField] ?? 0n;
      totals.count += 1n;
      totals.sum += value;
      const cell = grouping ? Number((row[group1] ?? 0n) + BigInt(stride) * (row[group2] ?? 0n)) : 0;
      if (cell >= cells) throw new RangeError(`a record falls in cell ${cell}, beyond G = ${cells}`);
      totals.cellCount[cell] = (totals.cellCount[cell] as bigint) + 1n;
      totals.cellSum[cell] = (totals.cellSum[cell] as bigint) + value;
    }
    return totals;
  });
}

/** DNF of the lowered clauses: starts[c] opens a new term. */
export function loweredMatch(query: LoweredPassQuery, row: readonly bigint[]): boolean {
  let any = false;
  let term = true;
  query.clauses.forEach((clause, c) => {
    if (c > 0 && query.aggregate.starts[c]) {
      any ||= term;
      term = true;
    }
    term &&= circuitClauseHolds(clause, row[clause.fieldIndex] ?? 0n);
  });
  return any || term;
}

/** PassFinal's outputs for one slot (circuit semantics, design.md 9.4), as bigints. */
export interface SlotOutputs {
  suppressed: bigint;
  answer: bigint;
  count: bigint;
  /** G cell signals (2 * value + hidden; 0 beyond the table), only for slots < H. */
  cells: bigint[];
}

export function passSlotOutputs(
  query: LoweredPassQuery,
  totals: SlotTotals,
  recordCount: number,
  minGroupSize: number,
): SlotOutputs {
  const { mode, k, used } = query.aggregate;
  const count = Number(totals.count);
  const scalar = isSuppressed(count, recordCount, minGroupSize);
  const cells = new Array<bigint>(totals.cellCount.length).fill(0n);
  if (mode === PASS_MODE.histogram || mode === PASS_MODE.histogramSum) {
    const counts = totals.cellCount.slice(0, used).map(Number);
    const values = (mode === PASS_MODE.histogram ? totals.cellCount : totals.cellSum).slice(0, used);
    const outcome = histogramOutcome(counts, values, minGroupSize);
    outcome.cells.forEach((cell, g) => {
      cells[g] = 2n * cell.value + (cell.hidden ? 1n : 0n);
    });
    return { suppressed: outcome.tableSuppressed ? 1n : 0n, answer: 0n, count: 0n, cells };
  }
  if (scalar) return { suppressed: 1n, answer: 0n, count: 0n, cells };
  const answer =
    mode === PASS_MODE.count
      ? totals.count
      : mode === PASS_MODE.threshold
        ? totals.count >= k
          ? 1n
          : 0n
        : totals.sum;
  return { suppressed: 0n, answer, count: mode === PASS_MODE.avg ? totals.count : 0n, cells };
}

/** Circuit-semantics evaluation of a whole pass from readable queries (lowered for `shape`). */
export function evaluatePassLowered(
  queries: readonly unknown[],
  schema: Schema,
  shape: PassQueryShape,
  records: readonly (readonly bigint[])[],
  minGroupSize: number,
): SlotOutputs[] {
  const lowered = lowerPass(queries, schema, shape);
  const totals = passTotals(lowered, records, shape.cells);
  return lowered.map((query, q) =>
    passSlotOutputs(query, totals[q] as SlotTotals, records.length, minGroupSize),
  );
}
