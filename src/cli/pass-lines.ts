/**
 * @module cli/pass-lines
 *
 * How `zktally verify` and `zktally inspect` print the answers of a pass bundle (several queries in one proof,
 * docs/bundle.md "Pass bundles"): one line per query, `[q]` and its statement in words; a histogram's cells
 * follow as a table (its fields, then the count or sum), a suppressed cell reading "fewer than k". Text from
 * the bundle goes through the caller's `printable` (control and bidi characters escaped).
 *
 * Imports only the SDK and cli/table.ts, so `zktally verify` keeps starting fast.
 */
import type { PassQuery } from "../query/pass.ts";
import { type PassAnswer, passAnswerInWords } from "../verifier/pass-bundle.ts";
import { renderTable } from "./table.ts";

export interface PassAnswers {
  readonly queries: readonly PassQuery[];
  readonly answers: readonly PassAnswer[];
  /** One statement per query (recomputed by the verifier, or by `inspect`). */
  readonly statements: readonly string[];
  readonly minGroupSize: number;
}

/** `PREFIX [q] statement` per query, each shown histogram followed by its table (indented). */
export function passAnswerLines(
  pass: PassAnswers,
  prefix: string,
  printable: (text: string) => string,
): string[] {
  return pass.queries.flatMap((query, q) => {
    const answer = pass.answers[q] as PassAnswer;
    const statement = pass.statements[q] as string;
    if (answer.kind !== "histogram" || answer.suppressed || query.aggregate.kind !== "histogram") {
      return [`${prefix}[${q}] ${printable(statement)}`];
    }
    const words = passAnswerInWords(answer, pass.minGroupSize);
    const what = statement.endsWith(`: ${words}`) ? statement.slice(0, -words.length - 2) : statement;
    const { by, sum } = query.aggregate;
    const header = [...by, sum === undefined ? "count" : `sum of ${sum}`].map(printable);
    const rows = answer.cells.map((cell) => [
      ...cell.cell.map((value) => printable(String(value))),
      "hidden" in cell ? `fewer than ${pass.minGroupSize}` : cell.value,
    ]);
    return [
      `${prefix}[${q}] ${printable(what)}:`,
      ...renderTable(header, rows).map((line) => `       ${line}`),
    ];
  });
}
