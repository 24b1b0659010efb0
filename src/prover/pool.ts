/**
 * @module prover/pool
 *
 * A pool of prover backends on one machine, typically `size` prover processes (WorkerProverBackend), each
 * loading a circuit's keys once and then proving one chunk at a time. `proveChunks` hands the tasks of a
 * chunk job to idle backends in task order and assembles the results in task order; `prove` borrows one
 * backend for a single proof, so the pool is itself a `ProverBackend`.
 *
 * How many processes per core: snarkjs already spreads one proof over all cores (ffjavascript worker
 * threads), but its witness calculation and parts of the prover are single-threaded, so a second process
 * fills those gaps; `npm run bench:scale` measures it (docs/design.md).
 *
 * Failure: the first failing chunk rejects the job (a `WitnessError` names the chunk); tasks not started
 * yet are dropped, proofs already running finish in the background and are discarded.
 *
 * `close` rejects proofs still waiting for a backend, then closes every backend.
 *
 * Security caveat: results are checked against the task's expected public signals; inputs are never logged.
 */
import { type ProveResult, type ProverBackend, ProverError, WitnessError } from "./backend.ts";
import {
  assertChunkJob,
  type ChunkJob,
  type ChunkProgressListener,
  ChunkProgressTracker,
  type ChunkProver,
  checkChunkResult,
  chunkWitnessError,
} from "./chunks.ts";

export interface ProverPoolOptions {
  /** Number of backends (processes) in the pool, 1..64. */
  readonly size: number;
  /** Creates backend `index` (0-based); called `size` times, at construction. */
  readonly create: (index: number) => ProverBackend;
}

type Loadable = ProverBackend & { load?: (circuitId: string) => Promise<void> };

export class ProverPool implements ChunkProver, ProverBackend {
  readonly name: string;
  readonly backends: readonly ProverBackend[];
  /** Chunks proven by each backend (index = backend), for tests and metrics. */
  readonly provedBy: number[];
  private readonly idle: number[];
  private readonly waiters: { resolve: (index: number) => void; reject: (error: Error) => void }[] = [];
  private closed = false;

  constructor(options: ProverPoolOptions) {
    if (!Number.isSafeInteger(options?.size) || options.size < 1 || options.size > 64) {
      throw new RangeError("ProverPool: size must be an integer in 1..64");
    }
    if (typeof options.create !== "function") throw new TypeError("ProverPool: create must be a function");
    this.backends = Array.from({ length: options.size }, (_, index) => options.create(index));
    this.name = `pool(${options.size}×${this.backends[0]?.name})`;
    this.provedBy = this.backends.map(() => 0);
    this.idle = this.backends.map((_, index) => index);
  }

  get size(): number {
    return this.backends.length;
  }

  /** Loads a circuit's keys into every backend that supports it (once per process). */
  async load(circuitId: string): Promise<void> {
    await Promise.all(this.backends.map((backend) => (backend as Loadable).load?.(circuitId)));
  }

  /** One proof on the next idle backend. */
  async prove(circuitId: string, witnessInput: Record<string, unknown>): Promise<ProveResult> {
    return this.proveOn(await this.acquire(), circuitId, witnessInput);
  }

  async proveChunks(job: ChunkJob, onProgress?: ChunkProgressListener): Promise<ProveResult[]> {
    assertChunkJob(job);
    const total = job.tasks.length;
    const tracker = new ChunkProgressTracker(total);
    const results = new Array<ProveResult>(total);
    let failed = false;
    const proveOne = async (index: number) => {
      const task = job.tasks[index] as (typeof job.tasks)[number];
      const backend = await this.acquire();
      if (failed) {
        this.release(backend);
        return;
      }
      let result: ProveResult;
      try {
        result = await this.proveOn(backend, task.circuitId, task.input);
      } catch (error) {
        throw error instanceof WitnessError ? chunkWitnessError(error, index, total) : error;
      }
      checkChunkResult(task, index, total, result);
      results[index] = result;
      onProgress?.(tracker.chunkDone());
    };
    // Tasks queue up on `acquire` in index order, so idle backends take them in order.
    const running = job.tasks.map((_, index) =>
      proveOne(index).catch((error: unknown) => {
        failed = true;
        throw error;
      }),
    );
    await Promise.all(running);
    return results;
  }

  /** Rejects proofs waiting for a backend and closes every backend (their running proofs reject). */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new ProverError("prover pool closed"));
    await Promise.all(this.backends.map((backend) => backend.close()));
  }

  /** Proves on backend `index` (already acquired) and releases it. */
  private async proveOn(
    index: number,
    circuitId: string,
    witnessInput: Record<string, unknown>,
  ): Promise<ProveResult> {
    try {
      const result = await (this.backends[index] as ProverBackend).prove(circuitId, witnessInput);
      this.provedBy[index] = (this.provedBy[index] ?? 0) + 1;
      return result;
    } finally {
      this.release(index);
    }
  }

  private acquire(): Promise<number> {
    if (this.closed) return Promise.reject(new ProverError("prover pool closed"));
    const index = this.idle.shift();
    if (index !== undefined) return Promise.resolve(index);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(index: number): void {
    const next = this.waiters.shift();
    if (next) next.resolve(index);
    else this.idle.push(index);
  }
}
