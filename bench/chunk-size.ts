/**
 * @module bench/chunk-size
 *
 * Chooses the default chunk size S by measurement (`npm run bench:chunk-size`, docs/design.md 7.8). For the
 * standard chunk shape (bench/standard-chunk.ts: 8 fields x 32 bits, key field, C = 4, M = 4, K = 4) and each
 * S (default 32, 64, 128, 256, 512): constraints, ptau power, compile, ptau and phase-2 time (INSECURE
 * development setup), witness-generation time (circom wasm), and proving time and peak RSS of one chunk
 * proof with the native prover and with snarkjs (bench/prove.ts `measure`: same zkey and witness, each in its
 * own process). Sizes in `--synthetic-sizes` (default 256,512) get no setup (impractical on this shared
 * machine: phase 2 took 271, 559 and 864 s for S = 32, 64, 128 under a load average of 15-21, so a 2^18 or
 * 2^19 ptau and a 176k or 347k phase 2 would take most of an hour) and are proved with a `zktally-prover synth` key of the
 * same constraint count (the same prover work; such a proof does not verify); their witness is the real one.
 * Then a chain over 2^14 records MEASURED end to end at one S: the one bench:scale recorded at the default S
 * (build/bench-chain/), or else measured here (`--chain-size S`, default the largest S with keys): committed
 * through the chunk store, proven with 2 native prover processes, verified with the SDK. Bundle size and
 * verify time at the other sizes are DERIVED from it (per-chunk entry bytes and per-chunk verify time, the
 * final proof's verification measured alone as the fixed part), and marked so.
 *
 * Setup times are measured when a key is built; the key cache (build/) makes later runs skip the setup, so
 * each measured time is recorded in build/bench-chunk-size/setup-times.json and later runs print the recorded
 * figure marked `*`.
 *
 *   npx tsx bench/chunk-size.ts [--sizes 32,64,128,256,512] [--synthetic-sizes 256,512|none] [--runs 1]
 *                               [--chain-size S] [--chain-log 14] [--no-chain] [--chain-only]
 * (`--chain-only`: just the chain table for the sizes, from the recorded or a measured chain.)
 *
 * Caveat: the benchmark machine is shared (2 cores): every figure moves with the load average printed.
 * Ends with `default chunk size: S` (DEFAULT_CHUNK_SIZE, src/dataset/chunk-layout.ts).
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as snarkjs from "snarkjs";
import { chunkCircuitId } from "../src/circuits/chunk-shape.ts";
import { renderTable } from "../src/cli/table.ts";
import { DEFAULT_CHUNK_SIZE } from "../src/dataset/chunk-layout.ts";
import { nativeProverStatus } from "../src/prover/native-client.mjs";
import { setupCacheArtifacts } from "../src/prover/pinned-artifacts.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { compileCircuit } from "../src/setup/compile.ts";
import { pinnedEntry } from "../src/setup/keys-manifest.ts";
import { ensureChunkMainFile } from "../src/setup/main-files.ts";
import { buildRoot, ptauDir } from "../src/setup/paths.ts";
import { devPtau, devPtauPath, requiredPtauPower, terminateCurveWorkers } from "../src/setup/ptau.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { measure, type Row as ProveRow, syntheticKey } from "./prove.ts";
import {
  chunkTasks,
  type EndToEnd,
  endToEndChain,
  ensureChainKeys,
  median,
  projectChain,
  recordedChain,
  standardChunkShape,
} from "./standard-chunk.ts";

const progress = consoleProgress({ tag: "bench:chunk-size" });
const DIR = path.join(buildRoot(), "bench-chunk-size");
const TIMES_FILE = path.join(DIR, "setup-times.json");

interface SetupTimes {
  compileSeconds?: number;
  ptauSeconds?: number;
  phase2Seconds?: number;
  load?: number;
}

interface SizeRow {
  readonly chunkSize: number;
  /** Proofs made with a synthetic key of the same size (no setup run). */
  readonly synthetic: boolean;
  readonly constraints: number;
  readonly ptauPower: number;
  /** Power of the ptau file the setup used (a larger cached one is reused); undefined without a setup. */
  readonly ptauUsed: number | undefined;
  readonly setup: Prepared["setup"];
  readonly witnessSeconds: number;
  readonly witnessCpuSeconds: number;
  readonly prove: ProveRow;
}

async function readTimes(): Promise<Record<string, SetupTimes>> {
  return existsSync(TIMES_FILE) ? JSON.parse(await readFile(TIMES_FILE, "utf8")) : {};
}

