/**
 * `npm run bench:pass` (docs/design.md 9.5): what one pass over a chunk costs for 1 query, for Q = 8 queries
 * in one proof, and for G = 16, 64 and 256 histograms, against the same answers as separate proofs of the
 * 1-query circuit. Shape: one chunk of S = 32 records of a 9-field schema close to the standard shape
 * (key + 4 x uint32, enums of 8, 32 and 128 values, a bool; W = 32), C = 4 clause slots of M = 4, dataset tree
 * depth 1. Each circuit is compiled (constraints from the r1cs), gets INSECURE development keys, and proves one
 * chunk of random records three times with each backend (median after a warm-up proof, rows interleaved; the
 * native prover when built, and snarkjs).
 * Prints a table and ends with `8 queries in one pass / 8 proofs: X` (proving-time ratio of the first backend,
 * the native prover when built; target <= 0.6). `-- --no-histograms` runs only the 1-query and Q = 8 rows.
 */
import { join } from "node:path";
import { type PassShape, passCircuitId, passQueryShape, passShapeFor } from "../src/circuits/pass-shape.ts";
import { planPassChain } from "../src/circuits/pass-witness.ts";
import { commitChunks } from "../src/dataset/chunk-commit.ts";
import { defaultLeafRecords, fieldDomains } from "../src/dataset/chunk-layout.ts";
import { getPoseidon } from "../src/dataset/commitment.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import type { ProverBackend } from "../src/prover/backend.ts";
import { createNativeBackend } from "../src/prover/native-backend.ts";
import { createSnarkjsBackend } from "../src/prover/snarkjs-backend.ts";
import { encodePassPublic, type PassQuery } from "../src/query/pass.ts";
import { buildDevKeys, terminateCurveWorkers } from "../src/setup/index.ts";
import { ensurePassMainFiles } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { createRng, randomRecords } from "../test/helpers/random.ts";

const S = 32;
const RUNS = 3;
const SCHEMA = parseSchema({
  fields: [
    { name: "userId", type: "uint", bits: 32 },
    { name: "edits", type: "uint", bits: 32 },
    { name: "bytes", type: "uint", bits: 32 },
    { name: "pages", type: "uint", bits: 32 },
    { name: "days", type: "uint", bits: 32 },
    { name: "region", type: "enum", values: Array.from({ length: 8 }, (_, i) => `r${i}`) },
    { name: "country", type: "enum", values: Array.from({ length: 32 }, (_, i) => `c${i}`) },
    { name: "wiki", type: "enum", values: Array.from({ length: 128 }, (_, i) => `w${i}`) },
    { name: "bot", type: "bool" },
  ],
  key: "userId",
});
const DOMAINS = fieldDomains(SCHEMA);
const LAYOUT = {
  version: 2 as const,
  chunkSize: S,
  leafRecords: defaultLeafRecords(DOMAINS, S),
  treeDepth: 1,
};

interface Row {
  readonly label: string;
  readonly shape: PassShape;
  readonly queries: PassQuery[];
  /** Proofs of the 1-query circuit that give the same answers. */
  readonly separate: number;
}

const clause = (field: string, op: "gte" | "lt" | "eq" | "neq", value: number | string | boolean) =>
  ({ field, op, value }) as PassQuery["predicate"] extends (infer C)[] ? C : never;

/** Eight different queries of up to 4 clauses (ORs included). */
const EIGHT: PassQuery[] = [
  { predicate: [clause("edits", "gte", 100), clause("bot", "eq", false)], aggregate: { kind: "count" } },
  { predicate: [clause("region", "eq", "r3")], aggregate: { kind: "sum", field: "bytes" } },
  {
    predicate: {
      anyOf: [[clause("country", "eq", "c1")], [clause("country", "eq", "c2"), clause("days", "gte", 30)]],
    },
    aggregate: { kind: "avg", field: "edits" },
  },
  {
    predicate: [clause("pages", "lt", 1000), clause("wiki", "neq", "w0")],
    aggregate: { kind: "threshold", k: 5 },
  },
  {
    predicate: [clause("days", "gte", 7), clause("edits", "lt", 5000), clause("bot", "eq", true)],
    aggregate: { kind: "count" },
  },
  { predicate: [clause("wiki", "eq", "w7")], aggregate: { kind: "sum", field: "edits" } },
  {
    predicate: [
      clause("bytes", "gte", 1 << 20),
      clause("region", "neq", "r0"),
      clause("country", "neq", "c5"),
      clause("bot", "eq", false),
    ],
    aggregate: { kind: "count" },
  },
  { predicate: [], aggregate: { kind: "avg", field: "days" } },
];

function shapeOf(queries: number, histogramSlots: number, cells: number): PassShape {
  return passShapeFor(SCHEMA, LAYOUT, { clauses: 4, setSize: 4, queries, histogramSlots, cells });
}

const ROWS: Row[] = [
  { label: "1 query", shape: shapeOf(1, 0, 1), queries: [EIGHT[0] as PassQuery], separate: 1 },
  { label: "Q = 8 queries", shape: shapeOf(8, 0, 1), queries: EIGHT, separate: 8 },
  ...(
    [
      [16, ["region", "bot"]],
      [64, ["country", "bot"]],
      [256, ["wiki", "bot"]],
    ] as const
  ).map(([cells, by]) => ({
    label: `histogram G = ${cells} (${by.join(" × ")})`,
    shape: shapeOf(1, 1, cells),
    queries: [
      { predicate: [clause("edits", "gte", 10)], aggregate: { kind: "histogram" as const, by: [...by] } },
    ],
    separate: cells,
  })),
];

