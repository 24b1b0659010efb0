/**
 * @module distributed/worker
 *
 * The chunk worker behind `zktally worker`: a BullMQ worker on the chunk queue that opens each chunk's sealed
 * witness input with the workers' key file, proves it on a local `ProverBackend` (a pool of prover
 * processes, keys loaded once per process) and writes the proof to the chunk's result slot (first write
 * wins). Any number of workers on any number of machines may serve one queue.
 *
 * Failure handling: a witness failure is permanent (failure slot + BullMQ `UnrecoverableError`, no retry);
 * a prover crash or an input this worker cannot open is retried by BullMQ (maybe on another worker). A worker
 * killed mid-chunk stops renewing its lock; after `lockMs` the stalled check of any live worker puts the chunk
 * back in the queue. Chunks of a job the coordinator cancelled, or already proven, are skipped.
 *
 * Security caveats: the key file decrypts every witness input on the queue: give it only to machines trusted
 * with the dataset. Errors handed to BullMQ (stored in Redis) carry fixed texts and sanitised witness
 * reasons only; nothing private is logged.
 */
import { hostname } from "node:os";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { type ProverBackend, WitnessError } from "../prover/backend.ts";
import { CHUNK_JOB_ID_PATTERN } from "../prover/chunks.ts";
import type { KeyRing } from "../storage/keyring.ts";
import {
  assertPrefix,
  CHUNK_QUEUE,
  type ChunkFailureSlot,
  type ChunkJobData,
  type ChunkResultSlot,
  cancelledKey,
  chunkQueueJobId,
  DEFAULT_PREFIX,
  failuresKey,
  openChunkInput,
  resultsKey,
  writeSlotOnce,
} from "./protocol.ts";

/** The pino-compatible subset a worker logs through. */
export interface WorkerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ChunkWorkerOptions {
  readonly redis: Redis;
  readonly prefix?: string;
  readonly keyRing: KeyRing;
  /** Proves the chunks; `concurrency` proofs may run on it at once. */
  readonly backend: ProverBackend;
  /** Chunks proven at once (the pool size). */
  readonly concurrency: number;
  /** BullMQ lock duration: how soon a killed worker's chunk is taken over (default 30 s). */
  readonly lockMs?: number;
  readonly logger: WorkerLogger;
}

export type ChunkOutcome = "proved" | "skipped-cancelled" | "skipped-proven";

export class ChunkWorker {
  /** host:pid, stored with each result. */
  readonly id = `${hostname()}:${process.pid}`;
  readonly stats = { proved: 0, skipped: 0, witnessFailures: 0 };
  readonly prefix: string;
  private readonly worker: Worker<ChunkJobData, ChunkOutcome>;

