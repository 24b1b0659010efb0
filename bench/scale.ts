/**
 * Scale-out benchmark (`npm run bench:scale`): records proved per second with 1..4 local prover processes
 * (how many per core pays with snarkjs, itself multi-threaded) and with 2 BullMQ workers on this machine's
 * Redis. Prints only measured rows, then the machine load (the machine may be shared: the figures are as
 * noisy as the load says), and ends with `records/s (2 workers): N`.
 *
 * The chunk unit is, for now, one proof of the test-size circuit (8 records of 4 fields × 16 bits, 4,007
 * constraints) until the chained chunk circuits land; records/s counts the records each chunk proof covers.
 *
 * Options: `--chunks N` (chunk proofs per row, default 8), `--max-processes P` (default 4),
 * `--prover native|snarkjs` (default: native when built), `--redis URL` (default redis://127.0.0.1:6379; `--no-redis` skips the BullMQ row and the last line).
 * The BullMQ row runs real `zktally worker` processes (one prover process each) under a throw-away key prefix
 * and key file, removed afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type AggregateShape, circuitId } from "../src/circuits/shape.ts";
import { ensureDevKeys } from "../src/cli/dev-keys.ts";
import { renderTable } from "../src/cli/table.ts";
import { commitRecords } from "../src/dataset/committed.ts";
import { generateOperatorKey } from "../src/dataset/manifest-sign.ts";
import { parseSchema } from "../src/dataset/schema.ts";
import { RedisChunkProver } from "../src/distributed/coordinator.ts";
import { assertRedisAnswers, connectRedis } from "../src/distributed/redis.ts";
import type { ChunkProver, ChunkTask } from "../src/prover/chunks.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { planQueryProof } from "../src/prover/prove-query.ts";
import { type ProverChoice, resolveProverChoice } from "../src/prover/prover-choice.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import { KeyRing } from "../src/storage/keyring.ts";
import { consoleProgress } from "../src/util/progress.ts";
import { TEST_SHAPE } from "../test/helpers/circuits.ts";

/** The chunk unit until chunk circuits exist: the shape of the test circuit (its build cache is shared). */
const CHUNK_SHAPE: AggregateShape = TEST_SHAPE;
const KEYS_DIR = join(buildRoot(), "bench-scale-keys");
const progress = consoleProgress({ tag: "bench" });
let engine: ProverChoice = "snarkjs";

const { values: args } = parseArgs({
  options: {
    chunks: { type: "string", default: "8" },
    "max-processes": { type: "string", default: "4" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    "no-redis": { type: "boolean", default: false },
    prover: { type: "string" },
  },
});

/** `count` chunk tasks over a full 8-record dataset, each its own query and nonce. */
async function chunkTasks(count: number): Promise<ChunkTask[]> {
  const operator = generateOperatorKey();
  const schema = parseSchema({
    fields: [
      { name: "a", type: "uint", bits: 16 },
      { name: "b", type: "uint", bits: 16 },
      { name: "c", type: "uint", bits: 16 },
      { name: "d", type: "uint", bits: 16 },
    ],
  });
  const records = Array.from({ length: CHUNK_SHAPE.capacity }, (_, i) =>
    [1n, 2n, 3n, 4n].map((v) => v * BigInt(i + 1)),
  );
  const dataset = await commitRecords({
    datasetId: "bench-scale",
    epoch: 1,
    schema,
    records,
    layout: CHUNK_SHAPE,
    secret: new Uint8Array(32).fill(1),
    operatorSecretKey: operator.secretKey,
    circuits: [circuitId(CHUNK_SHAPE)],
  });
  return Array.from({ length: count }, (_, i) => {
    const plan = planQueryProof({
      dataset,
      shape: CHUNK_SHAPE,
      query: { predicate: [{ field: "a", op: "gte", value: i % 8 }], aggregate: { kind: "count" } },
      minGroupSize: 0,
      nonce: BigInt(1000 + i),
    });
    return plan.tasks[0] as ChunkTask;
  });
}

interface Row {
  readonly label: string;
  readonly processes: number;
  readonly chunks: number;
  readonly seconds: number;
}

const recordsPerSecond = (row: Row) => (row.chunks * CHUNK_SHAPE.capacity) / row.seconds;

/** Proves every task once (after one warm-up proof per process, not timed). */
async function timeRun(label: string, prover: ChunkProver, processes: number, tasks: ChunkTask[]) {
  await prover.proveChunks({ id: `warmup-${processes}`, tasks: tasks.slice(0, processes) });
  const start = performance.now();
  await prover.proveChunks({ id: `bench-${processes}`, tasks });
  const seconds = (performance.now() - start) / 1000;
  progress("prove", `${label}: ${tasks.length} chunks in ${seconds.toFixed(2)} s`);
  return { label, processes, chunks: tasks.length, seconds };
}

async function localRow(processes: number, tasks: ChunkTask[]): Promise<Row> {
  const pool = new ProverPool({
    size: processes,
    create: () => new WorkerProverBackend({ keysDir: KEYS_DIR, engine }),
  });
  try {
    await pool.load(circuitId(CHUNK_SHAPE));
    return await timeRun(
      `local pool, ${processes} prover process${processes > 1 ? "es" : ""}`,
      pool,
      processes,
      tasks,
    );
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

/** Two `zktally worker` processes on this machine's Redis, fed by the service's coordinator. */
async function bullmqRow(workers: number, tasks: ChunkTask[], url: string): Promise<Row> {
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
      return await timeRun(`BullMQ, ${workers} workers (1 prover process each)`, prover, workers, tasks);
    } finally {
      await prover.close();
    }
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((child) => new Promise((resolve) => child.once("exit", resolve))));
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
    await redis.quit();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const chunks = Number(args.chunks);
  const maxProcesses = Number(args["max-processes"]);
  const cores = cpus().length;
  engine = resolveProverChoice(args.prover ?? process.env.ZKTALLY_PROVER, (line) => progress("prover", line));
  const loadBefore = loadavg();
  await ensureDevKeys(CHUNK_SHAPE, KEYS_DIR, progress);
  const tasks = await chunkTasks(chunks);
  const rows: Row[] = [];
  for (let processes = 1; processes <= maxProcesses; processes++) rows.push(await localRow(processes, tasks));
  const distributed = args["no-redis"] ? undefined : await bullmqRow(2, tasks, args.redis as string);
  if (distributed) rows.push(distributed);
  const base = recordsPerSecond(rows[0] as Row);
  const table = rows.map((row) => [
    row.label,
    (row.processes / cores).toFixed(1),
    String(row.chunks),
    row.seconds.toFixed(2),
    (row.seconds / row.chunks).toFixed(3),
    recordsPerSecond(row).toFixed(1),
    `${(recordsPerSecond(row) / base).toFixed(2)}×`,
  ]);
  const header = ["prover", "per core", "chunks", "wall s", "s/chunk", "records/s", "speed-up"];
  for (const line of renderTable(header, table)) process.stdout.write(`${line}\n`);
  const loadAfter = loadavg();
  process.stdout.write(
    `prover: ${engine}; chunk: ${circuitId(CHUNK_SHAPE)} (${CHUNK_SHAPE.capacity} records per proof); ${cores} cores; ` +
      `load average ${loadBefore[0]?.toFixed(2)} before, ${loadAfter[0]?.toFixed(2)} after (other processes share the cores)\n`,
  );
  if (distributed)
    process.stdout.write(`records/s (2 workers): ${recordsPerSecond(distributed).toFixed(1)}\n`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench:scale failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => terminateCurveWorkers());
