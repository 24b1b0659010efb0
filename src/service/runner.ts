/**
 * @module service/runner
 *
 * The in-process job worker: `concurrency` loops that claim queued jobs from the SQLite job table (see
 * jobs.ts), split each into chunk tasks, prove them off the request path through a `ChunkProver` (a pool of
 * prover processes, or BullMQ workers on other machines) recording chunk progress on the job, and store the
 * bundle, charge and audit entry in one transaction. A job on a dataset that fits the served circuit is one
 * task (a `zktally-bundle/v1`); a job on a chunked (v2) dataset is planned by `proveChain` as one task per
 * chunk plus the final step and answered with a `zktally-bundle/v2` chain bundle. A dp job (jobs.dp, the
 * (epsilon, delta) admission charged) on a chunked dataset whose manifest commits to a noise seed is proven
 * with proveChain's noise option (the noisy final step, the clamped chunk circuit for a clamped sum) and
 * answered with a `zktally-bundle/v3` dp-chain bundle; on any other dataset it fails with dp_unavailable. A pass
 * job (jobs.kind `pass`: Q queries over a chunked dataset) is proven by `provePass` on the same prover (the
 * pinned PassStep and PassFinal circuits of config `pass`) into a pass bundle; a dp pass job (count histograms
 * of a dp partner) by `proveNoisyHistograms` closing the same PassStep chain with the PassFinalNoisy of config
 * `pass.dp`, at the per-histogram (epsilon, delta) admission stored (jobs.dp), into a dp-histogram bundle. Admission, budgets and audit
 * are per query (a pass counts each of its queries), never per chunk. While a proof runs, a heartbeat extends the job's lease;
 * if this process dies, the lease expires and any instance re-queues the job.
 *
 * Errors (policy in docs/service.md, "Job failures"): a dataset that does not decrypt or match its
 * manifest, a query the circuit cannot encode and witness failures are permanent (the job fails with a
 * public code, the budget is refunded). A prover process failure or an unavailable dependency (audit log)
 * is transient: retried after `retryDelayMs` until `maxAttempts` claims are used up. Anything else is an
 * internal error (a bug or a misconfiguration, not the partner's doing): logged once at error level, the
 * job fails at once with `internal_error` and the budget is refunded; it is not retried, since the same bug
 * would fail again and each attempt costs a proof.
 *
 * Graceful shutdown (`stop`): no new claims; running proofs get `drainTimeoutMs` to finish, then their jobs
 * are released back to the queue and any late result is discarded by the lease check.
 *
 * Security caveats: the noise seed goes only into the noisy final step's witness (never logged). Errors are
 * logged by name (internal errors also by stack frames, never their message) and public job metadata only; a
 * job's stored error message is one of the fixed public texts below, never exception text.
 */
import { randomUUID } from "node:crypto";
import type { AggregateShape } from "../circuits/shape.ts";
import type { ChunkedManifest } from "../dataset/manifest.ts";
import { ProverError, WitnessError } from "../prover/backend.ts";
import { makeBundle } from "../prover/bundle.ts";
import type { ChunkProgress, ChunkProver } from "../prover/chunks.ts";
import { proveChain } from "../prover/prove-chain.ts";
import type { ChainNoiseOptions } from "../prover/prove-noisy-chain.ts";
import { proveNoisyHistograms } from "../prover/prove-noisy-pass.ts";
import { provePass } from "../prover/prove-pass.ts";
import { planQueryProof } from "../prover/prove-query.ts";
import { QueryError } from "../query/errors.ts";
import { passQueryHash } from "../query/pass.ts";
import { ConflictError, IntegrityError, UnavailableError } from "../util/errors.ts";
import type { ProofBundle } from "../verifier/bundle.ts";
import type { ChainBundle } from "../verifier/chain-bundle.ts";
import type { DpChainBundle } from "../verifier/dp-chain.ts";
import type { DpHistogramBundle } from "../verifier/dp-histogram.ts";
import type { PassBundle } from "../verifier/pass-bundle.ts";
import {
  type ChainCircuits,
  DP_PASS_TIER,
  type DpChainCircuits,
  type PassCircuits,
} from "./chunk-circuits.ts";
import type { DatasetStore } from "./datasets.ts";
import { type JobRow, type JobStore, LeaseLostError } from "./jobs.ts";
import { errorLocation, type Logger } from "./logger.ts";

