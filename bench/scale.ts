/**
 * @module bench/scale
 *
 * Scale-out benchmark (`npm run bench:scale`, docs/design.md 7.8), on the real chunk circuit: the standard
 * chunk shape (bench/standard-chunk.ts: 8 fields x 32 bits, key field, C = 4, M = 4) at the default chunk
 * size S (DEFAULT_CHUNK_SIZE, chosen by bench:chunk-size). Prints:
 *
 * 1. commit time and peak RSS for 2^16 and 2^20 records (bench/commit.ts `measureCommit`: the synthetic
 *    Wikimedia-schema CSV, streamed into the encrypted chunk store in a fresh child process, at S);
 * 2. records proved per second with 1 and 2 local prover processes (ProverPool of WorkerProverBackend) and
 *    with 2 BullMQ workers (real `zktally worker` processes on Redis, throw-away key prefix and key file),
 *    each with the native prover and with snarkjs (snarkjs rows use fewer chunks); a chunk proof covers S
 *    records, and every row first proves one warm-up chunk per process (not timed);
 * 3. a 2^14-record chain MEASURED end to end: CSV -> chunk store (streaming commit), every chunk loaded back,
 *    one query proven as a chain with 2 native prover processes, the bundle verified with the SDK; each
 *    phase's time, the bundle size and the answer;
 * 4. PROJECTED (linear in the chunk count, from the measured chain): verify time and bundle size for 2^20
 *    records; and the wall time of one 2^20-record query on K = 1, 8, 64 worker machines of this machine's
 *    size, each running 2 prover processes: T(K) = n x t1 / (K x s2), n = 2^20 / S chunks, t1 the measured
 *    seconds per chunk of 1 process, s2 the measured speed-up of 2 BullMQ workers over 1 process (so the
 *    queue's overhead is in it), assuming machines add linearly (independent chunk jobs); commit excluded.
 *
 * Then the load average (the machine may be shared: the figures are as noisy as it says), and last
 * `records/s (2 workers): N` (native BullMQ row; snarkjs when the native prover is not built).
 *
 * The measured chain is also recorded under build/bench-chain/ (bench:chunk-size reuses it).
 *
 * Options: `--chunks N` (native rows, default 8; 0 skips them), `--snarkjs-chunks N` (default 2; 0 skips snarkjs rows),
 * `--chunk-size S`, `--commit-sizes 16,20` (`none` skips), `--e2e-log 14` (0 skips), `--redis URL` (default
 * redis://127.0.0.1:6379), `--no-redis` (skips the BullMQ rows and the last line).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { renderTable } from "../src/cli/table.ts";
import { DEFAULT_CHUNK_SIZE } from "../src/dataset/chunk-layout.ts";
import { RedisChunkProver } from "../src/distributed/coordinator.ts";
import { assertRedisAnswers, connectRedis } from "../src/distributed/redis.ts";
import type { ChunkProver, ChunkTask } from "../src/prover/chunks.ts";
import { nativeProverStatus } from "../src/prover/native-client.mjs";
import { ProverPool } from "../src/prover/pool.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { type ChildResult, measureCommit } from "./commit.ts";
import {
  type ChainKeys,
  chunkTasks,
  type EndToEnd,
  endToEndChain,
  ensureChainKeys,
  projectChain,
  recordChain,
  standardChunkShape,
} from "./standard-chunk.ts";

type Engine = "native" | "snarkjs";

const KEYS_DIR = join(buildRoot(), "bench-scale-chunk-keys");
const progress = consoleProgress({ tag: "bench" });

const { values: args } = parseArgs({
  options: {
    chunks: { type: "string", default: "8" },
    "snarkjs-chunks": { type: "string", default: "2" },
    "chunk-size": { type: "string", default: String(DEFAULT_CHUNK_SIZE) },
    "commit-sizes": { type: "string", default: "16,20" },
    "e2e-log": { type: "string", default: "14" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    "no-redis": { type: "boolean", default: false },
  },
});
const chunkSize = Number(args["chunk-size"]);
const shape = standardChunkShape(chunkSize);

interface Row {
  readonly engine: Engine;
  readonly label: string;
  readonly processes: number;
  readonly chunks: number;
  readonly seconds: number;
  readonly distributed: boolean;
}

const recordsPerSecond = (row: Row) => (row.chunks * chunkSize) / row.seconds;

/** Proves every task once, after one warm-up proof per process (not timed). */
async function timeRun(prover: ChunkProver, processes: number, tasks: ChunkTask[]) {
  await prover.proveChunks({
    id: `warmup-${processes}-${randomUUID().slice(0, 8)}`,
    tasks: tasks.slice(0, processes),
  });
  const start = performance.now();
  await prover.proveChunks({ id: `bench-${processes}-${randomUUID().slice(0, 8)}`, tasks });
  return (performance.now() - start) / 1000;
}

