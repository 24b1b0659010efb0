/**
 * @module bench/prove
 *
 * Proving speed: the same zkey and witness proved by snarkjs and by the native prover (native/prover),
 * median of N runs each, run back to back per circuit so both see the same machine load.
 *
 * - Aggregate shapes (default: the 48,134-constraint default circuit aggregate-64x8x4) and chunk circuits
 *   (default: the standard shape at S = 128, bench/prove-chunk.ts) with INSECURE development keys built
 *   (once, cached) into `<build>/bench-prove/keys`; witness generation, which every backend runs before
 *   proving, is timed too: circom's wasm (snarkjs `wtns.calculate`, as SnarkjsBackend) and circom's C++
 *   generator (built with the circuit, `--cpp-witness no` skips it; run as NativeBackend runs it).
 * - Synthetic keys of N constraints (default 200,000 and 800,000), written by `zktally-prover synth`:
 *   structurally valid zkeys with random points (no trusted setup, so the proofs do not verify) and a
 *   witness of bits, 32-bit values and full field elements. Both provers do exactly the work of a real
 *   key of that size; on the shared 2-core benchmark machine a real dev setup of a 200k/800k aggregate
 *   circuit takes hours (the 48k one took 7 min of ptau and 17 min of phase 2), which is why.
 *
 *   npx tsx bench/prove.ts [--shapes 64x8x4,256x8x4-a4] [--chunks 128,256] [--synthetic 200000,800000]
 *                          [--runs 3] [--threads N] [--cpp-witness yes|no]
 *
 * snarkjs proves in a child process (bench/snarkjs-prove.mjs) and the native prover in its serve child,
 * so each peak RSS is that prover's own. Key loading is excluded from both (both backends keep keys in
 * memory across proofs). Prints a table and ends with `native/snarkjs speed-up: X` for the largest circuit
 * (by constraints).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as snarkjs from "snarkjs";
import { type AggregateShape, circuitId, makeShape } from "../src/circuits/shape.ts";
import { commitRecords } from "../src/dataset/committed.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import type { ProverBackend } from "../src/prover/backend.ts";
import { NativeProverProcess, nativeProverStatus } from "../src/prover/native-client.mjs";
import {
  circomInputJson,
  locateWitnessGenerator,
  runWitnessGenerator,
} from "../src/prover/native-witness.ts";
import { setupCacheArtifacts } from "../src/prover/pinned-artifacts.ts";
import { proveQuery } from "../src/prover/prove-query.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { buildDevKeys, terminateCurveWorkers } from "../src/setup/index.ts";
import { pinnedEntry } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile, ensureMainFile } from "../src/setup/main-files.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { chunkWitnessInput, standardChunkShape } from "./prove-chunk.ts";

const run = promisify(execFile);

interface Options {
  shapes: AggregateShape[];
  /** Chunk sizes S of the standard chunk shape. */
  chunks: number[];
  synthetic: number[];
  runs: number;
  threads?: number;
  /** Build and time circom's C++ witness generator too. */
  cppWitness: boolean;
}