/** The native prover (when built) and snarkjs; the ratio line uses the first. */
function backendsFor(keysDir: string): ProverBackend[] {
  const backends: ProverBackend[] = [];
  try {
    backends.push(createNativeBackend({ keysDir }));
  } catch (error) {
    process.stderr.write(`native prover unavailable (${(error as Error).message}); snarkjs only\n`);
  }
  backends.push(createSnarkjsBackend({ keysDir }));
  return backends;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function proveMs(backend: ProverBackend, id: string, input: Record<string, unknown>) {
  const started = performance.now();
  await backend.prove(id, input);
  return performance.now() - started;
}

/**
 * Median proving time per row and backend: one untimed warm-up proof each, then RUNS rounds that prove every
 * row once in turn, so a change of machine load during the run hits all rows alike rather than one.
 */
async function proveTimes(
  backends: readonly ProverBackend[],
  jobs: readonly { id: string; input: Record<string, unknown> }[],
): Promise<number[][]> {
  const times = jobs.map(() => backends.map((): number[] => []));
  for (let run = -1; run < RUNS; run++) {
    for (const [j, job] of jobs.entries()) {
      for (const [b, backend] of backends.entries()) {
        const ms = await proveMs(backend, job.id, job.input);
        if (run >= 0) ((times[j] as number[][])[b] as number[]).push(ms);
      }
    }
  }
  return times.map((row) => row.map(median));
}

interface Measured {
  readonly row: Row;
  readonly constraints: number;
  /** Median proving time per backend, backend order. */
  readonly ms: number[];
}

function tableLines(backends: readonly ProverBackend[], measured: readonly Measured[]): string[] {
  const one = measured[0] as Measured;
  const timeHeads = backends.map((b) => `${b.name} prove (ms) | ${b.name} vs separate 1-query proofs`);
  return [
    `backends: ${backends.map((b) => b.name).join(", ")}; one chunk of S = ${S} records, 9 fields (W = 32), C = 4, M = 4; median of ${RUNS} proofs`,
    "",
    `| pass | constraints | per record | ${timeHeads.join(" | ")} |`,
    `|---|---|---|${backends.map(() => "---|---|").join("")}`,
    ...measured.map(({ row, constraints: n, ms }) => {
      const times = ms.map((t, b) => {
        const separate = row.separate * (one.ms[b] as number);
        return `${t.toFixed(0)} | ${row.separate} x ${(one.ms[b] as number).toFixed(0)} = ${separate.toFixed(0)} (${(t / separate).toFixed(2)})`;
      });
      return `| ${row.label} | ${n.toLocaleString("en-US")} | ${(n / S).toFixed(1)} | ${times.join(" | ")} |`;
    }),
  ];
}

/** `--no-histograms`: only the 1-query and Q = 8 rows (the ratio line), for a quick run. */
const SELECTED = process.argv.includes("--no-histograms") ? ROWS.slice(0, 2) : ROWS;

async function main(): Promise<void> {
  const keysDir = join(buildRoot(), "bench-pass-keys");
  const mains = (await Promise.all(SELECTED.map((row) => ensurePassMainFiles(row.shape)))).map(
    ([step]) => step,
  );
  const built = await buildDevKeys(mains, { keysDir, replace: true, progress: consoleProgress() });
  const constraints = new Map(
    built.circuits.map((circuit) => [circuit.compiled.id, circuit.compiled.constraints]),
  );
  const backends = backendsFor(keysDir);
  const poseidon = await getPoseidon();
  const records = randomRecords(createRng(5), SCHEMA, S).sort((a, b) =>
    (a[0] as bigint) < (b[0] as bigint) ? -1 : 1,
  );
  const committed = commitChunks(poseidon, {
    layout: LAYOUT,
    domains: DOMAINS,
    keyField: 0,
    records,
    secret: new Uint8Array(32).fill(1),
    datasetId: "bench-pass",
    epoch: 1,
  });
  const jobs = SELECTED.map((row) => {
    const query = encodePassPublic(row.queries, SCHEMA, passQueryShape(row.shape));
    const plan = planPassChain(poseidon, row.shape, committed, { nonce: 1n, query, minGroupSize: 0 });
    return { id: passCircuitId(row.shape), input: plan.chunks[0]?.input as Record<string, unknown> };
  });
  const times = await proveTimes(backends, jobs);
  const measured: Measured[] = SELECTED.map((row, j) => ({
    row,
    constraints: constraints.get(jobs[j]?.id as string) ?? 0,
    ms: times[j] as number[],
  }));
  for (const backend of backends) await (backend as { close?: () => Promise<void> }).close?.();
  await terminateCurveWorkers();
  const one = (measured[0] as Measured).ms[0] as number;
  const eight = (measured[1] as Measured).ms[0] as number;
  process.stdout.write(
    `${tableLines(backends, measured).join("\n")}\n\n8 queries in one pass / 8 proofs: ${(eight / (8 * one)).toFixed(2)}\n`,
  );
}

await main();