export interface RunnerOptions {
  readonly jobs: JobStore;
  readonly datasets: DatasetStore;
  /** Proves a job's chunk tasks: the local process pool, or the BullMQ coordinator with `--redis`. */
  readonly prover: ChunkProver;
  readonly shape: AggregateShape;
  readonly circuitId: string;
  readonly vkeyHash: string;
  /** The pinned chunk and final circuits of a chunked dataset (by its signed schema and layout). */
  readonly chainCircuits: (manifest: ChunkedManifest) => Promise<ChainCircuits>;
  /** The same with the clamped chunk and noisy final circuits, for dp jobs. */
  readonly dpChainCircuits: (manifest: ChunkedManifest) => Promise<DpChainCircuits>;
  /** The pinned pass circuits of a chunked dataset (config `pass`), for pass jobs. */
  readonly passCircuits: (manifest: ChunkedManifest) => Promise<PassCircuits>;
  readonly logger: Logger;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  readonly drainTimeoutMs: number;
}

type FailureClass =
  | { readonly kind: "permanent"; readonly code: string; readonly message: string }
  | { readonly kind: "transient" }
  | { readonly kind: "internal"; readonly code: string; readonly message: string };

/** What a failed attempt means for the job; the stored code and message are public fixed texts. */
export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof NoiseUnavailableError) {
    return {
      kind: "permanent",
      code: "dp_unavailable",
      message:
        "noisy (dp) answers cannot be proven for this dataset (no noise commitment); the job was not charged",
    };
  }
  if (error instanceof IntegrityError) {
    return {
      kind: "permanent",
      code: "dataset_unavailable",
      message: "the dataset could not be loaded for proving",
    };
  }
  if (error instanceof QueryError) {
    return {
      kind: "permanent",
      code: "query_not_provable",
      message: "the query cannot be proven with this circuit",
    };
  }
  if (error instanceof WitnessError) {
    return { kind: "permanent", code: "proof_failed", message: "the circuit rejected the statement" };
  }
  if (error instanceof ProverError || error instanceof UnavailableError) return { kind: "transient" };
  return {
    kind: "internal",
    code: "internal_error",
    message: "the service failed to prove this job; it was not charged",
  };
}

/** A dp job on a dataset without a noise commitment: failed (refunded), never answered exactly. */
export class NoiseUnavailableError extends ConflictError {
  constructor() {
    super("dp_unavailable", "this service cannot prove noisy answers");
  }
}

