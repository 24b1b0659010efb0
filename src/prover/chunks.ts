/**
 * @module prover/chunks
 *
 * The unit of scheduled proving work. A proving job is an ordered list of chunk tasks, each "prove one
 * witness input with one pinned circuit"; the results come back in task order. A `ChunkProver` runs such a
 * job: the local process pool (prover/pool.ts) or the BullMQ coordinator (distributed/coordinator.ts).
 * The coordinator builds every task up front (it knows all accumulators and blinds), so tasks never depend
 * on each other's results and may be proven in any order, in parallel; only the assembly is ordered.
 *
 * Also the progress of a job (chunks done of total, an estimate of the time left from the measured time per
 * chunk) and the checks every result goes through before it is accepted.
 *
 * Security caveats: a task's `input` holds private records, salts and blinds; it must never be logged or
 * leave the prover side in clear (the distributed path encrypts it). `ChunkProgress` is public metadata.
 */
import { type ProveResult, type ProverBackend, ProverError, WitnessError } from "./backend.ts";

/** One chunk proof to make. */
export interface ChunkTask {
  readonly circuitId: string;
  /** Witness input (private). */
  readonly input: Record<string, unknown>;
  /** Public signals the coordinator computed up front; a result carrying others is rejected. */
  readonly expectedPublicSignals?: readonly string[];
}

/** An ordered list of chunk tasks under one id (unique per proving attempt, e.g. `<job id>.<attempt>`). */
export interface ChunkJob {
  readonly id: string;
  readonly tasks: readonly ChunkTask[];
}

/** How far a chunk job is: public, shown by the job status endpoint and the CLI. */
export interface ChunkProgress {
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
  /** Estimated time left, from the measured time per chunk so far; undefined before the first chunk. */
  readonly etaMs: number | undefined;
}

export type ChunkProgressListener = (progress: ChunkProgress) => void;

/** Proves the tasks of a chunk job and returns their results in task order. */
export interface ChunkProver {
  readonly name: string;
  /**
   * Rejects with `WitnessError` (naming the chunk) when a chunk's witness fails, which is permanent, and
   * with `ProverError` for anything a retry may cure.
   */
  proveChunks(job: ChunkJob, onProgress?: ChunkProgressListener): Promise<ProveResult[]>;
  close(): Promise<void>;
}

/** The id rules every chunk prover enforces (the id names queue jobs and Redis keys). */
export const CHUNK_JOB_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Entry checks shared by every `ChunkProver`. */
export function assertChunkJob(job: ChunkJob): void {
  if (typeof job?.id !== "string" || !CHUNK_JOB_ID_PATTERN.test(job.id)) {
    throw new TypeError(`chunk job id must match ${CHUNK_JOB_ID_PATTERN}`);
  }
  if (!Array.isArray(job.tasks) || job.tasks.length === 0) {
    throw new TypeError(`chunk job ${job.id}: tasks must be a non-empty array`);
  }
  job.tasks.forEach((task, index) => {
    if (typeof task?.circuitId !== "string" || task.circuitId === "") {
      throw new TypeError(`chunk job ${job.id}, chunk ${index}: circuitId must be a non-empty string`);
    }
    if (task.input === null || typeof task.input !== "object" || Array.isArray(task.input)) {
      throw new TypeError(`chunk job ${job.id}, chunk ${index}: input must be a plain object`);
    }
  });
}

/** "chunk 3 of 8" (1-based, as people count). */
export function chunkLabel(index: number, total: number): string {
  return `chunk ${index + 1} of ${total}`;
}

/** The same witness failure, naming the chunk it happened in. */
export function chunkWitnessError(error: WitnessError, index: number, total: number): WitnessError {
  return new WitnessError(error.circuitId, `${chunkLabel(index, total)}: ${error.reason}`);
}

/** Rejects a result whose signals are not the ones computed up front (a wrong or substituted proof). */
export function checkChunkResult(task: ChunkTask, index: number, total: number, result: ProveResult): void {
  const expected = task.expectedPublicSignals;
  if (expected !== undefined && result.publicSignals.join(",") !== expected.join(",")) {
    throw new ProverError(
      `${chunkLabel(index, total)} of circuit ${task.circuitId}: public signals differ from the expected ones`,
    );
  }
}

/** Counts finished chunks and estimates the time left as (elapsed / done) × remaining. */
export class ChunkProgressTracker {
  private done = 0;
  private readonly started: number;

  constructor(
    readonly total: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isSafeInteger(total) || total < 1) throw new RangeError("total must be a positive integer");
    this.started = now();
  }

  /** Records one finished chunk and returns the new progress. */
  chunkDone(): ChunkProgress {
    if (this.done >= this.total) throw new RangeError(`all ${this.total} chunks are already done`);
    this.done++;
    return this.snapshot();
  }

  snapshot(): ChunkProgress {
    const elapsedMs = this.now() - this.started;
    const remaining = this.total - this.done;
    const etaMs = this.done === 0 ? undefined : remaining === 0 ? 0 : (elapsedMs / this.done) * remaining;
    return { done: this.done, total: this.total, elapsedMs, etaMs };
  }
}

/** A progress line for the CLI: `chunks 3/8 done, about 12 s left`. */
export function formatChunkProgress(progress: ChunkProgress): string {
  const head = `chunks ${progress.done}/${progress.total} done`;
  if (progress.etaMs === undefined || progress.done === progress.total) return head;
  return `${head}, about ${Math.ceil(progress.etaMs / 1000)} s left`;
}

/**
 * Proves `tasks` on a `ChunkProver` (one job `jobId`, in parallel where it can) or sequentially on a
 * `ProverBackend`, and checks every result against its task (checkChunkResult); results in task order.
 */
export async function proveChunkTasks(
  prover: ChunkProver | ProverBackend,
  tasks: readonly ChunkTask[],
  job: { readonly id: string; readonly onProgress?: ChunkProgressListener },
): Promise<ProveResult[]> {
  let results: ProveResult[];
  if ("proveChunks" in prover) {
    results = await prover.proveChunks({ id: job.id, tasks }, job.onProgress);
  } else {
    results = [];
    for (const task of tasks) results.push(await prover.prove(task.circuitId, task.input));
  }
  if (results.length !== tasks.length)
    throw new ProverError(`expected ${tasks.length} proofs, got ${results.length}`);
  results.forEach((result, index) => {
    checkChunkResult(tasks[index] as ChunkTask, index, tasks.length, result);
  });
  return results;
}