/** `NxFxC` plus optional `-aA` / `-bB` (32-bit fields, sets of 4). */
function parseShape(text: string): AggregateShape {
  const m = /^(\d+)x(\d+)x(\d+)((?:-[ab]\d+)*)$/.exec(text);
  if (!m) throw new TypeError(`bad shape ${text} (expected NxFxC[-aA][-bB])`);
  const extra = Object.fromEntries(
    [...(m[4] ?? "").matchAll(/-([ab])(\d+)/g)].map((x) => [x[1], Number(x[2])]),
  );
  return makeShape({
    capacity: Number(m[1]),
    fields: Number(m[2]),
    clauses: Number(m[3]),
    width: 32,
    setSize: 4,
    leafRecords: extra.b ?? 4,
    arity: extra.a ?? 16,
  });
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = {
    shapes: [parseShape("64x8x4")],
    chunks: [128],
    synthetic: [200_000, 800_000],
    runs: 3,
    cppWitness: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new TypeError(`${arg} needs a value`);
    if (arg === "--shapes") opts.shapes = value === "none" ? [] : value.split(",").map(parseShape);
    else if (arg === "--chunks") opts.chunks = value === "none" ? [] : value.split(",").map(Number);
    else if (arg === "--cpp-witness") opts.cppWitness = value !== "no";
    else if (arg === "--synthetic") opts.synthetic = value === "none" ? [] : value.split(",").map(Number);
    else if (arg === "--runs") opts.runs = Math.max(1, Number.parseInt(value, 10));
    else if (arg === "--threads") opts.threads = Number.parseInt(value, 10);
    else throw new TypeError(`unknown argument ${arg}`);
  }
  return opts;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** The witness input proveQuery builds for a full random dataset and a count query. */
async function witnessInput(shape: AggregateShape): Promise<Record<string, unknown>> {
  const operator = generateOperatorKey();
  const records = Array.from({ length: shape.capacity }, (_, i) =>
    Array.from({ length: shape.fields }, (_, f) => BigInt((i * 7919 + f * 104729) % 1000)),
  );
  const schema = {
    fields: Array.from({ length: shape.fields }, (_, f) => ({
      name: `f${f}`,
      type: "uint" as const,
      bits: 32,
    })),
  };
  const dataset = await commitRecords({
    datasetId: "bench",
    epoch: 1,
    schema: schema as never,
    records,
    layout: shape,
    secret: new Uint8Array(32).fill(1),
    operatorSecretKey: operator.secretKey,
    circuits: [circuitId(shape)],
  });
  let captured: Record<string, unknown> | undefined;
  const recorder: ProverBackend = {
    name: "recorder",
    async prove(_id, input) {
      captured = input;
      throw new Error("captured");
    },
    async close() {},
  };
  const query = { predicate: [{ field: "f0", op: "lt", value: 500 }], aggregate: { kind: "count" } };
  await proveQuery(recorder, { dataset, shape, query, minGroupSize: 0, nonce: 1n }).catch(() => {});
  if (!captured) throw new Error("could not build a witness input");
  return captured;
}

export interface Row {
  id: string;
  constraints: number;
  witness?: number;
  witnessCpp?: number;
  snarkjs: number;
  snarkjsCpu: number;
  snarkjsRss: number;
  native: number;
  nativeCpu: number;
  nativeRss: number;
  parts: { abc: number; ntt: number; msm: number };
}

/**
 * snarkjs (child process) then native (serve child), `runs` proofs each of the same files (also used by
 * bench/chunk-size.ts).
 */
export async function measure(
  id: string,
  constraints: number,
  zkeyPath: string,
  wtnsPath: string,
  opts: Pick<Options, "runs" | "threads">,
): Promise<Row> {
  const progress = consoleProgress({ tag: "bench:prove" });
  progress("bench", `${id}: snarkjs x${opts.runs}`);
  const { stdout } = await run(
    process.execPath,
    ["bench/snarkjs-prove.mjs", zkeyPath, wtnsPath, String(opts.runs)],
    { maxBuffer: 1 << 20 },
  );
  const sj = JSON.parse(stdout.trim().split("\n").pop() as string) as {
    seconds: number[];
    cpuSeconds: number[];
    maxRssKb: number;
  };
  progress("bench", `${id}: native x${opts.runs}`);
  const prover = new NativeProverProcess({ threads: opts.threads });
  await prover.load(id, zkeyPath);
  const wtns = new Uint8Array(await readFile(wtnsPath));
  const nat: number[] = [];
  const natCpu: number[] = [];
  let rss = 0;
  let parts = { abc: 0, ntt: 0, msm: 0 };
  for (let i = 0; i < opts.runs; i++) {
    const reply = await prover.prove(id, wtns);
    nat.push(reply.timings.proveMs / 1000);
    natCpu.push(reply.timings.cpuMs / 1000);
    rss = Math.max(rss, reply.timings.maxRssKb);
    parts = { abc: reply.timings.abcMs, ntt: reply.timings.nttMs, msm: reply.timings.msmMs };
  }
  await prover.close();
  const row: Row = {
    id,
    constraints,
    snarkjs: median(sj.seconds),
    snarkjsCpu: median(sj.cpuSeconds),
    snarkjsRss: sj.maxRssKb / 1024,
    native: median(nat),
    nativeCpu: median(natCpu),
    nativeRss: rss / 1024,
    parts,
  };
  progress("bench", `${id}: snarkjs ${row.snarkjs.toFixed(2)} s, native ${row.native.toFixed(3)} s`);
  return row;
}

async function aggregateRows(opts: Options, dir: string): Promise<Row[]> {
  if (opts.shapes.length === 0) return [];
  const mains = await Promise.all(opts.shapes.map((s) => ensureMainFile(s)));
  const inputs = opts.shapes.map((shape) => () => witnessInput(shape));
  return circuitRows(mains, inputs, opts, dir, "keys");
}

async function chunkRows(opts: Options, dir: string): Promise<Row[]> {
  if (opts.chunks.length === 0) return [];
  const shapes = opts.chunks.map(standardChunkShape);
  const mains = await Promise.all(shapes.map((s) => ensureChunkMainFile(s)));
  return circuitRows(
    mains,
    shapes.map((shape) => () => chunkWitnessInput(shape)),
    opts,
    dir,
    "keys-chunk",
  );
}

/** Dev keys for `mains` (cached), then per circuit: witness times (wasm, C++) and both provers. */
async function circuitRows(
  mains: readonly string[],
  inputs: readonly (() => Promise<Record<string, unknown>>)[],
  opts: Options,
  dir: string,
  keysName: string,
): Promise<Row[]> {
  const keysDir = path.join(dir, keysName);
  const progress = consoleProgress({ tag: "bench:prove" });
  await buildDevKeys(mains, { keysDir, progress, replace: true });
  const rows: Row[] = [];
  for (const [i, main] of mains.entries()) {
    const compiled = await compileCircuit(main, { progress, nativeWitness: opts.cppWitness });
    const { manifest, entry } = await pinnedEntry(keysDir, compiled.id);
    const { zkeyPath, wasmPath } = await setupCacheArtifacts()(compiled.id, entry, manifest);
    const input = await (inputs[i] as () => Promise<Record<string, unknown>>)();
    const wasm = await witnessTimes(opts.runs, async () => {
      const out: { type: "mem"; data?: Uint8Array } = { type: "mem" };
      await snarkjs.wtns.calculate(input, wasmPath, out);
      if (!out.data) throw new Error("no witness");
      return out.data;
    });
    await terminateCurveWorkers();
    const cpp = await cppWitnessTimes(compiled.id, wasmPath, entry.wasmSha256, input, opts, wasm.wtns);
    const wtnsPath = path.join(dir, `${compiled.id}.wtns`);
    await writeFile(wtnsPath, wasm.wtns);
    const row = await measure(compiled.id, entry.constraints, zkeyPath, wtnsPath, opts);
    rows.push({ ...row, witness: wasm.seconds, witnessCpp: cpp });
  }
  return rows;
}

/** Median seconds of `runs` witness computations, and the last witness. */
async function witnessTimes(runs: number, compute: () => Promise<Uint8Array>) {
  const times: number[] = [];
  let wtns: Uint8Array = new Uint8Array();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    wtns = await compute();
    times.push((performance.now() - t0) / 1000);
  }
  return { seconds: median(times), wtns };
}