  constructor(private readonly options: ChunkWorkerOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    assertPrefix(this.prefix);
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError("ChunkWorker: concurrency must be a positive integer");
    }
    const lockMs = options.lockMs ?? 30_000;
    this.worker = new Worker<ChunkJobData, ChunkOutcome>(CHUNK_QUEUE, (job) => this.process(job), {
      connection: options.redis,
      prefix: this.prefix,
      concurrency: options.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A chunk may be taken over twice (two workers killed under it) before BullMQ fails it.
      maxStalledCount: 2,
      autorun: false,
    });
    this.worker.on("error", (error) => options.logger.warn({ err: { name: error.name } }, "queue error"));
    this.worker.on("failed", (job, error) => {
      if (job) void this.recordFinalFailure(job, error).catch(() => undefined);
    });
  }

  /** Starts taking chunks; resolves once the worker is connected. */
  async start(): Promise<void> {
    void this.worker.run();
    await this.worker.waitUntilReady();
  }

  /** Stops taking chunks and waits for the running ones (or abandons them with `force`). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
  }

  /**
   * A chunk that failed for good (attempts used up, stalled too often) is removed from the queue at once;
   * its failure slot tells the coordinator (a witness failure already wrote its own, first write wins).
   */
  private async recordFinalFailure(job: Job<ChunkJobData, ChunkOutcome>, error: Error): Promise<void> {
    const data = job.data;
    const final =
      error.name === "UnrecoverableError" ||
      /stalled more than/.test(error.message) ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final || typeof data?.chunkJobId !== "string" || !CHUNK_JOB_ID_PATTERN.test(data.chunkJobId)) return;
    const { redis } = this.options;
    if ((await redis.exists(cancelledKey(this.prefix, data.chunkJobId))) === 1) return;
    const failure: ChunkFailureSlot = {
      kind: "failed",
      circuitId: String(data.circuitId),
      reason: error.message,
    };
    await writeSlotOnce(redis, failuresKey(this.prefix, data.chunkJobId), data.index, failure);
  }

  private async process(job: Job<ChunkJobData, ChunkOutcome>): Promise<ChunkOutcome> {
    const data = checkedData(job);
    const { redis, logger } = this.options;
    const fields = { chunkJobId: data.chunkJobId, chunk: data.index, total: data.total };
    if ((await redis.exists(cancelledKey(this.prefix, data.chunkJobId))) === 1) {
      this.stats.skipped++;
      return "skipped-cancelled";
    }
    const results = resultsKey(this.prefix, data.chunkJobId);
    if ((await redis.hexists(results, String(data.index))) === 1) {
      this.stats.skipped++;
      return "skipped-proven";
    }
    let input: Record<string, unknown>;
    try {
      input = openChunkInput(this.options.keyRing, data);
    } catch {
      // Maybe this worker has an old key file: let another worker (or a later attempt) try.
      throw new Error("the sealed chunk input does not open with this worker's key file");
    }
    logger.info(fields, "chunk started");
    let slot: ChunkResultSlot;
    try {
      const result = await this.options.backend.prove(data.circuitId, input);
      slot = {
        publicSignals: result.publicSignals,
        proof: result.proof,
        timings: result.timings,
        worker: this.id,
      };
    } catch (error) {
      if (error instanceof WitnessError) {
        this.stats.witnessFailures++;
        const failure: ChunkFailureSlot = {
          kind: "witness",
          circuitId: data.circuitId,
          reason: error.reason,
        };
        await writeSlotOnce(redis, failuresKey(this.prefix, data.chunkJobId), data.index, failure);
        logger.warn({ ...fields, reason: error.reason }, "chunk witness failed");
        throw new UnrecoverableError(`witness calculation failed: ${error.reason}`);
      }
      throw new Error(`the prover failed (${(error as Error)?.name ?? "unknown error"})`);
    }
    // A job cancelled while this chunk was proven gets no late slot (it would linger until its TTL).
    if ((await redis.exists(cancelledKey(this.prefix, data.chunkJobId))) === 1) {
      this.stats.skipped++;
      return "skipped-cancelled";
    }
    const wrote = await writeSlotOnce(redis, results, data.index, slot);
    this.stats.proved++;
    logger.info(
      { ...fields, ms: Math.round(slot.timings.witnessMs + slot.timings.proveMs), first: wrote },
      "chunk proved",
    );
    return "proved";
  }
}

/** Rejects payloads that are not chunk jobs of this protocol (they are never proven). */
function checkedData(job: Job<ChunkJobData, ChunkOutcome>): ChunkJobData {
  const data = job.data as Partial<ChunkJobData> | undefined;
  const ok =
    data?.v === 1 &&
    typeof data.chunkJobId === "string" &&
    CHUNK_JOB_ID_PATTERN.test(data.chunkJobId) &&
    Number.isSafeInteger(data.total) &&
    Number.isSafeInteger(data.index) &&
    (data.index as number) >= 0 &&
    (data.index as number) < (data.total as number) &&
    typeof data.circuitId === "string" &&
    job.id === chunkQueueJobId(data.chunkJobId, data.index as number);
  if (!ok) throw new UnrecoverableError("not a zktally chunk job");
  return data as ChunkJobData;
}
