/**
 * @module service/release-runner
 *
 * Proves admitted releases (service/releases.ts) off the request path, one at a time, on the service's chunk
 * prover (the local pool or the BullMQ workers): loads the chunked dataset epoch, re-parses the stored risk
 * list, pins the release circuits the manifest announced (service/chunk-circuits.ts) and runs `buildRelease`
 * (src/release/release.ts, the same code as `zktally release`) with the risk list admission parsed, recording passes done while a heartbeat
 * extends the lease. A process that dies mid-release leaves a lease that expires; any instance then proves
 * it again (same nonce, same noise: a second proof reveals nothing new) until `maxAttempts` claims are used.
 *
 * Failures are classified as the job runner's (runner.ts `classifyFailure`): permanent and internal errors
 * fail the release (refunded), transient ones re-queue it.
 *
 * Security caveats: the noise seed goes only into the noisy final step's witness; logs carry public metadata
 * (release id, dataset, error names) only.
 */
import { randomUUID } from "node:crypto";
import type { ChunkProver } from "../prover/chunks.ts";
import { buildRelease } from "../release/release.ts";
import { pinnedReleaseCircuits } from "./chunk-circuits.ts";
import type { ServiceConfig } from "./config.ts";
import type { DatasetStore } from "./datasets.ts";
import { LeaseLostError } from "./jobs.ts";
import type { Logger } from "./logger.ts";
import { releaseCircuitsOf } from "./release-admission.ts";
import type { ReleaseRow, ReleaseSpec, ReleaseStore } from "./releases.ts";
import { classifyFailure } from "./runner.ts";

export interface ReleaseRunnerOptions {
  readonly config: ServiceConfig;
  readonly releases: ReleaseStore;
  readonly datasets: DatasetStore;
  readonly prover: ChunkProver;
  readonly logger: Logger;
  readonly now: () => number;
}

export class ReleaseRunner {
  private readonly owner = `${process.pid}-release-${randomUUID()}`;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly options: ReleaseRunnerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Wakes the idle loop (after an admitted release). */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops claiming; a running release gets `drainTimeoutMs`, then its lease is left to expire. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    const drain = this.options.config.jobs.drainTimeoutMs;
    await Promise.race([this.loop, new Promise((resolve) => setTimeout(resolve, drain).unref())]);
  }

  private async run(): Promise<void> {
    const { jobs } = this.options.config;
    while (!this.stopping) {
      let row: ReleaseRow | undefined;
      try {
        row = this.options.releases.claim(this.owner, jobs.leaseMs, jobs.maxAttempts);
      } catch (error) {
        this.options.logger.error({ err: { name: (error as Error).name } }, "claiming a release failed");
      }
      if (row === undefined) await this.idle(jobs.pollMs);
      else await this.prove(row);
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeUp = finish;
    });
  }

  private async prove(row: ReleaseRow): Promise<void> {
    const { releases, logger, config } = this.options;
    const leaseMs = config.jobs.leaseMs;
    let passesDone: number | undefined;
    const heartbeat = setInterval(
      () => {
        try {
          releases.heartbeat(row, this.owner, leaseMs, passesDone);
        } catch {
          // A missed heartbeat only shortens the lease; completion still checks it.
        }
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    try {
      const result = await this.build(row, (done) => {
        passesDone = done;
      });
      releases.complete(row, this.owner, result);
      logger.info({ releaseId: row.release_id, rows: result.rows }, "release done");
    } catch (error) {
      this.handleFailure(row, error);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async build(row: ReleaseRow, onPasses: (done: number) => void) {
    const { datasets, config } = this.options;
    const spec = JSON.parse(row.request) as ReleaseSpec;
    const dataset = await datasets.loadChunked(row.dataset_id, row.epoch);
    const { manifest } = dataset;
    const ids = releaseCircuitsOf(config, manifest, spec.fields);
    const circuits = await pinnedReleaseCircuits(config, ids);
    const secret = await datasets.noiseSecret(row.dataset_id, row.epoch);
    const { maxCoins, maxScaleBits } = ids.shape;
    return buildRelease({
      ...dataset,
      fields: spec.fields,
      risk: spec.risk,
      threshold: spec.threshold,
      nonce: BigInt(row.nonce),
      slots: ids.slots,
      noise: { secret, limits: { maxCoins, maxScaleBits } },
      vkeyHashes: circuits.vkeyHashes,
      prover: this.options.prover,
      createdAt: new Date(this.options.now()),
      onProgress: (pass, _passes, progress) => {
        if (progress.done === progress.total) onPasses(pass + 1);
      },
    });
  }

  private handleFailure(row: ReleaseRow, error: unknown): void {
    const { releases, logger, config } = this.options;
    const log = { releaseId: row.release_id, attempt: row.attempts, err: { name: (error as Error)?.name } };
    if (error instanceof LeaseLostError) {
      logger.warn(log, "release lease lost; result discarded");
      return;
    }
    try {
      const failure = classifyFailure(error);
      if (failure.kind === "transient" && row.attempts < config.jobs.maxAttempts && !this.stopping) {
        logger.warn(log, "release will be retried");
        releases.requeue(row, this.owner);
      } else if (failure.kind === "transient") {
        releases.fail(row, this.owner, "attempts_exhausted", "the release failed repeatedly and was stopped");
      } else {
        logger.warn({ ...log, code: failure.code }, "release failed");
        releases.fail(row, this.owner, failure.code, failure.message);
      }
    } catch (inner) {
      logger.error(
        { releaseId: row.release_id, err: { name: (inner as Error)?.name ?? "unknown" } },
        "release outcome not recorded",
      );
    }
  }
}