/** The C++ generator's median time when it is built; its witness must equal the wasm one byte for byte. */
async function cppWitnessTimes(
  id: string,
  wasmPath: string,
  wasmSha256: string,
  input: Record<string, unknown>,
  opts: Options,
  wasmWtns: Uint8Array,
): Promise<number | undefined> {
  if (!opts.cppWitness) return undefined;
  const found = await locateWitnessGenerator(id, wasmPath, wasmSha256);
  const json = circomInputJson(input);
  if (!("binaryPath" in found) || json === undefined) return undefined;
  const cpp = await witnessTimes(opts.runs, () => runWitnessGenerator(found.binaryPath, json));
  if (!Buffer.from(cpp.wtns).equals(Buffer.from(wasmWtns)))
    throw new Error(`${id}: C++ and wasm witnesses differ`);
  return cpp.seconds;
}

/** A `zktally-prover synth` key and witness of `n` constraints under `dir` (written once, then reused). */
export async function syntheticKey(
  dir: string,
  n: number,
  binary: string,
): Promise<{ zkeyPath: string; wtnsPath: string }> {
  const zkeyPath = path.join(dir, `synthetic-${n}.zkey`);
  const wtnsPath = path.join(dir, `synthetic-${n}.wtns`);
  if (!existsSync(zkeyPath) || !existsSync(wtnsPath)) {
    await run(binary, ["synth", `${zkeyPath}.tmp`, wtnsPath, String(n)], { maxBuffer: 1 << 20 });
    await rename(`${zkeyPath}.tmp`, zkeyPath);
  }
  return { zkeyPath, wtnsPath };
}

