/**
 * @module distributed/coordinator
 *
 * `ChunkProver` on BullMQ: the service side of distributed proving. `proveChunks` seals every task's witness
 * input for its (chunk job, chunk index), adds one BullMQ job per chunk, and collects the results from the
 * chunk-result slot (protocol.ts) in chunk order. Every result is checked before it counts: the public signals
 * must be the ones computed up front and the proof must verify under the circuit's pinned key (verifier SDK),
 * so a worker can delay a job but never change an answer. Progress is reported per accepted chunk.
 *
 * Failures: a chunk whose witness fails (the worker's failure slot) rejects with `WitnessError` naming the
 * chunk (permanent: the runner fails, refunds and audits the job); a proof that does not verify, a chunk that
 * failed on the workers after its attempts (or stalled too often), or a chunk job that vanished reject with
 * `ProverError` (the runner retries the whole attempt under a new chunk job id), and a Redis failure with
 * `UnavailableError` (retried as well). Either way the job is
 * cancelled for the workers and its queue jobs and slots are removed.
 *
 * Worker crashes are BullMQ's business: a worker killed mid-chunk stops renewing its lock, the stalled-job
 * check moves the chunk back to the queue, another worker proves it, and the HSETNX slot keeps the first
 * result only. Admission, budgets and audit stay in the service; this module only proves.
 *
 * Security caveats: witness inputs leave this process only sealed (AES-256-GCM); nothing private is logged.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type ProveResult, ProverError, WitnessError } from "../prover/backend.ts";
import {
  assertChunkJob,
  type ChunkJob,
  type ChunkProgressListener,
  ChunkProgressTracker,
  type ChunkProver,
  checkChunkResult,
  chunkLabel,
} from "../prover/chunks.ts";
import type { KeyRing } from "../storage/keyring.ts";
import { isZktallyError, UnavailableError } from "../util/errors.ts";
import { verifyGroth16 } from "../verifier/groth16.ts";
import { type PreparedVerifyingKey, prepareVerifyingKey } from "../verifier/vkey.ts";
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
  resultsKey,
  SLOT_TTL_MS,
  sealChunkInput,
} from "./protocol.ts";

export interface CoordinatorOptions {
  readonly redis: Redis;
  /** Close `redis` with the prover (default false: the caller's connection). */
  readonly ownsConnection?: boolean;
  /** Redis key prefix shared with the workers (default "zktally"). */
  readonly prefix?: string;
  /** The workers' key file (KeyRing) that seals witness inputs. */
  readonly keyRing: KeyRing;
  /** The pinned verification key of a circuit (raw snarkjs JSON); throws if it is not pinned. */
  readonly verificationKey: (circuitId: string) => Promise<unknown>;
  /** How often result slots are read (default 100 ms). */
  readonly pollMs?: number;
  /** How often the queue state of unfinished chunks is checked for failures (default 2000 ms). */
  readonly stateCheckMs?: number;
  /** BullMQ attempts per chunk for transient worker failures (default 3). */
  readonly chunkAttempts?: number;
}

export class RedisChunkProver implements ChunkProver {
  readonly name = "bullmq";
  readonly prefix: string;
  private readonly queue: Queue;
  private readonly keys = new Map<string, Promise<PreparedVerifyingKey>>();

  constructor(private readonly options: CoordinatorOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    assertPrefix(this.prefix);
    this.queue = new Queue(CHUNK_QUEUE, { connection: options.redis, prefix: this.prefix });
  }

  async proveChunks(job: ChunkJob, onProgress?: ChunkProgressListener): Promise<ProveResult[]> {
    assertChunkJob(job);
    await Promise.all(job.tasks.map((task) => this.preparedKey(task.circuitId)));
    let finished = false;
    try {
      await this.enqueue(job);
      const results = await this.collect(job, onProgress);
      finished = true;
      return results;
    } catch (error) {
      if (isZktallyError(error)) throw error;
      // Redis or BullMQ failed (connection lost, timeout): the job is retried, not failed.
      throw new UnavailableError("redis_unavailable", "the chunk queue (Redis) failed during proving", {
        hint: "check that Redis answers; the job is retried",
        cause: error,
      });
    } finally {
      await this.cleanUp(job, finished);
    }
  }

  /** Closes the queue, and the Redis connection when it owns it. */
  async close(): Promise<void> {
    await this.queue.close();
    if (this.options.ownsConnection) await this.options.redis.quit().catch(() => undefined);
  }

  private enqueue(job: ChunkJob) {
    const total = job.tasks.length;
    return this.queue.addBulk(
      job.tasks.map((task, index) => {
        const data: ChunkJobData = {
          v: 1,
          chunkJobId: job.id,
          index,
          total,
          circuitId: task.circuitId,
          input: sealChunkInput(this.options.keyRing, job.id, index, task),
        };
        return {
          name: "prove-chunk",
          data,
          opts: {
            jobId: chunkQueueJobId(job.id, index),
            attempts: this.options.chunkAttempts ?? 3,
            backoff: { type: "fixed", delay: 500 },
            // Finished queue jobs go at once: the outcome lives in the result or failure slot.
            removeOnComplete: true,
            removeOnFail: true,
            stackTraceLimit: 0,
          },
        };
      }),
    );
  }

