/**
 * @module service/releases
 *
 * The durable release table (admin releases, docs/privacy.md "Releases") and every state change of a release,
 * each one SQLite transaction, in the manner of jobs.ts:
 *
 *   submit:   queued + one release budget reservation per country (release-budget.ts) + one audit entry
 *             "admin.release accepted" per tier charge; the same request with the same nonce on the same
 *             dataset epoch again returns the existing release, charged nothing more ("replayed"); another
 *             request with a used nonce is refused (nonce_reused)
 *   claim:    queued (or running with an expired lease) -> running, attempts + 1
 *   progress: passes proven of the total (lease holder only)
 *   complete: running -> done with the release document, its SHA-256 and the TSV; the reservation becomes a
 *             charge; "admin.release.answer accepted" with the document hash
 *   fail:     running -> failed, the reservation refunded, "admin.release.answer failed"
 *
 * Security caveats: the request stored here is public (fields, risk list, threshold, nonce); the document and
 * TSV carry noisy values and proofs only. This module knows no HTTP.
 */
import { randomUUID } from "node:crypto";
import type { RiskList } from "../release/risk.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { sha256Hex } from "../util/digest.ts";
import { ConflictError } from "../util/errors.ts";
import type { ReleaseFields } from "../verifier/release.ts";
import type { AuditDetails, AuditSubject, ServiceAudit } from "./audit.ts";
import { DELTA_SCALE, EPSILON_SCALE } from "./budgets.ts";
import { type Db, scalar, statement } from "./db.ts";
import { LeaseLostError } from "./jobs.ts";
import { type ReleaseBudget, ReleaseLedger, type TierCharge } from "./release-budget.ts";

export const RELEASE_STATES = ["queued", "running", "done", "failed"] as const;
export type ReleaseState = (typeof RELEASE_STATES)[number];

/** What a release proves (public): stored as canonical JSON, hashed into `requestHash`. */
export interface ReleaseSpec {
  readonly fields: ReleaseFields;
  /** The parsed risk list: every tier's (epsilon, delta) as decimal strings and every country's tier. */
  readonly risk: RiskList;
  readonly threshold: number;
}

/** A release after admission: everything here is public. */
export interface AdmittedRelease {
  readonly datasetId: string;
  readonly epoch: number;
  readonly nonce: string;
  readonly spec: ReleaseSpec;
  readonly passes: number;
  readonly charges: readonly TierCharge[];
}

export interface ReleaseRow {
  release_id: string;
  admin_id: string | null;
  request_id: string;
  dataset_id: string;
  epoch: number;
  nonce: string;
  request: string;
  request_hash: string;
  state: ReleaseState;
  attempts: number;
  passes_done: number;
  passes_total: number;
  lease_owner: string | null;
  lease_until: number | null;
  error_code: string | null;
  error_message: string | null;
  document: string | null;
  tsv: string | null;
  document_hash: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

export class ReleaseStore {
  readonly ledger: ReleaseLedger;

  constructor(
    private readonly db: Db,
    private readonly audit: ServiceAudit,
    private readonly now: () => number = Date.now,
  ) {
    this.ledger = new ReleaseLedger(db);
  }