async function syntheticRows(opts: Options, dir: string, binary: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of opts.synthetic) {
    const { zkeyPath, wtnsPath } = await syntheticKey(dir, n, binary);
    rows.push(await measure(`synthetic-${n}`, n, zkeyPath, wtnsPath, opts));
  }
  return rows;
}

function witnessCell(r: Row): string {
  if (r.witness === undefined) return "-";
  return `${r.witness.toFixed(2)} / ${r.witnessCpp === undefined ? "-" : r.witnessCpp.toFixed(3)} s`;
}

function printTable(rows: readonly Row[], opts: Options): void {
  console.log(`\nGroth16 proving, median of ${opts.runs} (threads: ${opts.threads ?? "all cores"})\n`);
  console.log(
    "| circuit | constraints | witness wasm / C++ | snarkjs | snarkjs c/s | snarkjs CPU | snarkjs peak RSS | native | native c/s | native CPU | native peak RSS | native abc / ntt / msm | speed-up (wall) | speed-up (CPU) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const p = r.parts;
    const cells = [
      r.id,
      r.constraints,
      witnessCell(r),
      `${r.snarkjs.toFixed(2)} s`,
      Math.round(r.constraints / r.snarkjs),
      `${r.snarkjsCpu.toFixed(2)} s`,
      `${r.snarkjsRss.toFixed(0)} MB`,
      `${r.native.toFixed(3)} s`,
      Math.round(r.constraints / r.native),
      `${r.nativeCpu.toFixed(2)} s`,
      `${r.nativeRss.toFixed(0)} MB`,
      `${(p.abc / 1000).toFixed(2)} / ${(p.ntt / 1000).toFixed(2)} / ${(p.msm / 1000).toFixed(2)} s`,
      `${(r.snarkjs / r.native).toFixed(1)}x`,
      `${(r.snarkjsCpu / r.nativeCpu).toFixed(1)}x`,
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const status = nativeProverStatus();
  if (!status.available) throw new Error(`${status.reason}: run npm run build:native`);
  const dir = path.join(buildRoot(), "bench-prove");
  await mkdir(dir, { recursive: true });
  const rows = [
    ...(await aggregateRows(opts, dir)),
    ...(await chunkRows(opts, dir)),
    ...(await syntheticRows(opts, dir, status.path)),
  ];
  await terminateCurveWorkers();
  if (rows.length === 0) throw new Error("nothing to measure (--shapes none --chunks none --synthetic none)");
  printTable(rows, opts);
  const largest = rows.reduce((a, b) => (b.constraints >= a.constraints ? b : a));
  console.log(`\nnative/snarkjs speed-up: ${(largest.snarkjs / largest.native).toFixed(1)}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