async function recordTimes(id: string, times: SetupTimes): Promise<void> {
  const all = await readTimes();
  all[id] = { ...all[id], ...times, load: Number(loadavg()[0]?.toFixed(2)) };
  await writeFile(TIMES_FILE, `${JSON.stringify(all, null, 2)}\n`);
}

/** Times `run` and records the time under `key` unless `cached` says nothing was computed. */
async function timed<T>(
  run: () => Promise<T>,
  cached: (result: T) => boolean,
): Promise<[T, number | undefined]> {
  const start = performance.now();
  const result = await run();
  return [result, cached(result) ? undefined : (performance.now() - start) / 1000];
}

/** Setup figures of one size, from this run or recorded (`*`) when the key was built earlier. */
type Figure = { value: number; recorded: boolean } | undefined;

interface Prepared {
  readonly constraints: number;
  readonly ptauPower: number;
  readonly ptauUsed: number | undefined;
  readonly setup: { compileSeconds: Figure; ptauSeconds: Figure; phase2Seconds: Figure };
  readonly wasmPath: string;
  /** Key and witness to prove: the development key, or a synthetic key of the same size. */
  readonly prove: (wtns: Uint8Array) => Promise<{ zkeyPath: string; wtnsPath: string }>;
}

/** Compiles (cached), runs the INSECURE development setup (cached) and records what was measured. */
async function prepareWithSetup(chunkSize: number): Promise<Prepared> {
  const shape = standardChunkShape(chunkSize);
  const id = chunkCircuitId(shape);
  const [compiled, compileSeconds] = await timed(
    async () => compileCircuit(await ensureChunkMainFile(shape), { progress }),
    (c) => c.cached,
  );
  const ptauPower = requiredPtauPower(compiled);
  // devPtau reuses the smallest cached ptau of at least this power: timed only when it computes one.
  const ptauCached = existsSync(devPtauPath(ptauDir(), ptauPower));
  const [ptau, ptauSeconds] = await timed(
    () => devPtau(ptauPower, { progress }),
    (p) => ptauCached || p.power !== ptauPower,
  );
  const keysDir = path.join(DIR, `keys-s${chunkSize}`);
  const [keys, phase2Seconds] = await timed(
    () => ensureChainKeys(shape, keysDir, progress),
    (k) => k.setupCached,
  );
  const fresh: SetupTimes = {
    ...(compileSeconds === undefined ? {} : { compileSeconds }),
    ...(ptauSeconds === undefined ? {} : { ptauSeconds }),
    ...(phase2Seconds === undefined ? {} : { phase2Seconds }),
  };
  if (Object.keys(fresh).length > 0) await recordTimes(id, fresh);
  const { manifest, entry } = await pinnedEntry(keysDir, id);
  const { zkeyPath, wasmPath } = await setupCacheArtifacts()(id, entry, manifest);
  return {
    constraints: keys.constraints,
    ptauPower,
    ptauUsed: ptau.power,
    setup: await figures(id, fresh),
    wasmPath,
    prove: async (wtns) => {
      const wtnsPath = path.join(DIR, `${id}.wtns`);
      await writeFile(wtnsPath, wtns);
      return { zkeyPath, wtnsPath };
    },
  };
}

/** Compiles (cached) without a setup; proofs use a `zktally-prover synth` key of the same constraint count. */
async function prepareSynthetic(chunkSize: number): Promise<Prepared> {
  const shape = standardChunkShape(chunkSize);
  const id = chunkCircuitId(shape);
  const [compiled, compileSeconds] = await timed(
    async () => compileCircuit(await ensureChunkMainFile(shape), { progress }),
    (c) => c.cached,
  );
  if (compileSeconds !== undefined) await recordTimes(id, { compileSeconds });
  const status = nativeProverStatus();
  if (!status.available) throw new Error(`${status.reason}: run npm run build:native`);
  return {
    constraints: compiled.constraints,
    ptauPower: requiredPtauPower(compiled),
    ptauUsed: undefined,
    setup: await figures(id, compileSeconds === undefined ? {} : { compileSeconds }),
    wasmPath: compiled.wasmPath,
    prove: () => syntheticKey(DIR, compiled.constraints, status.path),
  };
}

async function figures(id: string, fresh: SetupTimes): Promise<Prepared["setup"]> {
  const recorded = (await readTimes())[id] ?? {};
  const figure = (key: keyof SetupTimes): Figure => {
    const value = fresh[key] ?? recorded[key];
    return value === undefined ? undefined : { value, recorded: fresh[key] === undefined };
  };
  return {
    compileSeconds: figure("compileSeconds"),
    ptauSeconds: figure("ptauSeconds"),
    phase2Seconds: figure("phase2Seconds"),
  };
}