  /** Waits for every chunk's result slot, checking each result; rejects on the first failure. */
  private async collect(job: ChunkJob, onProgress?: ChunkProgressListener): Promise<ProveResult[]> {
    const { redis } = this.options;
    const total = job.tasks.length;
    const tracker = new ChunkProgressTracker(total);
    const results = new Array<ProveResult | undefined>(total);
    let accepted = 0;
    let lastStateCheck = performance.now();
    const resultSlots = resultsKey(this.prefix, job.id);
    const failureSlots = failuresKey(this.prefix, job.id);
    for (;;) {
      // Cheap counts first: the slot values are read only when something new arrived.
      const [done, failed] = await Promise.all([redis.hlen(resultSlots), redis.hlen(failureSlots)]);
      if (failed > 0) this.throwOnFailureSlot(job, await redis.hgetall(failureSlots));
      if (done > accepted) {
        const pending = unfinished(results);
        const texts = await redis.hmget(resultSlots, ...pending.map(String));
        for (const [i, text] of texts.entries()) {
          const index = pending[i] as number;
          if (text === null) continue;
          results[index] = await this.accept(job, index, text);
          accepted++;
          onProgress?.(tracker.chunkDone());
        }
      }
      if (accepted === total) return results as ProveResult[];
      if (performance.now() - lastStateCheck >= (this.options.stateCheckMs ?? 2000)) {
        await this.checkQueueState(job, results);
        lastStateCheck = performance.now();
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 100));
    }
  }

  private throwOnFailureSlot(job: ChunkJob, failures: Record<string, string>): void {
    const first = Object.keys(failures)
      .map(Number)
      .filter((index) => Number.isSafeInteger(index) && index >= 0 && index < job.tasks.length)
      .sort((a, b) => a - b)[0];
    if (first === undefined) return;
    const failure = JSON.parse(failures[String(first)] as string) as ChunkFailureSlot;
    const label = chunkLabel(first, job.tasks.length);
    const circuitId = job.tasks[first]?.circuitId as string;
    if (failure.kind === "witness") throw new WitnessError(circuitId, `${label}: ${failure.reason}`);
    throw new ProverError(`${label} failed on the workers: ${failure.reason}`);
  }

  /** A result counts only with the expected public signals and a proof valid under the pinned key. */
  private async accept(job: ChunkJob, index: number, text: string): Promise<ProveResult> {
    const total = job.tasks.length;
    const task = job.tasks[index] as ChunkJob["tasks"][number];
    const slot = JSON.parse(text) as ChunkResultSlot;
    const result: ProveResult = {
      proof: slot.proof,
      publicSignals: slot.publicSignals,
      timings: slot.timings,
    };
    checkChunkResult(task, index, total, result);
    const key = await this.preparedKey(task.circuitId);
    let valid = false;
    try {
      valid = verifyGroth16(key, result.publicSignals, result.proof);
    } catch {
      valid = false; // malformed proof or signals
    }
    if (!valid) {
      throw new ProverError(
        `${chunkLabel(index, total)}: the worker's proof does not verify; retrying the job`,
      );
    }
    return result;
  }

  /** Chunks gone from the queue without a result: failed for good (their slot says why) or lost. */
  private async checkQueueState(job: ChunkJob, results: readonly (ProveResult | undefined)[]): Promise<void> {
    const pending = unfinished(results);
    const states = await Promise.all(
      pending.map((index) => this.queue.getJobState(chunkQueueJobId(job.id, index))),
    );
    for (const [i, state] of states.entries()) {
      const index = pending[i] as number;
      if (state === "unknown") {
        // Completed jobs are removed right after their slot is written: re-read the slot before giving up.
        const slot = await this.options.redis.hexists(resultsKey(this.prefix, job.id), String(index));
        if (slot === 0) {
          // A job that failed for good is removed just after its failure slot is written, which may be
          // between this poll's read of the failure slots and this check: read them again first.
          this.throwOnFailureSlot(job, await this.options.redis.hgetall(failuresKey(this.prefix, job.id)));
          throw new ProverError(`${chunkLabel(index, job.tasks.length)} vanished from the queue`);
        }
      }
    }
  }

  /** Removes the job's queue jobs and slots; an unfinished job is first cancelled for the workers. */
  private async cleanUp(job: ChunkJob, finished: boolean): Promise<void> {
    const { redis } = this.options;
    try {
      if (!finished) await redis.set(cancelledKey(this.prefix, job.id), "1", "PX", SLOT_TTL_MS);
      await Promise.all(
        job.tasks.map((_, index) =>
          // A chunk still being proven is locked and stays; its late slot expires with the TTL.
          this.queue.remove(chunkQueueJobId(job.id, index)).catch(() => 0),
        ),
      );
      await redis.del(resultsKey(this.prefix, job.id), failuresKey(this.prefix, job.id));
    } catch {
      // Redis unavailable: the slots and the marker expire on their own.
    }
  }

  private preparedKey(circuitId: string): Promise<PreparedVerifyingKey> {
    let key = this.keys.get(circuitId);
    if (!key) {
      key = this.options.verificationKey(circuitId).then(prepareVerifyingKey);
      this.keys.set(circuitId, key);
      key.catch(() => this.keys.delete(circuitId));
    }
    return key;
  }
}

/** Indices without a result (a loop, not `filter`: the array is sparse and array methods skip holes). */
function unfinished(results: readonly (ProveResult | undefined)[]): number[] {
  const pending: number[] = [];
  for (let index = 0; index < results.length; index++) if (!results[index]) pending.push(index);
  return pending;
}
