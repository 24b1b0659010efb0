/**
 * Distributed proving over the machine's real Redis (127.0.0.1:6379; under CI=true a missing Redis fails the
 * run): chunk jobs sealed by the coordinator and proven by real `zktally worker` processes.
 *
 * - Every Redis key and value (all types), scanned during and after a job, holds no record value, salt or
 *   blind in clear (decimal or hex), though the sealed inputs are seen on the queue.
 * - Two workers, one killed with kill -9 mid-chunk: the chunk is retried on the other, every chunk is
 *   accepted exactly once, and the results equal a single-machine run's.
 * - A poisoned chunk ends the job with a WitnessError naming it and cleans the job's keys; through the
 *   service (--redis), a poisoned job fails with a clear public error, refunded and audited, while an honest
 *   one is answered with a bundle that verifies.
 * - A sealed input moved to another chunk or job does not open.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisChunkProver } from "../src/distributed/coordinator.ts";
import {
  type ChunkJobData,
  chunkQueueJobId,
  openChunkInput,
  sealChunkInput,
} from "../src/distributed/protocol.ts";
import { type ProveResult, WitnessError } from "../src/prover/backend.ts";
import type { ChunkJob, ChunkProgress, ChunkProver } from "../src/prover/chunks.ts";
import { ProverPool } from "../src/prover/pool.ts";
import { WorkerProverBackend } from "../src/prover/worker-backend.ts";
import { loadPinnedVkey } from "../src/setup/keys-manifest.ts";
import { DecryptError, KeyRing } from "../src/storage/keyring.ts";
import { verify } from "../src/verifier/index.ts";
import { CHUNK_CIRCUIT_ID, type ChunkFixture, chunkFixture, poisoned } from "./helpers/chunk-tasks.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import { nativeBinary } from "./helpers/native.ts";
import {
  deletePrefix,
  dumpRedis,
  REDIS_URL,
  type RedisEntry,
  redisAvailable,
  secretsIn,
  uniquePrefix,
} from "./helpers/redis.ts";
import {
  addDataset,
  addPartner,
  nonce,
  ROWS_A,
  startTestService,
  token,
  waitForJob,
} from "./helpers/service.ts";
import { spawnWorker, type WorkerProcess } from "./helpers/worker-process.ts";

const available = await redisAvailable();
if (!available)
  console.warn(`distributed-redis: Redis at ${REDIS_URL} does not answer; skipped (CI runs it)`);

const LOCK_MS = 3000;
const prefix = uniquePrefix();
const scratch = mkdtempSync(path.join(tmpdir(), "zktally-redis-"));
const keyFile = path.join(scratch, "worker-keyring.json");
const workers: WorkerProcess[] = [];
let redis: Redis;
let keyRing: KeyRing;
let fixture: ChunkFixture;

function workerFlags(file = keyFile, workerPrefix = prefix): string[] {
  return [
    "--redis",
    REDIS_URL,
    "--keys",
    TEST_KEYS_DIR,
    "--key-file",
    file,
    "--prefix",
    workerPrefix,
    "--lock-ms",
    String(LOCK_MS),
  ];
}

async function startWorker(file?: string, workerPrefix?: string): Promise<WorkerProcess> {
  nativeBinary(); // built (a no-op when up to date): the workers must prove with it by default
  const worker = await spawnWorker(workerFlags(file, workerPrefix));
  workers.push(worker);
  expect(worker.lines.find((line) => line.msg === "worker ready")?.engine).toBe("native");
  return worker;
}

async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGTERM");
  await worker.exited;
}

function coordinator(): RedisChunkProver {
  return new RedisChunkProver({
    redis,
    prefix,
    keyRing,
    verificationKey: (id) => loadPinnedVkey(TEST_KEYS_DIR, id),
    pollMs: 50,
    stateCheckMs: 500,
  });
}

/** Chunk indices a worker reports as proved first (its result won the slot). */
function firstProved(worker: WorkerProcess, chunkJobId: string): number[] {
  return worker.lines
    .filter((line) => line.msg === "chunk proved" && line.chunkJobId === chunkJobId && line.first === true)
    .map((line) => line.chunk as number);
}

beforeAll(async () => {
  if (!available) return;
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  keyRing = await KeyRing.create(keyFile);
  fixture = await chunkFixture(6);
});