async function measureSize(chunkSize: number, runs: number, synthetic: boolean): Promise<SizeRow> {
  const prepared = synthetic ? await prepareSynthetic(chunkSize) : await prepareWithSetup(chunkSize);
  const [task] = await chunkTasks(standardChunkShape(chunkSize), 1);
  const witnessTimes: number[] = [];
  const witnessCpu: number[] = [];
  let wtns: Uint8Array | undefined;
  for (let run = 0; run < Math.max(runs, 2); run++) {
    const out: { type: "mem"; data?: Uint8Array } = { type: "mem" };
    const start = performance.now();
    const cpu = process.cpuUsage();
    await snarkjs.wtns.calculate(task?.input as never, prepared.wasmPath, out);
    const used = process.cpuUsage(cpu);
    // The first run compiles the wasm; count the later ones.
    if (run > 0) {
      witnessTimes.push((performance.now() - start) / 1000);
      witnessCpu.push((used.user + used.system) / 1e6);
    }
    wtns = out.data;
  }
  await terminateCurveWorkers();
  if (!wtns) throw new Error(`S = ${chunkSize}: no witness`);
  const { zkeyPath, wtnsPath } = await prepared.prove(wtns);
  const id = synthetic ? `synthetic-${prepared.constraints}` : chunkCircuitId(standardChunkShape(chunkSize));
  const prove = await measure(id, prepared.constraints, zkeyPath, wtnsPath, { runs });
  return {
    chunkSize,
    synthetic,
    constraints: prepared.constraints,
    ptauPower: prepared.ptauPower,
    ptauUsed: prepared.ptauUsed,
    setup: prepared.setup,
    witnessSeconds: median(witnessTimes),
    witnessCpuSeconds: median(witnessCpu),
    prove,
  };
}

async function measureChain(chunkSize: number, records: number): Promise<EndToEnd> {
  const shape = standardChunkShape(chunkSize);
  const keys = await ensureChainKeys(shape, path.join(DIR, `keys-s${chunkSize}`), progress);
  const pool = new ProverPool({
    size: 2,
    create: () => new WorkerProverBackend({ keysDir: keys.keysDir, engine: "native" }),
  });
  try {
    await pool.load(keys.chunkId);
    await pool.load(keys.finalId);
    return await endToEndChain(shape, keys, records, pool, progress);
  } finally {
    await pool.close();
  }
}

const seconds = (figure: Figure) =>
  figure === undefined ? "-" : `${figure.value.toFixed(1)}${figure.recorded ? "*" : ""}`;

function printSizes(rows: readonly SizeRow[]): void {
  const header = [
    "S",
    "constraints",
    "per record",
    "ptau",
    "compile s",
    "ptau s",
    "phase 2 s",
    "witness s (CPU)",
    "native s",
    "native CPU s",
    "native RSS MB",
    "snarkjs s",
    "snarkjs CPU s",
    "snarkjs RSS MB",
    "native rec/s",
    "snarkjs rec/s",
  ];
  const table = rows.map((row) => {
    const p = row.prove;
    const perProof = (prove: number) => (row.chunkSize / (row.witnessSeconds + prove)).toFixed(1);
    return [
      `${row.chunkSize}${row.synthetic ? " (synthetic key)" : ""}`,
      String(row.constraints),
      (row.constraints / row.chunkSize).toFixed(1),
      row.ptauUsed === undefined || row.ptauUsed === row.ptauPower
        ? `2^${row.ptauPower}`
        : `2^${row.ptauPower} (2^${row.ptauUsed} file)`,
      seconds(row.setup.compileSeconds),
      row.synthetic ? "not run" : seconds(row.setup.ptauSeconds),
      row.synthetic ? "not run" : seconds(row.setup.phase2Seconds),
      `${row.witnessSeconds.toFixed(2)} (${row.witnessCpuSeconds.toFixed(2)})`,
      p.native.toFixed(2),
      p.nativeCpu.toFixed(2),
      p.nativeRss.toFixed(0),
      p.snarkjs.toFixed(2),
      p.snarkjsCpu.toFixed(2),
      p.snarkjsRss.toFixed(0),
      perProof(p.native),
      perProof(p.snarkjs),
    ];
  });
  for (const line of renderTable(header, table, 200)) process.stdout.write(`${line}\n`);
  process.stdout.write(
    "rec/s: records per second of one prover process (S / (witness + proof), wall); * = setup time recorded when the key was built (cached now);\n" +
      "synthetic key: no setup run (impractical here), proofs with a `zktally-prover synth` key of the same constraint count (same prover work, the proof does not verify)\n",
  );
}

