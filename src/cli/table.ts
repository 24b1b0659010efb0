/**
 * @module cli/table
 *
 * Plain-text tables for CLI and benchmark output (monospace, space-padded, a rule under the header).
 */

/** Renders rows under a header; long cells wrap at `maxWidth` characters per column. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  maxWidth = 60,
): string[] {
  const wrapped = rows.map((row) => row.map((cell) => wrap(cell, maxWidth)));
  const widths = header.map((title, column) =>
    Math.max(title.length, ...wrapped.flatMap((row) => (row[column] ?? [""]).map((line) => line.length))),
  );
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [format(header), format(widths.map((width) => "-".repeat(width)))];
  for (const row of wrapped) {
    const height = Math.max(...row.map((cell) => cell.length));
    for (let line = 0; line < height; line++) lines.push(format(row.map((cell) => cell[line] ?? "")));
  }
  return lines;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of text.split(" ")) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  lines.push(current);
  return lines;
}
