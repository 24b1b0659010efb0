/**
 * @module scripts/bench-all
 *
 * `npm run bench`: runs every bench script (each `bench:*` script of package.json, one child process after
 * the other, output shown as it runs) and writes bench/RESULTS.md: the date, the machine (CPU model, cores,
 * memory, OS, Node version, load average before and after each run) and per bench its command, wall time,
 * exit status and output.
 *
 * Full runs of bench:chunk-size (several 2^17-2^19 setups and a 2^14-record chain) and bench:scale (2^20-record
 * commits, Redis workers, a 2^14-record chain) take hours on a 2-core machine: `npm run bench` runs them with
 * their quick options (PLANS below, said so in RESULTS.md); `--full` runs them in full. `--quick` runs every
 * bench with its smallest options (to check the runner: minutes, figures meaningless), `--only a,b` runs the
 * named benches in that order, `--out FILE` writes elsewhere, `--timeout-min N` (default 300) kills a bench that
 * runs longer (or that never exits after printing its table) and records it as killed.
 *
 * RESULTS.md is rewritten after every bench (the benches not run yet listed), so a stopped run keeps what it
 * measured.
 *
 * Caveat: figures from a loaded machine are not comparable; RESULTS.md records the load average so a reader
 * can tell.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, type } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** How one bench runs: its default arguments, the quick ones, and whether `npm run bench` uses quick. */
export interface BenchPlan {
  readonly full: readonly string[];
  readonly quick: readonly string[];
  /** A full run takes hours here: `npm run bench` uses `quick` unless `--full`. */
  readonly hours?: string;
}

export const PLANS: Readonly<Record<string, BenchPlan>> = {
  constraints: { full: [], quick: [] },
  verify: { full: [], quick: ["4", "8"] },
  setup: { full: [], quick: ["--powers", "10", "--skip-big"] },
  load: { full: [], quick: ["--clients", "4", "--partners", "2", "--max-seconds", "60"] },
  prove: { full: [], quick: ["--shapes", "none", "--chunks", "none", "--synthetic", "20000", "--runs", "1"] },
  scale: {
    full: [],
    quick: [
      "--chunks",
      "4",
      "--snarkjs-chunks",
      "1",
      "--commit-sizes",
      "14",
      "--e2e-log",
      "10",
      "--no-redis",
    ],
    hours: "2^20-record commits, 1/2-process and Redis-worker proving rows and a 2^14-record chain",
  },
  "chunk-size": {
    full: [],
    quick: ["--sizes", "32", "--synthetic-sizes", "64", "--no-chain"],
    hours: "development setups up to 2^19 and a 2^14-record chain",
  },
  commit: { full: [], quick: ["--sizes", "14"] },
  privacy: { full: [], quick: ["--runs", "1"] },
  cli: { full: [], quick: ["3"] },
  pass: { full: [], quick: [] },
};

export type RunMode = "default" | "full" | "quick";

export interface BenchRun {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly quickUsed: boolean;
  readonly hours?: string;
  readonly exitCode: number | null;
  readonly seconds: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly output: string;
}

/** The bench scripts of package.json: name (without `bench:`) -> script file. */
export function benchScripts(packageJson: { scripts?: Record<string, string> }): Map<string, string> {
  const scripts = new Map<string, string>();
  for (const [key, command] of Object.entries(packageJson.scripts ?? {})) {
    const file = /^tsx (bench\/\S+\.ts)$/.exec(command)?.[1];
    if (key.startsWith("bench:") && file !== undefined) scripts.set(key.slice("bench:".length), file);
  }
  return scripts;
}

/** The arguments a bench runs with in `mode`, and whether they are its quick ones. */
export function argsFor(name: string, mode: RunMode): { args: readonly string[]; quickUsed: boolean } {
  const plan = PLANS[name] ?? { full: [], quick: [] };
  const quickUsed = mode === "quick" || (mode === "default" && plan.hours !== undefined);
  return { args: quickUsed ? plan.quick : plan.full, quickUsed };
}

/** The machine in one Markdown list. */
export function describeMachine(): string[] {
  const cpu = cpus();
  return [
    `- CPU: ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${type()} ${release()}`,
    `- Node.js: ${process.version}`,
    `- load average (1, 5, 15 min) at start: ${formatLoad(loadavg())}`,
  ];
}