function printChain(sizes: readonly number[], chain: EndToEnd, measuredSize: number, log: number): void {
  const header = ["S", "chunks", "bundle KiB", "verify s", "chain proving s (2 native processes)", "how"];
  const table = sizes.map((chunkSize) => {
    const chunks = 2 ** log / chunkSize;
    const measured = chunkSize === measuredSize;
    const projected = projectChain(chain, chunks);
    return [
      String(chunkSize),
      String(chunks),
      ((measured ? chain.bundleBytes : projected.bytes) / 1024).toFixed(1),
      (measured ? chain.verifySeconds : projected.verifySeconds).toFixed(2),
      measured ? chain.proveSeconds.toFixed(1) : "-",
      measured ? "measured" : "derived",
    ];
  });
  const { perChunkVerifySeconds } = projectChain(chain, chain.chunks);
  const fixedBytes = chain.bundleBytes - chain.chunks * chain.chunkEntryBytes;
  process.stdout.write(`\nchain over 2^${log} records (measured at S = ${measuredSize}: ${chain.answer})\n`);
  for (const line of renderTable(header, table, 200)) process.stdout.write(`${line}\n`);
  process.stdout.write(
    `measured at S = ${measuredSize}: commit ${chain.commitSeconds.toFixed(2)} s, load ${chain.loadSeconds.toFixed(2)} s, ` +
      `prove ${chain.proveSeconds.toFixed(1)} s, verify ${chain.verifySeconds.toFixed(2)} s (final proof alone ` +
      `${chain.finalVerifySeconds.toFixed(3)} s), bundle ${chain.bundleBytes} bytes (${chain.chunkEntryBytes} per chunk entry); ` +
      `derived rows: bundle = ${fixedBytes} + chunks x ${chain.chunkEntryBytes} bytes, verify = ` +
      `${chain.finalVerifySeconds.toFixed(3)} s + chunks x ${(perChunkVerifySeconds * 1000).toFixed(1)} ms\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "32,64,128,256,512" },
      runs: { type: "string", default: "1" },
      "chain-size": { type: "string" },
      "chain-log": { type: "string", default: "14" },
      "no-chain": { type: "boolean", default: false },
      "synthetic-sizes": { type: "string", default: "256,512" },
      "chain-only": { type: "boolean", default: false },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const runs = Math.max(1, Number(values.runs));
  const log = Number(values["chain-log"]);
  await mkdir(DIR, { recursive: true });
  const loadBefore = loadavg()[0] ?? 0;
  const synthetic = new Set(
    values["synthetic-sizes"] === "none" ? [] : values["synthetic-sizes"].split(",").map(Number),
  );
  const rows: SizeRow[] = [];
  for (const size of values["chain-only"] ? [] : sizes) {
    progress("bench", `S = ${size}${synthetic.has(size) ? " (synthetic key)" : ""}`);
    rows.push(await measureSize(size, runs, synthetic.has(size)));
  }
  const withKeys = sizes.filter((size) => !synthetic.has(size));
  const recorded =
    values["chain-size"] === undefined
      ? await recordedChain(standardChunkShape(DEFAULT_CHUNK_SIZE), log)
      : undefined;
  const chainSize = recorded ? DEFAULT_CHUNK_SIZE : Number(values["chain-size"] ?? Math.max(...withKeys));
  const chain = values["no-chain"] ? undefined : (recorded ?? (await measureChain(chainSize, 2 ** log)));
  if (recorded) {
    progress(
      "bench",
      `chain: reusing the 2^${log}-record chain bench:scale measured at S = ${chainSize} on ${recorded.measuredAt} (load ${recorded.load.toFixed(1)}); --chain-size S measures one here`,
    );
  }
  if (rows.length > 0) {
    process.stdout.write(
      `\nchunk size, standard shape ${chunkCircuitId(standardChunkShape(sizes[0] as number))} (one proof, ${runs} run${runs > 1 ? "s" : ""} each)\n`,
    );
    printSizes(rows);
  }
  if (chain) printChain(sizes, chain, chainSize, log);
  process.stdout.write(
    `load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after (2 shared cores: other work moves every figure)\n`,
  );
  process.stdout.write(`default chunk size: ${DEFAULT_CHUNK_SIZE}\n`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(
      `bench:chunk-size failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => terminateCurveWorkers());
