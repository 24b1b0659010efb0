/**
 * @module service/jobs
 *
 * The durable job table and every state change of a job, each one a SQLite transaction:
 *
 *   submit:   queued (+ budget reservation in the ledger, budgets.ts + audit "query.submit accepted", one
 *             entry per query for a pass of Q queries, whose reservation counts Q);
 *             the same query with the same nonce again returns the existing job, uncharged ("replayed")
 *   claim:    queued -> running (attempts + 1, lease owner, lease deadline, chunk progress reset)
 *   progress: chunks done / total and the time-left estimate of the running attempt (lease holder only)
 *   complete: running -> done, only while the caller still holds the lease; inserts THE bundle (primary key
 *             job_id; its canonical JSON, served byte for byte, whose SHA-256 the audit entry carries), turns the reservation into a charge and appends "query.answer accepted"
 *   fail:     running -> failed, refunds the reservation, appends "query.answer failed"
 *   release:  running -> queued (graceful shutdown, transient error retry)
 *   expire:   running with an expired lease -> queued again, or failed once attempts are used up
 *
 * A worker that crashes mid-proof leaves its job `running` with a lease that expires; the job is then proven
 * again, but because completion is guarded by (state = running, lease owner) and the bundle table allows one
 * row per job, it is answered, charged and logged exactly once.
 *
 * Security caveats: reads take the partner id and filter on it in SQL, so another partner's job is simply
 * "not found". This module knows no HTTP: URLs and statuses are the routes' (views.ts, http-errors.ts).
 */

import { randomUUID } from "node:crypto";
import { serializeBundle } from "../prover/bundle.ts";
import { ConflictError, LimitError, UnavailableError } from "../util/errors.ts";
import type { ProofBundle } from "../verifier/bundle.ts";
import type { ChainBundle } from "../verifier/chain-bundle.ts";
import type { DpChainBundle } from "../verifier/dp-chain.ts";
import type { DpHistogramBundle } from "../verifier/dp-histogram.ts";
import type { PassBundle } from "../verifier/pass-bundle.ts";
import type { AuditDetails, AuditSubject, ServiceAudit } from "./audit.ts";
import { BudgetLedger, type Charge, DELTA_SCALE, EPSILON_SCALE, type PrivacyStanding } from "./budgets.ts";
import { type Db, scalar, statement } from "./db.ts";
import type { Partner } from "./partners.ts";

export const JOB_STATES = ["queued", "running", "done", "failed"] as const;

/** Every bundle a job can be answered with. */
export type AnyBundle = ProofBundle | ChainBundle | DpChainBundle | PassBundle | DpHistogramBundle;
export type JobState = (typeof JOB_STATES)[number];

export interface JobRow {
  job_id: string;
  partner_id: string;
  request_id: string;
  dataset_id: string;
  epoch: number;
  circuit_id: string;
  query: string;
  query_hash: string;
  nonce: string;
  min_group_size: number;
  /** Dominance share the answer is proven under (percent, sums; 0 = no dominance rule). */
  dominance_share: number;
  state: JobState;
  phase: string;
  attempts: number;
  available_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  /** Chunks proven in the current attempt, of `chunks_total` (0 before proving starts). */
  chunks_done: number;
  chunks_total: number;
  /** Estimated ms left in the current attempt, from the measured time per chunk. */
  eta_ms: number | null;
  /**
   * A dp job's noise parameters per answer, JSON `{epsilon, delta}` (the ledger's charge, or for a dp pass of
   * k histograms one k-th of it); null for exact answers.
   */
  dp: string | null;
  /** `pass`: `query` is the JSON list of a pass's canonical queries (answered by a pass bundle). */
  kind: JobKind;
}

export type JobKind = "query" | "pass";

/** One query of a pass as audited: its hash and its statement in words. */
export interface AdmittedItem {
  readonly queryHash: string;
  readonly statement: string;
}

