/**
 * @module test/bench-all
 *
 * `npm run bench` (scripts/bench-all.ts) without running a bench: every `bench:*` script has a plan (so a
 * new bench is not run blindly), the hours-long ones run with their quick options by default and in full
 * with `--full`, and bench/RESULTS.md describes the machine and the date and says which runs were quick.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  argsFor,
  type BenchRun,
  benchScripts,
  describeMachine,
  PLANS,
  renderResults,
} from "../scripts/bench-all.ts";

const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

describe("npm run bench", () => {
  it("knows every bench script of package.json", () => {
    const scripts = benchScripts(packageJson);
    expect(scripts.size).toBeGreaterThanOrEqual(10);
    expect(scripts.get("verify")).toBe("bench/verify.ts");
    expect([...scripts.keys()].filter((name) => PLANS[name] === undefined)).toEqual([]);
    expect(packageJson.scripts.bench).toBe("tsx scripts/bench-all.ts");
  });

  it("uses quick options for hours-long benches by default, full ones with --full", () => {
    expect(argsFor("scale", "default").quickUsed).toBe(true);
    expect(argsFor("scale", "full")).toEqual({ args: [], quickUsed: false });
    expect(argsFor("verify", "default")).toEqual({ args: [], quickUsed: false });
    expect(argsFor("verify", "quick")).toEqual({ args: ["4", "8"], quickUsed: true });
  });

  it("writes the machine, the date and each run", () => {
    const run: BenchRun = {
      name: "scale",
      command: "npx tsx bench/scale.ts --chunks 4",
      args: ["--chunks", "4"],
      quickUsed: true,
      hours: "2^20-record commits",
      exitCode: 0,
      seconds: 12.3,
      loadBefore: [1.5, 1, 1],
      loadAfter: [2.5, 1, 1],
      output: "records/s: 42\n",
    };
    const page = renderResults([run], describeMachine(), new Date("2026-12-01T16:00:00Z"));
    expect(page).toContain("on 2026-12-01T16:00:00.000Z");
    expect(page).toMatch(/- CPU: .+, \d+ cores/);
    expect(page).toMatch(/- memory: \d+\.\d GiB/);
    expect(page).toContain(`- Node.js: ${process.version}`);
    expect(page).toContain("- load average (1, 5, 15 min) at start: ");
    expect(page).toContain("| scale | `npx tsx bench/scale.ts --chunks 4` (quick) | 12 | 0 | 1.50 / 2.50 |");
    expect(page).toContain(
      "- scale: quick options (a full run, `--full`, takes hours here: 2^20-record commits).",
    );
    expect(page).toContain("```\nrecords/s: 42\n```");
    expect(page).not.toContain("Partial");
    const partial = renderResults([run], describeMachine(), new Date(), ["privacy", "cli"]);
    expect(partial).toContain("not run yet: privacy, cli.");
  });
});