  /** Admits a release (see the module comment); refusals throw `ZktallyError`s, audited as refused. */
  submit(
    subject: AuditSubject,
    admitted: AdmittedRelease,
    budget: ReleaseBudget,
  ): { row: ReleaseRow; replayed: boolean } {
    const request = canonicalJson(admitted.spec);
    const requestHash = sha256Hex(request);
    return this.audit.decide<{ row: ReleaseRow; replayed: boolean }>(subject, () => {
      const replay = this.replayOf(admitted, requestHash);
      if (replay !== undefined) {
        return {
          result: { row: replay, replayed: true },
          details: { releaseId: replay.release_id, replayed: true },
        };
      }
      const releaseId = randomUUID();
      const now = this.now();
      statement(
        this.db,
        `INSERT INTO releases (release_id, admin_id, request_id, dataset_id, epoch, nonce, request, request_hash,
             state, passes_total, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      ).run(
        releaseId,
        subject.partner,
        subject.requestId,
        admitted.datasetId,
        admitted.epoch,
        admitted.nonce,
        request,
        requestHash,
        admitted.passes,
        now,
        now,
      );
      const release = { releaseId, datasetId: admitted.datasetId, epoch: admitted.epoch };
      const after = this.ledger.reserve(release, admitted.charges, budget);
      const details = admitted.charges.map(
        (charge, t): AuditDetails => ({
          releaseId,
          datasetId: admitted.datasetId,
          epoch: admitted.epoch,
          nonce: admitted.nonce,
          requestHash,
          tier: charge.tier,
          countries: charge.countries.join(" "),
          epsilonMicros: Math.round(charge.epsilon * EPSILON_SCALE),
          deltaFemtos: Math.round(charge.delta * DELTA_SCALE),
          spentEpsilonMicros: Math.round((after[t]?.spentEpsilon ?? 0) * EPSILON_SCALE),
          spentDeltaFemtos: Math.round((after[t]?.spentDelta ?? 0) * DELTA_SCALE),
        }),
      );
      return { result: { row: this.require(releaseId), replayed: false }, details };
    });
  }

  /** The release of this nonce on the dataset epoch, when it asked the same; nonce_reused otherwise. */
  private replayOf(admitted: AdmittedRelease, requestHash: string): ReleaseRow | undefined {
    const row = statement(
      this.db,
      "SELECT * FROM releases WHERE dataset_id = ? AND epoch = ? AND nonce = ?",
    ).get(admitted.datasetId, admitted.epoch, admitted.nonce) as ReleaseRow | undefined;
    if (row === undefined || row.request_hash === requestHash) return row;
    throw new ConflictError(
      "nonce_reused",
      "this nonce was already used for another release of this dataset epoch",
      { details: { releaseId: row.release_id } },
    );
  }

  get(releaseId: string): ReleaseRow | undefined {
    return statement(this.db, "SELECT * FROM releases WHERE release_id = ?").get(releaseId) as
      | ReleaseRow
      | undefined;
  }

  private require(releaseId: string): ReleaseRow {
    return this.get(releaseId) as ReleaseRow;
  }

  /** Fails releases whose lease expired after their last attempt, then claims the oldest claimable one. */
  claim(owner: string, leaseMs: number, maxAttempts: number): ReleaseRow | undefined {
    return this.db.transaction(() => {
      const now = this.now();
      const expired = statement(
        this.db,
        "SELECT * FROM releases WHERE state = 'running' AND lease_until < ? AND attempts >= ?",
      ).all(now, maxAttempts) as ReleaseRow[];
      for (const row of expired) {
        this.fail(
          row,
          row.lease_owner,
          "attempts_exhausted",
          "the release failed repeatedly and was stopped",
        );
      }
      const id = scalar(
        this.db,
        `SELECT release_id FROM releases WHERE state = 'queued' OR (state = 'running' AND lease_until < ?)
           ORDER BY created_at, release_id LIMIT 1`,
      ).get(now) as string | undefined;
      if (id === undefined) return undefined;
      statement(
        this.db,
        `UPDATE releases SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?,
             passes_done = 0, updated_at = ? WHERE release_id = ?`,
      ).run(owner, now + leaseMs, now, id);
      return this.require(id);
    })();
  }

  /** Extends the lease and records passes done; false when the lease was lost. */
  heartbeat(row: ReleaseRow, owner: string, leaseMs: number, passesDone?: number): boolean {
    const now = this.now();
    return (
      statement(
        this.db,
        `UPDATE releases SET lease_until = ?, passes_done = COALESCE(?, passes_done), updated_at = ?
           WHERE release_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(now + leaseMs, passesDone ?? null, now, row.release_id, owner).changes === 1
    );
  }

  /** Puts a running release back in the queue (a transient failure); false when the lease was lost. */
  requeue(row: ReleaseRow, owner: string): boolean {
    return (
      statement(
        this.db,
        `UPDATE releases SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE release_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(this.now(), row.release_id, owner).changes === 1
    );
  }

  /** Stores the proven release, charges the reservation and audits the document hash, atomically. */
  complete(row: ReleaseRow, owner: string, result: { document: unknown; tsv: string; rows: number }): void {
    const document = canonicalJson(result.document);
    const documentHash = sha256Hex(document);
    const subject = { partner: row.admin_id, action: "admin.release.answer", requestId: row.request_id };
    this.db.transaction(() => {
      const now = this.now();
      const changed = statement(
        this.db,
        `UPDATE releases SET state = 'done', document = ?, tsv = ?, document_hash = ?, passes_done = passes_total,
             lease_owner = NULL, lease_until = NULL, updated_at = ?, finished_at = ?
           WHERE release_id = ? AND state = 'running' AND lease_owner = ?`,
      ).run(document, result.tsv, documentHash, now, now, row.release_id, owner).changes;
      if (changed !== 1) throw new LeaseLostError(row.release_id, "before completion");
      this.ledger.settle(row.release_id, "charged");
      this.audit.append(subject, "accepted", {
        releaseId: row.release_id,
        datasetId: row.dataset_id,
        epoch: row.epoch,
        nonce: row.nonce,
        requestHash: row.request_hash,
        documentHash,
        rows: result.rows,
      });
    })();
  }

  /** Fails the release for good: refunds the reservation and audits the failure (public code only). */
  fail(row: ReleaseRow, owner: string | null, code: string, message: string): void {
    this.db.transaction(() => {
      const now = this.now();
      const changed = statement(
        this.db,
        `UPDATE releases SET state = 'failed', error_code = ?, error_message = ?, lease_owner = NULL,
             lease_until = NULL, updated_at = ?, finished_at = ?
           WHERE release_id = ? AND state = 'running' AND lease_owner IS ?`,
      ).run(code, message, now, now, row.release_id, owner).changes;
      if (changed !== 1) throw new LeaseLostError(row.release_id, "before failing");
      this.ledger.settle(row.release_id, "refunded");
      this.audit.append(
        { partner: row.admin_id, action: "admin.release.answer", requestId: row.request_id },
        "failed",
        { releaseId: row.release_id, datasetId: row.dataset_id, epoch: row.epoch, code },
      );
    })();
  }
}