/** What a partner submitted, after admission (everything here is public or the partner's own). */
export interface AdmittedQuery {
  readonly datasetId: string;
  readonly epoch: number;
  readonly circuitId: string;
  /** Canonical query JSON. */
  readonly query: string;
  readonly queryHash: string;
  readonly nonce: string;
  readonly minGroupSize: number;
  /** Dominance share (percent, sums; absent or 0 = off, as for passes), from the policy and query kind only. */
  readonly dominanceShare?: number;
  /** What the answer costs the partner's budgets (budgets.ts). */
  readonly charge: Charge;
  /** A dp pass's noise per histogram (its charge is one per histogram); default the charge's (epsilon, delta). */
  readonly noise?: { readonly epsilon: number; readonly delta: number };
  /** The query in words for the public transparency log (service/transparency.ts). */
  readonly statement?: string;
  /** `pass`: `query` lists the pass's queries, `queryHash` hashes the list; default `query`. */
  readonly kind?: JobKind;
  /** A pass's queries, one audit entry each (in query order). */
  readonly items?: readonly AdmittedItem[];
}

/** A submission's job; `replayed` when it is the existing job of the same query with the same nonce. */
export interface Submitted {
  readonly row: JobRow;
  readonly replayed: boolean;
}

export interface QueueLimits {
  readonly maxQueuedPerPartner: number;
  readonly maxQueued: number;
  readonly maxAttempts: number;
}

/** The phases a running job goes through, in order (progress percentages: views.ts). */
export const JOB_PHASES = [
  "queued",
  "starting",
  "loading-dataset",
  "proving",
  "bundling",
  "done",
  "failed",
] as const;
export type JobPhase = (typeof JOB_PHASES)[number];

/** The lease was lost (expired and taken over, or released): the caller must drop its result. */
export class LeaseLostError extends ConflictError {
  constructor(jobId: string, when: string) {
    super("lease_lost", `job ${jobId}: lease lost ${when}`);
  }
}

export class JobStore {
  readonly budgets: BudgetLedger;

  constructor(
    private readonly db: Db,
    private readonly audit: ServiceAudit,
    private readonly limits: QueueLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.budgets = new BudgetLedger(db);
  }

  // ----------------------------------------------------------------- admission

  /**
   * Admits a query: checks queue limits and the budgets, reserves the answer's cost in the budget ledger,
   * inserts the job and logs "accepted" with the charge, all in one transaction. The same query (dataset and
   * query hash) with a nonce the partner already used returns that job, charged nothing more; another query
   * with a used nonce is refused (nonce_reused). Refusals throw `ZktallyError`s (logged as refused).
   */
  submit(subject: AuditSubject, partner: Partner, admitted: AdmittedQuery): Submitted {
    return this.audit.decide<Submitted>(subject, () => {
      const replay = this.replayOf(partner.clientId, admitted);
      if (replay !== undefined) {
        return { result: { row: replay, replayed: true }, details: { jobId: replay.job_id, replayed: true } };
      }
      const now = this.now();
      this.checkQueueLimits(partner.clientId);
      const jobId = randomUUID();
      this.insertJob(jobId, subject.requestId, partner.clientId, admitted, now);
      this.budgets.reserve(partner, jobId, admitted.charge, now);
      const details: AuditDetails = {
        jobId,
        datasetId: admitted.datasetId,
        epoch: admitted.epoch,
        queryHash: admitted.queryHash,
        nonce: admitted.nonce,
        minGroupSize: admitted.minGroupSize,
        ...(admitted.dominanceShare ? { dominanceShare: admitted.dominanceShare } : {}),
        ...chargeDetails(admitted.charge, this.budgets.privacy(partner, admitted.datasetId, now)),
        ...(admitted.statement === undefined ? {} : { statement: admitted.statement }),
      };
      const row = this.requireRow(jobId);
      return { result: { row, replayed: false }, details: perQuery(details, admitted.items) };
    });
  }

  /** The partner's job with this nonce when it asked the same query of the same dataset. */
  private replayOf(partnerId: string, admitted: AdmittedQuery): JobRow | undefined {
    const row = statement(this.db, "SELECT * FROM jobs WHERE partner_id = ? AND nonce = ?").get(
      partnerId,
      admitted.nonce,
    ) as JobRow | undefined;
    if (row === undefined || row.dataset_id !== admitted.datasetId || row.query_hash !== admitted.queryHash)
      return undefined;
    return row;
  }