afterAll(async () => {
  await Promise.all(workers.map(stopWorker));
  if (redis) {
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
  rmSync(scratch, { recursive: true, force: true });
});

describe.skipIf(!available)("distributed proving on BullMQ (real Redis)", () => {
  it("a sealed input opens only for its chunk job and index", () => {
    const task = fixture.tasks[0] as ChunkJob["tasks"][number];
    const data = (chunkJobId: string, index: number, input = sealChunkInput(keyRing, "job-a.1", 0, task)) =>
      ({ v: 1, chunkJobId, index, total: 6, circuitId: task.circuitId, input }) as ChunkJobData;
    expect(openChunkInput(keyRing, data("job-a.1", 0))).toEqual(task.input);
    expect(() => openChunkInput(keyRing, data("job-a.1", 1))).toThrow(DecryptError);
    expect(() => openChunkInput(keyRing, data("job-b.1", 0))).toThrow(DecryptError);
    expect(() => openChunkInput(keyRing, { ...data("job-a.1", 0), circuitId: "other-circuit" })).toThrow(
      /circuit id/,
    );
  });

  it("no record, salt or blind is in Redis in clear, during or after a job (every key, every type)", async () => {
    const worker = await startWorker();
    const prover = coordinator();
    const job: ChunkJob = { id: `scan-${prefix.slice(-8)}.1`, tasks: fixture.tasks.slice(0, 3) };
    const snapshots: RedisEntry[][] = [];
    let done = false;
    const proving = prover.proveChunks(job).finally(() => {
      done = true;
    });
    while (!done) {
      snapshots.push(await dumpRedis(redis));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const results = await proving;
    snapshots.push(await dumpRedis(redis));
    await prover.close();
    expect(results.map((r) => r.publicSignals)).toEqual(job.tasks.map((t) => t.expectedPublicSignals));
    // The scan did see the sealed inputs on the queue while the job ran.
    const queued = snapshots.flat().filter((entry) => entry.key.endsWith(`:${chunkQueueJobId(job.id, 0)}`));
    expect(queued.some((entry) => entry.text.includes('"ciphertext"'))).toBe(true);
    for (const entry of snapshots.flat()) {
      expect(secretsIn(entry.text, fixture.secrets), `${entry.type} ${entry.key}`).toEqual([]);
    }
    // The search itself finds secrets in either form.
    const salt = fixture.dataset.commitment.slots.salts[0] as bigint;
    expect(secretsIn(`{"x":"0x${salt.toString(16)}"}`, fixture.secrets)).toEqual([salt]);
    expect(secretsIn("[31337,1]", fixture.secrets)).toEqual([31337n]);
    expect(secretsIn(`a:${(31337).toString(16)}`, fixture.secrets)).toEqual([31337n]);
    // After the job, nothing of it is left but what BullMQ keeps for its own bookkeeping.
    const left = (await dumpRedis(redis)).filter((entry) => entry.key.includes(job.id));
    expect(left).toEqual([]);
    await stopWorker(worker);
  });

  it("a worker killed with kill -9 mid-chunk: the chunk is retried elsewhere, each chunk counted once", async () => {
    const [a, b] = [await startWorker(), await startWorker()];
    const prover = coordinator();
    const job: ChunkJob = { id: `kill-${prefix.slice(-8)}.1`, tasks: fixture.tasks };
    const progress: ChunkProgress[] = [];
    const proving = prover.proveChunks(job, (p) => progress.push(p));
    const started = await (a as WorkerProcess).waitFor(
      (line) => line.msg === "chunk started" && line.chunkJobId === job.id,
    );
    (a as WorkerProcess).child.kill("SIGKILL");
    await (a as WorkerProcess).exited;
    const results = await proving;
    await prover.close();

    const killedChunk = started.chunk as number;
    const byA = firstProved(a as WorkerProcess, job.id);
    const byB = firstProved(b as WorkerProcess, job.id);
    expect(byA).not.toContain(killedChunk);
    expect(byB).toContain(killedChunk);
    expect([...byA, ...byB].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6]);

    // The same chunks on one machine (a local pool) give the same public signals, in the same order.
    const pool = new ProverPool({
      size: 1,
      create: () => new WorkerProverBackend({ keysDir: TEST_KEYS_DIR }),
    });
    let local: ProveResult[];
    try {
      local = await pool.proveChunks({ id: "single-machine", tasks: job.tasks });
    } finally {
      await pool.close();
    }
    expect(results.map((r) => r.publicSignals)).toEqual(local.map((r) => r.publicSignals));
    await stopWorker(b as WorkerProcess);
  }, 180_000);

  it("a poisoned chunk ends the job with a WitnessError naming the chunk; its keys are cleaned up", async () => {
    const worker = await startWorker();
    const prover = coordinator();
    const tasks = [...fixture.tasks.slice(0, 4)];
    tasks[1] = poisoned(tasks[1] as (typeof tasks)[number]);
    const job: ChunkJob = { id: `poison-${prefix.slice(-8)}.1`, tasks };
    const failure = await prover.proveChunks(job).catch((error: unknown) => error);
    await prover.close();
    expect(failure).toBeInstanceOf(WitnessError);
    expect((failure as WitnessError).reason).toMatch(/^chunk 2 of 4: Assert Failed/);
    // A chunk that was being proven when the job failed finishes on the worker (graceful stop waits for
    // it) and leaves no slot; only the cancellation marker stays, until its TTL.
    await stopWorker(worker);
    const left = (await dumpRedis(redis)).filter((entry) => entry.key.includes(job.id));
    expect(left.map((entry) => entry.key)).toEqual([`${prefix}:chunk-cancelled:${job.id}`]);
  });
});

describe.skipIf(!available)("the service as coordinator (--redis)", () => {
  const QUERY = { predicate: [{ field: "country", op: "eq", value: "FR" }], aggregate: { kind: "count" } };

  /** The BullMQ coordinator with every chunk poisoned: the witness fails on the worker. */
  function poisoning(inner: ChunkProver): ChunkProver {
    return {
      name: "poisoning",
      proveChunks: (job, onProgress) =>
        inner.proveChunks({ ...job, tasks: job.tasks.map(poisoned) }, onProgress),
      close: () => inner.close(),
    };
  }

  async function serviceWithWorkers(poison: boolean) {
    const servicePrefix = `${prefix}-svc${poison ? "p" : "h"}`;
    const dataDir = mkdtempSync(path.join(scratch, "svc-"));
    const workerKeyFile = path.join(dataDir, "worker-keyring.json");
    // Without an override the service creates the workers' key file itself and coordinates over Redis.
    const overrides = poison
      ? {
          prover: poisoning(
            new RedisChunkProver({
              redis,
              prefix: servicePrefix,
              keyRing: await KeyRing.create(workerKeyFile),
              verificationKey: (id) => loadPinnedVkey(TEST_KEYS_DIR, id),
              pollMs: 50,
            }),
          ),
        }
      : {};
    const service = await startTestService({
      dataDir,
      config: { redis: { url: REDIS_URL, prefix: servicePrefix } },
      overrides,
    });
    const worker = await startWorker(workerKeyFile, servicePrefix);
    await addDataset(service, "ds-a", ROWS_A);
    const { clientSecret } = await addPartner(service, "alice", ["queries:submit"], {
      datasets: ["ds-a"],
      fields: ["country"],
      minGroupSize: 1,
    });
    const accessToken = await token(service, { clientId: "alice", clientSecret });
    const submitted = await service.api("POST", "/v1/queries", {
      token: accessToken,
      body: { datasetId: "ds-a", query: QUERY, nonce: nonce() },
    });
    expect(submitted.status).toBe(202);
    const finished = await waitForJob(service, accessToken, submitted.json.jobId, 120_000);
    return { service, worker, accessToken, job: submitted.json, finished, servicePrefix };
  }

  it("an honest job is proven on a worker and answered with a bundle that verifies", async () => {
    const { service, worker, accessToken, job, finished } = await serviceWithWorkers(false);
    try {
      expect(finished).toMatchObject({ state: "done", progress: { chunks: { done: 1, total: 1 } } });
      expect(service.server.pool).toBeUndefined();
      expect(firstProved(worker, `${job.jobId}.1`)).toEqual([0]);
      const bundle = await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: accessToken });
      const vkey = await loadPinnedVkey(TEST_KEYS_DIR, CHUNK_CIRCUIT_ID);
      const verdict = verify(bundle.json, {
        keys: { [CHUNK_CIRCUIT_ID]: vkey },
        operatorKey: service.server.ctx.operatorKey,
        allowInsecureKeys: true, // the test circuit's development keys
      });
      expect(verdict.valid).toBe(true);
      expect(bundle.json.answer).toMatchObject({ suppressed: false, value: "4" });
      const dataset = await service.server.ctx.datasets.loadCommitted("ds-a", 1);
      const secrets = [
        ...ROWS_A.flatMap((row) => [BigInt(row.userId), BigInt(row.edits)]),
        ...dataset.commitment.slots.salts,
      ];
      for (const entry of await dumpRedis(redis)) {
        expect(secretsIn(entry.text, secrets), entry.key).toEqual([]);
      }
    } finally {
      await service.close();
      await stopWorker(worker);
    }
  });

  it("a poisoned job fails with a clear error, refunded and audited as failed", async () => {
    const { service, worker, job, finished } = await serviceWithWorkers(true);
    try {
      expect(finished).toMatchObject({
        state: "failed",
        error: { code: "proof_failed", message: "the circuit rejected the statement" },
      });
      const { db, audit } = service.server.ctx;
      expect(db.prepare("SELECT state FROM budget_ledger WHERE job_id = ?").pluck().get(job.jobId)).toBe(
        "refunded",
      );
      expect(
        db.prepare("SELECT COUNT(*) FROM budget_ledger WHERE state IN ('reserved', 'charged')").pluck().get(),
      ).toBe(0);
      const decisions = audit.log
        .findEntries({ requestId: job.requestId, limit: 100 })
        .map((entry) => JSON.parse(entry.entry))
        .filter((entry) => entry.action === "query.answer")
        .map((entry) => [entry.decision, entry.details?.code]);
      expect(decisions).toEqual([["failed", "proof_failed"]]);
    } finally {
      await service.close();
      await stopWorker(worker);
    }
  });
});