function localPool(engine: Engine, processes: number): ProverPool {
  return new ProverPool({
    size: processes,
    create: () => new WorkerProverBackend({ keysDir: KEYS_DIR, engine }),
  });
}

async function localRow(
  engine: Engine,
  processes: number,
  tasks: ChunkTask[],
  keys: ChainKeys,
): Promise<Row> {
  const pool = localPool(engine, processes);
  try {
    await pool.load(keys.chunkId);
    const seconds = await timeRun(pool, processes, tasks);
    const label = `local pool, ${processes} process${processes > 1 ? "es" : ""}`;
    progress("prove", `${engine} ${label}: ${tasks.length} chunks in ${seconds.toFixed(2)} s`);
    return { engine, label, processes, chunks: tasks.length, seconds, distributed: false };
  } finally {
    await pool.close();
  }
}

/** A `zktally worker` process (one prover process); resolves once it logs "worker ready" (info level). */
function spawnWorker(flags: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "worker", ...flags], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk;
      if (output.includes('"msg":"worker ready"')) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
}

/** Deletes every Redis key under the prefix. */
async function dropPrefix(redis: ReturnType<typeof connectRedis>, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

/** `workers` real `zktally worker` processes on Redis, fed by the service's coordinator. */
async function bullmqRow(engine: Engine, workers: number, tasks: ChunkTask[], url: string): Promise<Row> {
  const scratch = mkdtempSync(join(tmpdir(), "zktally-bench-scale-"));
  const prefix = `zktally-bench-${randomUUID().slice(0, 8)}`;
  const keyFile = join(scratch, "worker-keyring.json");
  const keyRing = await KeyRing.create(keyFile);
  const redis = connectRedis(url);
  const children: ChildProcess[] = [];
  try {
    await assertRedisAnswers(redis, url);
    const flags = [
      "--redis",
      url,
      "--keys",
      KEYS_DIR,
      "--key-file",
      keyFile,
      "--prefix",
      prefix,
      "--prover",
      engine,
    ];
    for (let i = 0; i < workers; i++) children.push(await spawnWorker(flags));
    const prover = new RedisChunkProver({
      redis,
      prefix,
      keyRing,
      verificationKey: (id) => loadPinnedVkey(KEYS_DIR, id),
      pollMs: 20,
    });
    try {
      const seconds = await timeRun(prover, workers, tasks);
      const label = `BullMQ, ${workers} workers (1 prover process each)`;
      progress("prove", `${engine} ${label}: ${tasks.length} chunks in ${seconds.toFixed(2)} s`);
      return { engine, label, processes: workers, chunks: tasks.length, seconds, distributed: true };
    } finally {
      await prover.close();
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((child) => new Promise((resolve) => child.once("exit", resolve))));
    await dropPrefix(redis, prefix);
    await redis.quit();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function engineRows(engine: Engine, count: number, keys: ChainKeys): Promise<Row[]> {
  const tasks = await chunkTasks(shape, count);
  const rows = [await localRow(engine, 1, tasks, keys), await localRow(engine, 2, tasks, keys)];
  if (!args["no-redis"]) rows.push(await bullmqRow(engine, 2, tasks, args.redis as string));
  return rows;
}

async function endToEnd(keys: ChainKeys, log: number): Promise<EndToEnd> {
  const pool = localPool("native", 2);
  try {
    await pool.load(keys.chunkId);
    await pool.load(keys.finalId);
    return await endToEndChain(shape, keys, 2 ** log, pool, progress);
  } finally {
    await pool.close();
  }
}

const write = (line = "") => process.stdout.write(`${line}\n`);

function printCommit(results: readonly ChildResult[]): void {
  write(
    `\ncommit (bench/commit.ts: synthetic Wikimedia-schema CSV streamed into the chunk store, S = ${chunkSize})`,
  );
  const rows = results.map((r) => [
    `2^${Math.log2(r.records)}`,
    String(r.chunks),
    r.seconds.toFixed(1),
    (r.records / r.seconds).toFixed(0),
    r.peakRssMiB.toFixed(0),
  ]);
  for (const line of renderTable(["records", "chunks", "commit s", "records/s", "peak RSS MiB"], rows, 200))
    write(line);
}

function printProving(rows: readonly Row[]): void {
  const cores = cpus().length;
  write(`\nproving, chunk circuit ${keysLine} (${chunkSize} records per chunk proof), ${cores} cores`);
  const table = rows.map((row) => {
    const base = rows.find((r) => r.engine === row.engine && !r.distributed && r.processes === 1) as Row;
    return [
      row.engine,
      row.label,
      (row.processes / cores).toFixed(1),
      String(row.chunks),
      row.seconds.toFixed(2),
      (row.seconds / row.chunks).toFixed(2),
      recordsPerSecond(row).toFixed(1),
      `${(recordsPerSecond(row) / recordsPerSecond(base)).toFixed(2)}x`,
    ];
  });
  const header = ["prover", "setting", "per core", "chunks", "wall s", "s/chunk", "records/s", "speed-up"];
  for (const line of renderTable(header, table, 200)) write(line);
}

let keysLine = "";

function printChain(e2e: EndToEnd, log: number): void {
  write(`\nend to end, 2^${log} records (MEASURED): ${e2e.chunks} chunks + final, ${e2e.answer}`);
  const rows = [
    ["commit (CSV -> encrypted chunk store, streaming)", e2e.commitSeconds.toFixed(2)],
    ["load every chunk back (decrypt, root check)", e2e.loadSeconds.toFixed(2)],
    [
      `prove the chain (2 native processes, ${(e2e.records / e2e.proveSeconds).toFixed(1)} records/s)`,
      e2e.proveSeconds.toFixed(1),
    ],
    ["verify with the SDK (verifyChain, median of 3)", e2e.verifySeconds.toFixed(2)],
    ["total", (e2e.commitSeconds + e2e.loadSeconds + e2e.proveSeconds + e2e.verifySeconds).toFixed(1)],
  ];
  for (const line of renderTable(["phase", "s"], rows, 200)) write(line);
  write(
    `bundle: ${e2e.bundleBytes} bytes (${(e2e.bundleBytes / 1024).toFixed(1)} KiB, ${e2e.chunkEntryBytes} per chunk entry)`,
  );
  const chunks20 = 2 ** 20 / chunkSize;
  const projected = projectChain(e2e, chunks20);
  write(
    `2^20 records (PROJECTED from the 2^${log} chain, linear in chunks): ${chunks20} chunks, bundle ` +
      `${(projected.bytes / 2 ** 20).toFixed(1)} MiB, verify ${projected.verifySeconds.toFixed(1)} s ` +
      `(${(projected.perChunkVerifySeconds * 1000).toFixed(1)} ms per chunk + ${e2e.finalVerifySeconds.toFixed(3)} s final)`,
  );
}

function printProjection(rows: readonly Row[]): void {
  const one = rows.find((r) => r.engine === "native" && !r.distributed && r.processes === 1);
  const two = rows.find((r) => r.engine === "native" && r.distributed);
  if (!one || !two) return;
  const t1 = one.seconds / one.chunks;
  const s2 = recordsPerSecond(two) / recordsPerSecond(one);
  const n = 2 ** 20 / chunkSize;
  const cells = [1, 8, 64].map((k) => {
    const seconds = (n * t1) / (k * s2);
    return [
      String(k),
      seconds >= 3600 ? `${(seconds / 3600).toFixed(2)} h` : `${(seconds / 60).toFixed(1)} min`,
    ];
  });
  write(
    `\none 2^20-record query (PROJECTED): n = ${n} chunks, t1 = ${t1.toFixed(2)} s per chunk (native, 1 process), ` +
      `s2 = ${s2.toFixed(2)} (2 BullMQ workers over 1 process); T(K) = n x t1 / (K x s2) on K machines of this size, ` +
      "2 prover processes each, assuming linear scaling across machines; commit and verify excluded",
  );
  for (const line of renderTable(["K workers", "wall time"], cells, 200)) write(line);
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const native = nativeProverStatus().available;
  const powers = args["commit-sizes"] === "none" ? [] : args["commit-sizes"].split(",").map(Number);
  const commits = powers.length > 0 ? await measureCommit(powers, chunkSize) : [];
  const keys = await ensureChainKeys(shape, KEYS_DIR, progress);
  keysLine = keys.chunkId;
  const rows: Row[] = [];
  if (!native) progress("prover", "native prover not built: snarkjs rows only (npm run build:native)");
  else if (Number(args.chunks) > 0) rows.push(...(await engineRows("native", Number(args.chunks), keys)));
  const snarkjsChunks = Number(args["snarkjs-chunks"]);
  if (snarkjsChunks > 0) rows.push(...(await engineRows("snarkjs", snarkjsChunks, keys)));
  const log = Number(args["e2e-log"]);
  const e2e = log > 0 && native ? await endToEnd(keys, log) : undefined;
  if (e2e) await recordChain(shape, log, e2e);
  if (commits.length > 0) printCommit(commits);
  if (rows.length > 0) printProving(rows);
  if (e2e) printChain(e2e, log);
  printProjection(rows);
  const loadAfter = loadavg();
  write(
    `\nload average ${loadBefore[0]?.toFixed(2)} before, ${loadAfter[0]?.toFixed(2)} after ` +
      `(${cpus().length} cores; other processes share them: figures are as noisy as the load says)`,
  );
  const distributed = rows.find((r) => r.distributed && r.engine === (native ? "native" : "snarkjs"));
  if (distributed) write(`records/s (2 workers): ${recordsPerSecond(distributed).toFixed(1)}`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench:scale failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => terminateCurveWorkers());