  private checkQueueLimits(partnerId: string): void {
    const open = scalar(
      this.db,
      "SELECT COUNT(*) FROM jobs WHERE partner_id = ? AND state IN ('queued', 'running')",
    ).get(partnerId) as number;
    if (open >= this.limits.maxQueuedPerPartner) {
      throw new LimitError("queue_full", `you have ${open} open jobs; wait for some to finish`, {
        retryAfterSeconds: 5,
      });
    }
    const total = scalar(
      this.db,
      "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
    ).get() as number;
    if (total >= this.limits.maxQueued) {
      // The service's capacity, not this partner's share: unavailable for everyone (503), not a 429.
      throw new UnavailableError("queue_full", "the service queue is full; retry later", {
        retryAfterSeconds: 30,
      });
    }
  }

  private insertJob(
    jobId: string,
    requestId: string,
    partnerId: string,
    admitted: AdmittedQuery,
    now: number,
  ) {
    try {
      statement(
        this.db,
        `INSERT INTO jobs (job_id, partner_id, request_id, dataset_id, epoch, circuit_id, query, query_hash, nonce,
             min_group_size, dominance_share, state, phase, attempts, available_at, created_at, updated_at, dp, kind)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 'queued', 0, ?, ?, ?, ?, ?)`,
      ).run(
        jobId,
        partnerId,
        requestId,
        admitted.datasetId,
        admitted.epoch,
        admitted.circuitId,
        admitted.query,
        admitted.queryHash,
        admitted.nonce,
        admitted.minGroupSize,
        admitted.dominanceShare ?? 0,
        now,
        now,
        now,
        dpColumn(admitted),
        admitted.kind ?? "query",
      );
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        const existing = scalar(this.db, "SELECT job_id FROM jobs WHERE partner_id = ? AND nonce = ?").get(
          partnerId,
          admitted.nonce,
        ) as string | undefined;
        throw new ConflictError("nonce_reused", "this nonce was already used for one of your queries", {
          details: existing === undefined ? {} : { jobId: existing },
        });
      }
      throw error;
    }
  }

  // ----------------------------------------------------------------- reads (owner-filtered)

  forPartner(jobId: string, partnerId: string): JobRow | undefined {
    return statement(this.db, "SELECT * FROM jobs WHERE job_id = ? AND partner_id = ?").get(
      jobId,
      partnerId,
    ) as JobRow | undefined;
  }

  /** The newest jobs of every partner (operator views: `serve admin job list`). */
  listRecent(limit: number): JobRow[] {
    return statement(this.db, "SELECT * FROM jobs ORDER BY created_at DESC, job_id LIMIT ?").all(
      limit,
    ) as JobRow[];
  }

  /** A job by id, whoever submitted it (operator views: `serve admin job show`). */
  byId(jobId: string): JobRow | undefined {
    return statement(this.db, "SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow | undefined;
  }

  listForPartner(partnerId: string, limit: number): JobRow[] {
    return statement(
      this.db,
      "SELECT * FROM jobs WHERE partner_id = ? ORDER BY created_at DESC, job_id LIMIT ?",
    ).all(partnerId, limit) as JobRow[];
  }

  bundleForPartner(jobId: string, partnerId: string): string | undefined {
    return scalar(this.db, "SELECT bundle FROM bundles WHERE job_id = ? AND partner_id = ?").get(
      jobId,
      partnerId,
    ) as string | undefined;
  }

  /** How many queued jobs (of any partner) are ahead of `row`; undefined unless it is queued. */
  queuePosition(row: JobRow): number | undefined {
    if (row.state !== "queued") return undefined;
    return scalar(
      this.db,
      "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND created_at <= ? AND job_id != ?",
    ).get(row.created_at, row.job_id) as number;
  }

  // ----------------------------------------------------------------- worker side

  /** Re-queues (or fails) expired leases, then claims the oldest available queued job for `owner`. */
  claim(owner: string, leaseMs: number): JobRow | undefined {
    this.expireLeases();
    return this.db.transaction(() => {
      const now = this.now();
      const id = scalar(
        this.db,
        `SELECT job_id FROM jobs WHERE state = 'queued' AND available_at <= ?
           ORDER BY available_at, created_at, job_id LIMIT 1`,
      ).get(now) as string | undefined;
      if (id === undefined) return undefined;
      statement(
        this.db,
        `UPDATE jobs SET state = 'running', phase = 'starting', attempts = attempts + 1, lease_owner = ?,
             lease_until = ?, updated_at = ?, chunks_done = 0, chunks_total = 0, eta_ms = NULL
           WHERE job_id = ? AND state = 'queued'`,
      ).run(owner, now + leaseMs, now, id);
      return this.requireRow(id);
    })();
  }

  /** Extends the lease; false when it was lost. */
  heartbeat(job: JobRow, owner: string, leaseMs: number): boolean {
    const now = this.now();
    return (
      statement(
        this.db,
        `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE job_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(now + leaseMs, now, job.job_id, owner).changes === 1
    );
  }

  setPhase(job: JobRow, owner: string, phase: JobPhase): void {
    const changed = statement(
      this.db,
      `UPDATE jobs SET phase = ?, updated_at = ? WHERE job_id = ? AND state = 'running' AND lease_owner = ?`,
    ).run(phase, this.now(), job.job_id, owner).changes;
    if (changed !== 1) throw new LeaseLostError(job.job_id, "while running");
  }

  /** Records chunk progress of the running attempt; false (nothing written) when the lease was lost. */
  setChunkProgress(
    job: JobRow,
    owner: string,
    progress: { readonly done: number; readonly total: number; readonly etaMs: number | undefined },
  ): boolean {
    const eta = progress.etaMs === undefined ? null : Math.round(progress.etaMs);
    return (
      statement(
        this.db,
        `UPDATE jobs SET chunks_done = ?, chunks_total = ?, eta_ms = ?, updated_at = ?
           WHERE job_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(progress.done, progress.total, eta, this.now(), job.job_id, owner).changes === 1
    );
  }

  /**
   * Stores the answer: done + bundle + charge + audit, atomically, only while `owner` holds the lease. A
   * pass bundle is audited once per query (`queryHashes`: the hash of each, in query order).
   */
  complete(job: JobRow, owner: string, bundle: AnyBundle, queryHashes?: readonly string[]): void {
    const { text, sha256: hash } = serializeBundle(bundle);
    const subject = { partner: job.partner_id, action: "query.answer", requestId: job.request_id };
    this.db.transaction(() => {
      const now = this.now();
      const changed = statement(
        this.db,
        `UPDATE jobs SET state = 'done', phase = 'done', lease_owner = NULL, lease_until = NULL, updated_at = ?,
             finished_at = ? WHERE job_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(now, now, job.job_id, owner).changes;
      if (changed !== 1) throw new LeaseLostError(job.job_id, "before completion");
      statement(
        this.db,
        "INSERT INTO bundles (job_id, partner_id, bundle, bundle_hash, created_at) VALUES (?, ?, ?, ?, ?)",
      ).run(job.job_id, job.partner_id, text, hash, now);
      if (!this.budgets.charge(job.job_id, now))
        throw new Error(`job ${job.job_id}: budget ledger is not in state reserved`);
      const details: AuditDetails = {
        jobId: job.job_id,
        datasetId: job.dataset_id,
        epoch: job.epoch,
        circuitId: job.circuit_id,
        queryHash: job.query_hash,
        nonce: job.nonce,
        bundleHash: hash,
      };
      const items = queryHashes?.map((queryHash) => ({ queryHash }));
      for (const entry of perQuery(details, items)) this.audit.append(subject, "accepted", entry);
    })();
  }

  /** Fails the job for good: refunds the reservation and logs the failure (public code only). */
  fail(job: JobRow, owner: string | null, code: string, message: string): void {
    this.db.transaction(() => {
      const now = this.now();
      const changed = statement(
        this.db,
        `UPDATE jobs SET state = 'failed', phase = 'failed', error_code = ?, error_message = ?, lease_owner = NULL,
             lease_until = NULL, updated_at = ?, finished_at = ?
           WHERE job_id = ? AND state = 'running' AND lease_owner IS ?`,
      ).run(code, message, now, now, job.job_id, owner).changes;
      if (changed !== 1) throw new LeaseLostError(job.job_id, "before failing");
      this.budgets.refund(job.job_id, now);
      this.audit.append(
        { partner: job.partner_id, action: "query.answer", requestId: job.request_id },
        "failed",
        { jobId: job.job_id, datasetId: job.dataset_id, epoch: job.epoch, code },
      );
    })();
  }

  /** Puts a running job back in the queue (shutdown or transient error); false when the lease was lost. */
  release(job: JobRow, owner: string, delayMs: number): boolean {
    const now = this.now();
    return (
      statement(
        this.db,
        `UPDATE jobs SET state = 'queued', phase = 'queued', lease_owner = NULL, lease_until = NULL,
             available_at = ?, updated_at = ? WHERE job_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(now + delayMs, now, job.job_id, owner).changes === 1
    );
  }

  /**
   * Running jobs whose lease has expired (their worker died): back to the queue, or failed (refunded,
   * logged) when they have used all their attempts, so a job that crashes every prover cannot loop forever.
   */
  expireLeases(): number {
    const now = this.now();
    const expired = statement(this.db, "SELECT * FROM jobs WHERE state = 'running' AND lease_until < ?").all(
      now,
    ) as JobRow[];
    for (const job of expired) {
      if (job.attempts >= this.limits.maxAttempts) {
        this.fail(
          { ...job },
          job.lease_owner,
          "attempts_exhausted",
          "the job failed repeatedly and was stopped",
        );
      } else {
        statement(
          this.db,
          `UPDATE jobs SET state = 'queued', phase = 'queued', lease_owner = NULL, lease_until = NULL,
               available_at = ?, updated_at = ? WHERE job_id = ? AND state = 'running' AND lease_owner IS ?`,
        ).run(now, now, job.job_id, job.lease_owner);
      }
    }
    return expired.length;
  }

  private requireRow(jobId: string): JobRow {
    return statement(this.db, "SELECT * FROM jobs WHERE job_id = ?").get(jobId) as JobRow;
  }
}

/**
 * The audit details of a reservation (audit numbers are integers: fixed point as in budgets.ts): the
 * (epsilon, delta) charged and the dataset's total after it.
 */
function chargeDetails(charge: Charge, standing: PrivacyStanding | undefined): AuditDetails {
  if (standing === undefined) return {};
  return {
    epsilonMicros: Math.round(charge.epsilon * EPSILON_SCALE),
    deltaFemtos: Math.round(charge.delta * DELTA_SCALE),
    spentEpsilonMicros: Math.round(standing.spentEpsilon * EPSILON_SCALE),
    spentDeltaFemtos: Math.round(standing.spentDelta * DELTA_SCALE),
  };
}

/**
 * The audit entries of one decision: `details` alone, or one entry per query of a pass, each naming its
 * index (`query` of `queries`) and its own hash and statement, with the pass's hash as `passHash`.
 */
function perQuery(
  details: AuditDetails,
  items: readonly Partial<AdmittedItem>[] | undefined,
): AuditDetails[] {
  if (items === undefined) return [details];
  return items.map((item, q) => ({
    ...details,
    passHash: details.queryHash ?? null,
    query: q,
    queries: items.length,
    ...(item.queryHash === undefined ? {} : { queryHash: item.queryHash }),
    ...(item.statement === undefined ? {} : { statement: item.statement }),
  }));
}

/** The jobs.dp column of an admission: its noise parameters per answer when it is a dp answer, else null. */
function dpColumn(admitted: AdmittedQuery): string | null {
  if (admitted.charge.epsilon === 0) return null;
  const noise = admitted.noise ?? admitted.charge;
  return JSON.stringify({ epsilon: noise.epsilon, delta: noise.delta });
}