export class JobRunner {
  /** This process's lease owner id. */
  readonly owner = `${process.pid}-${randomUUID()}`;
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly active = new Map<string, { job: JobRow; done: Promise<void> }>();
  /** Idle loops waiting for work (each removes itself when it wakes). */
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly options: RunnerOptions) {}

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
  }

  /** Wakes idle loops (called after each accepted submission). */
  wake(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  get activeJobIds(): string[] {
    return [...this.active.keys()];
  }

  /** Stops claiming, waits up to `drainTimeoutMs` for running proofs, then releases the rest to the queue. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    const running = [...this.active.values()];
    const drained = Promise.all(running.map((item) => item.done)).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => {
      setTimeout(() => resolve(false), this.options.drainTimeoutMs).unref();
    });
    if (!(await Promise.race([drained, timedOut]))) {
      for (const { job } of this.active.values()) {
        if (this.options.jobs.release(job, this.owner, 0)) {
          this.options.logger.warn({ jobId: job.job_id }, "job re-queued at shutdown");
        }
      }
    }
    await Promise.race([Promise.all(this.loops), new Promise((resolve) => setTimeout(resolve, 100))]);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let job: JobRow | undefined;
      try {
        job = this.options.jobs.claim(this.owner, this.options.leaseMs);
      } catch (error) {
        this.options.logger.error({ err: { name: (error as Error).name } }, "claiming a job failed");
      }
      if (job === undefined) {
        await this.idle();
        continue;
      }
      const done = this.run(job);
      this.active.set(job.job_id, { job, done });
      await done;
      this.active.delete(job.job_id);
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.sleepers.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, this.options.pollMs);
      this.sleepers.add(finish);
    });
  }

  private async run(job: JobRow): Promise<void> {
    const { jobs, logger } = this.options;
    const started = performance.now();
    const heartbeat = setInterval(
      () => {
        try {
          jobs.heartbeat(job, this.owner, this.options.leaseMs);
        } catch {
          // A missed heartbeat only shortens the lease; the completion check still guards the answer.
        }
      },
      Math.max(50, Math.floor(this.options.leaseMs / 3)),
    );
    try {
      jobs.setPhase(job, this.owner, "loading-dataset");
      const stored = this.options.datasets.require(job.dataset_id, job.epoch);
      const chained = stored.manifest.version === 2;
      if (job.dp !== null && !(chained && stored.manifest.noiseCommitment !== undefined)) {
        throw new NoiseUnavailableError();
      }
      if (job.kind === "pass") {
        const parsed = await this.provePassJob(job);
        jobs.complete(job, this.owner, parsed.bundle, parsed.queryHashes);
      } else {
        const bundle = chained ? await this.proveChained(job) : await this.proveSingle(job);
        jobs.complete(job, this.owner, bundle);
      }
      logger.info(
        {
          jobId: job.job_id,
          partner: job.partner_id,
          attempt: job.attempts,
          ms: Math.round(performance.now() - started),
        },
        "job done",
      );
    } catch (error) {
      this.handleFailure(job, error);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** One proof of the served circuit (a dataset that fits one instance). */
  private async proveSingle(job: JobRow): Promise<ProofBundle> {
    const { jobs } = this.options;
    const dataset = await this.options.datasets.loadCommitted(job.dataset_id, job.epoch);
    const plan = planQueryProof({
      dataset,
      shape: this.options.shape,
      query: JSON.parse(job.query),
      minGroupSize: job.min_group_size,
      dominanceShare: job.dominance_share,
      nonce: BigInt(job.nonce),
    });
    jobs.setChunkProgress(job, this.owner, { done: 0, total: plan.tasks.length, etaMs: undefined });
    jobs.setPhase(job, this.owner, "proving");
    const results = await this.options.prover.proveChunks(
      { id: chunkJobId(job), tasks: plan.tasks },
      (progress) => jobs.setChunkProgress(job, this.owner, progress),
    );
    const proof = plan.finish(results);
    jobs.setPhase(job, this.owner, "bundling");
    return makeBundle(proof, dataset.manifest, this.options.vkeyHash);
  }

  /** A chain of chunk proofs and the final proof over a chunked dataset (`proveChain`). */
  private async proveChained(job: JobRow): Promise<ChainBundle | DpChainBundle> {
    const { jobs, shape } = this.options;
    const dataset = await this.options.datasets.loadChunked(job.dataset_id, job.epoch);
    const request = {
      manifest: dataset.manifest,
      committed: dataset.committed,
      records: dataset.records,
      query: JSON.parse(job.query),
      nonce: BigInt(job.nonce),
      minGroupSize: job.min_group_size,
      dominanceShare: job.dominance_share,
      querySlots: { clauses: shape.clauses, setSize: shape.setSize },
      prover: this.options.prover,
      jobId: chunkJobId(job),
      onProgress: (progress: ChunkProgress) => jobs.setChunkProgress(job, this.owner, progress),
    };
    const noise = job.dp === null ? undefined : await this.noiseOptions(job, dataset.manifest);
    const circuits = noise ? undefined : await this.options.chainCircuits(dataset.manifest);
    jobs.setChunkProgress(job, this.owner, {
      done: 0,
      total: dataset.manifest.chunkCount + 1,
      etaMs: undefined,
    });
    jobs.setPhase(job, this.owner, "proving");
    if (noise) return proveChain({ ...request, vkeyHashes: noise.vkeyHashes, noise: noise.options });
    const plain = circuits as ChainCircuits;
    return proveChain({ ...request, vkeyHashes: { chunk: plain.chunkVkeyHash, final: plain.finalVkeyHash } });
  }

  /**
   * The queries of a pass job as one PassStep chain and one PassFinal proof (`provePass`), or for a dp job
   * closed by the PassFinalNoisy (`proveNoisyHistograms`).
   */
  private async provePassJob(job: JobRow): Promise<{
    bundle: PassBundle | DpHistogramBundle;
    queryHashes: readonly string[];
  }> {
    const { jobs } = this.options;
    const dataset = await this.options.datasets.loadChunked(job.dataset_id, job.epoch);
    const circuits = await this.options.passCircuits(dataset.manifest);
    const total = dataset.manifest.chunkCount + 1;
    jobs.setChunkProgress(job, this.owner, { done: 0, total, etaMs: undefined });
    jobs.setPhase(job, this.owner, "proving");
    const request = {
      manifest: dataset.manifest,
      committed: dataset.committed,
      records: dataset.records,
      queries: JSON.parse(job.query) as unknown[],
      nonce: BigInt(job.nonce),
      slots: circuits.slots,
      prover: this.options.prover,
      jobId: chunkJobId(job),
      onProgress: (progress: ChunkProgress) => jobs.setChunkProgress(job, this.owner, progress),
    };
    if (job.dp === null) {
      return provePass({
        ...request,
        minGroupSize: job.min_group_size,
        vkeyHashes: { step: circuits.stepVkeyHash, final: circuits.finalVkeyHash },
      });
    }
    const { noisy, noisyFinalVkeyHash } = circuits;
    if (noisy === undefined || noisyFinalVkeyHash === undefined) throw new NoiseUnavailableError();
    const perHistogram = JSON.parse(job.dp) as { epsilon: number; delta: number };
    const bundle = await proveNoisyHistograms({
      ...request,
      noise: {
        secret: await this.options.datasets.noiseSecret(job.dataset_id, job.epoch),
        limits: { maxCoins: noisy.shape.maxCoins, maxScaleBits: noisy.shape.maxScaleBits },
        // One tier: every cell of every table at the policy's (epsilon, delta).
        tiers: [{ name: DP_PASS_TIER, ...perHistogram }],
        tierOf: () => DP_PASS_TIER,
      },
      vkeyHashes: { step: circuits.stepVkeyHash, final: noisyFinalVkeyHash },
    });
    const schema = dataset.manifest.schema;
    return { bundle, queryHashes: request.queries.map((query) => passQueryHash(query, schema)) };
  }

  /**
   * A dp job's noise: the (epsilon, delta) admission charged (jobs.dp), the epoch's sealed noise seed, the
   * noisy final step's limits and the keys of the chunk circuit the query selects (clamped for a sum).
   */
  private async noiseOptions(job: JobRow, manifest: ChunkedManifest) {
    const charged = JSON.parse(job.dp as string) as { epsilon: number; delta: number };
    const circuits = await this.options.dpChainCircuits(manifest);
    const secret = await this.options.datasets.noiseSecret(job.dataset_id, job.epoch);
    const query = JSON.parse(job.query) as { aggregate: { kind: string; clamp?: unknown } };
    const clamped = query.aggregate.kind === "sum" && query.aggregate.clamp !== undefined;
    const { maxCoins, maxScaleBits } = circuits.noisyShape;
    return {
      vkeyHashes: {
        chunk: clamped ? circuits.clampChunkVkeyHash : circuits.chunkVkeyHash,
        final: circuits.noisyFinalVkeyHash,
      },
      options: {
        epsilon: charged.epsilon,
        delta: charged.delta,
        secret,
        limits: { maxCoins, maxScaleBits },
      } satisfies ChainNoiseOptions,
    };
  }

  private handleFailure(job: JobRow, error: unknown): void {
    const { jobs, logger } = this.options;
    const log = {
      jobId: job.job_id,
      attempt: job.attempts,
      err: { name: (error as Error)?.name ?? "unknown" },
    };
    if (error instanceof LeaseLostError) {
      logger.warn(log, "job lease lost; result discarded");
      return;
    }
    try {
      const failure = classifyFailure(error);
      if (failure.kind === "internal") {
        logger.error({ ...log, err: errorLocation(error), code: failure.code }, "job failed: internal error");
        jobs.fail(job, this.owner, failure.code, failure.message);
      } else if (failure.kind === "permanent") {
        logger.warn({ ...log, code: failure.code }, "job failed");
        jobs.fail(job, this.owner, failure.code, failure.message);
      } else if (this.stopping) {
        jobs.release(job, this.owner, 0);
      } else if (job.attempts >= this.options.maxAttempts) {
        logger.error({ ...log, code: "attempts_exhausted" }, "job failed");
        jobs.fail(job, this.owner, "attempts_exhausted", "the job failed repeatedly and was stopped");
      } else {
        logger.warn(
          log,
          error instanceof ProverError ? "prover error; job will be retried" : "job will be retried",
        );
        jobs.release(job, this.owner, this.options.retryDelayMs);
      }
    } catch (inner) {
      // Could not record the outcome (lease lost, audit down): the lease expires and the job is retried.
      logger.error(
        { jobId: job.job_id, err: { name: (inner as Error)?.name ?? "unknown" } },
        "job outcome not recorded",
      );
    }
  }
}

/** One chunk job per attempt: a retried attempt never mixes with a stale one's chunks. */
function chunkJobId(job: JobRow): string {
  return `${job.job_id}.${job.attempts}`;
}