function formatLoad(load: readonly number[]): string {
  return load.map((value) => value.toFixed(2)).join(", ");
}

/** bench/RESULTS.md. */
export function renderResults(
  runs: readonly BenchRun[],
  machine: readonly string[],
  date: Date,
  pending: readonly string[] = [],
): string {
  const rows = runs.map(
    (run) =>
      `| ${run.name} | \`${run.command}\`${run.quickUsed ? " (quick)" : ""} | ${run.seconds.toFixed(0)} | ${run.exitCode ?? "killed"} | ${formatLoad(run.loadBefore.slice(0, 1))} / ${formatLoad(run.loadAfter.slice(0, 1))} |`,
  );
  const quick = runs.filter((run) => run.quickUsed && run.hours !== undefined);
  return [
    "# Benchmark results",
    "",
    `Written by \`npm run bench\` (scripts/bench-all.ts) on ${date.toISOString()}.`,
    "",
    "## Machine",
    "",
    ...machine,
    "",
    "## Runs",
    "",
    "| bench | command | wall s | exit | load before / after |",
    "|---|---|---|---|---|",
    ...rows,
    "",
    ...quick.map(
      (run) => `- ${run.name}: quick options (a full run, \`--full\`, takes hours here: ${run.hours}).`,
    ),
    ...(quick.length > 0 ? [""] : []),
    ...(pending.length > 0
      ? [`**Partial**: the run is in progress or was stopped; not run yet: ${pending.join(", ")}.`, ""]
      : []),
    ...runs.flatMap((run) => [`## ${run.name}`, "", "```", run.output.trimEnd(), "```", ""]),
  ].join("\n");
}

function runBench(name: string, file: string, mode: RunMode, timeoutMs: number): Promise<BenchRun> {
  const { args, quickUsed } = argsFor(name, mode);
  const command = ["npx tsx", file, ...args].join(" ");
  const loadBefore = loadavg();
  const started = performance.now();
  process.stdout.write(`\n=== bench ${name}: ${command}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const timer = setTimeout(() => {
      output += `\n[bench-all] killed after ${timeoutMs / 60_000} min\n`;
      child.kill("SIGKILL");
    }, timeoutMs);
    const collect = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk.toString();
      stream.write(chunk);
    };
    child.stdout.on("data", collect(process.stdout));
    child.stderr.on("data", collect(process.stderr));
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const hours = PLANS[name]?.hours;
      resolve({
        name,
        command,
        args,
        quickUsed,
        exitCode,
        seconds,
        loadBefore,
        loadAfter: loadavg(),
        output,
        ...(hours ? { hours } : {}),
      });
    });
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      full: { type: "boolean", default: false },
      only: { type: "string" },
      out: { type: "string", default: fileURLToPath(new URL("../bench/RESULTS.md", import.meta.url)) },
      "timeout-min": { type: "string", default: "300" },
    },
  });
  const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const scripts = benchScripts(packageJson);
  const only = values.only?.split(",").filter((name) => name !== "");
  const unknown = only?.filter((name) => !scripts.has(name)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown bench ${unknown.join(", ")} (benches: ${[...scripts.keys()].join(", ")})\n`,
    );
    return 2;
  }
  const mode: RunMode = values.quick ? "quick" : values.full ? "full" : "default";
  const timeoutMs = Number(values["timeout-min"]) * 60_000;
  if (!(timeoutMs > 0)) {
    process.stderr.write(`--timeout-min must be a positive number of minutes\n`);
    return 2;
  }
  const machine = describeMachine();
  const date = new Date();
  const selected: [string, string][] =
    only === undefined ? [...scripts] : only.map((name) => [name, scripts.get(name) as string]);
  const runs: BenchRun[] = [];
  // Written after every bench, so a run stopped part-way (hours here) still leaves what it measured.
  for (const [index, [name, file]] of selected.entries()) {
    runs.push(await runBench(name, file, mode, timeoutMs));
    const pending = selected.slice(index + 1).map(([rest]) => rest);
    writeFileSync(values.out, renderResults(runs, machine, date, pending));
  }
  process.stdout.write(`\nwrote ${values.out} (${runs.length} benches)\n`);
  return runs.every((run) => run.exitCode === 0) ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
