/**
 * @module service/budgets
 *
 * A partner's budgets, counted from one table, the budget ledger (one row per admitted job: reserved at
 * admission, charged with the answer, refunded with a failure):
 *
 * - **Query budget** (every partner): at most `budget.queries` queries admitted in ANY window of
 *   `budget.periodSeconds`, a sliding window ending now; a pass job of Q queries counts Q (its row's
 *   `queries`), reserved all together or refused. A fixed window aligned to the clock would let a
 *   partner spend its budget just before a boundary and again just after it (2x in a moment); the sliding
 *   window counts both.
 * - **Privacy budget** (`dp` partners): per dataset, the (epsilon, delta) of every reserved or charged answer
 *   on ANY epoch of the dataset adds up (sequential composition, Dwork and Roth 2014, Theorem 3.16: k answers
 *   that are (eps_i, delta_i)-DP are (sum eps_i, sum delta_i)-DP together). Epochs compose sequentially,
 *   not in parallel, because the same people are in many epochs. Without `privacyBudget.windowSeconds` the
 *   budget is for the partner's lifetime; with it, charges older than the window stop counting (a renewing
 *   budget: documented in docs/privacy.md as weaker than a lifetime one).
 *
 * Amounts are integers (epsilon in millionths, delta in 10^-15), so sums never drift. Reservations run
 * inside the admission transaction (SQLite serialises writers), so concurrent requests cannot overspend.
 * An admin reset (audited by admin.ts) records the highest ledger row at that moment; earlier rows stop
 * counting for both budgets. Everything here reads the partner's own ledger (public state), never data.
 */
import { LimitError } from "../util/errors.ts";
import { type Db, statement } from "./db.ts";
import type { Partner } from "./partners.ts";
import type { Policy } from "./policy.ts";

/** Fixed-point scales of the stored amounts. */
export const EPSILON_SCALE = 1_000_000;
export const DELTA_SCALE = 1_000_000_000_000_000;

/**
 * What one admission costs: its number of queries (1, or the Q queries of a pass); for dp partners also
 * (epsilon, delta) on a dataset.
 */
export interface Charge {
  readonly datasetId: string;
  readonly queries: number;
  readonly epsilon: number;
  readonly delta: number;
}

export interface PrivacyStanding {
  readonly epsilon: number;
  readonly delta: number;
  readonly spentEpsilon: number;
  readonly spentDelta: number;
  readonly windowSeconds?: number;
}

export interface QueryStanding {
  readonly queries: number;
  readonly used: number;
  readonly windowStart: number;
  /** When the oldest counted admission leaves the window (undefined when none counts). */
  readonly nextReleaseAt?: number;
}

export const toMicros = (epsilon: number) => Math.round(epsilon * EPSILON_SCALE);
export const toDeltaUnits = (delta: number) => Math.round(delta * DELTA_SCALE);

/** What an admission of `queries` queries on `datasetId` costs under `policy` ((epsilon, delta) zero outside dp mode). */
export function chargeFor(policy: Policy, datasetId: string, queries = 1): Charge {
  if (policy.mode !== "dp" || policy.dp === undefined) return { datasetId, queries, epsilon: 0, delta: 0 };
  // Each query is one noisy answer at the policy's (epsilon, delta): k of them compose sequentially (a dp
  // pass of k histograms costs k times; a histogram's own cells are disjoint and cost once: docs/privacy.md).
  // (The ledger stores fixed-point amounts, so the float product's last bit never drifts a sum.)
  return { datasetId, queries, epsilon: policy.dp.epsilon * queries, delta: policy.dp.delta * queries };
}

export class BudgetLedger {
  constructor(private readonly db: Db) {}

  /**
   * Takes the charge's queries (all or none) and its epsilon, delta from the partner's budgets for `jobId`,
   * or throws `LimitError` (budget_exhausted, privacy_budget_exhausted). Must run inside the admission
   * transaction.
   */
  reserve(partner: Partner, jobId: string, charge: Charge, now: number): void {
    this.checkQueries(partner, charge.queries, now);
    this.checkPrivacy(partner, charge, now);
    statement(
      this.db,
      `INSERT INTO budget_ledger (job_id, partner_id, period_start, state, updated_at, reserved_at, dataset_id,
           epsilon_micros, delta_units, queries)
         VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?, ?, ?)`,
    ).run(
      jobId,
      partner.clientId,
      now,
      now,
      now,
      charge.datasetId,
      toMicros(charge.epsilon),
      toDeltaUnits(charge.delta),
      charge.queries,
    );
  }

  /** Turns the job's reservation into a charge; false when it was not reserved. */
  charge(jobId: string, now: number): boolean {
    return (
      statement(
        this.db,
        "UPDATE budget_ledger SET state = 'charged', updated_at = ? WHERE job_id = ? AND state = 'reserved'",
      ).run(now, jobId).changes === 1
    );
  }

  /** Gives a failed job's reservation back (nothing was released, so nothing was spent). */
  refund(jobId: string, now: number): void {
    statement(
      this.db,
      "UPDATE budget_ledger SET state = 'refunded', updated_at = ? WHERE job_id = ? AND state = 'reserved'",
    ).run(now, jobId);
  }

  /** The query budget's standing at `now` (sliding window ending at `now`). */
  queries(partner: Partner, now: number): QueryStanding {
    const { queries, periodSeconds } = partner.policy.budget;
    const windowStart = now - periodSeconds * 1000;
    const row = statement(
      this.db,
      `SELECT COALESCE(SUM(queries), 0) AS used, MIN(reserved_at) AS oldest FROM budget_ledger
         WHERE partner_id = ? AND state IN ('reserved', 'charged') AND reserved_at > ? AND rowid > ?`,
    ).get(partner.clientId, windowStart, this.resetMark(partner.clientId)) as {
      used: number;
      oldest: number | null;
    };
    return {
      queries,
      used: row.used,
      windowStart,
      ...(row.oldest === null ? {} : { nextReleaseAt: row.oldest + periodSeconds * 1000 }),
    };
  }

  /** The privacy budget's standing on `datasetId` (all epochs) at `now`; undefined outside dp mode. */
  privacy(partner: Partner, datasetId: string, now: number): PrivacyStanding | undefined {
    const budget = partner.policy.mode === "dp" ? partner.policy.privacyBudget : undefined;
    if (budget === undefined) return undefined;
    const windowStart = budget.windowSeconds === undefined ? -1 : now - budget.windowSeconds * 1000;
    const row = statement(
      this.db,
      `SELECT COALESCE(SUM(epsilon_micros), 0) AS eps, COALESCE(SUM(delta_units), 0) AS delta FROM budget_ledger
         WHERE partner_id = ? AND dataset_id = ? AND state IN ('reserved', 'charged') AND reserved_at > ?
           AND rowid > ?`,
    ).get(partner.clientId, datasetId, windowStart, this.resetMark(partner.clientId)) as {
      eps: number;
      delta: number;
    };
    return {
      epsilon: budget.epsilon,
      delta: budget.delta,
      spentEpsilon: row.eps / EPSILON_SCALE,
      spentDelta: row.delta / DELTA_SCALE,
      ...(budget.windowSeconds === undefined ? {} : { windowSeconds: budget.windowSeconds }),
    };
  }

  /**
   * Admin reset: every ledger row so far stops counting for both budgets. Returns how many admissions were
   * counted in the query window just before.
   */
  reset(partner: Partner, now: number): number {
    const before = this.queries(partner, now).used;
    const mark = statement(this.db, "SELECT COALESCE(MAX(rowid), 0) AS mark FROM budget_ledger").get() as {
      mark: number;
    };
    statement(
      this.db,
      `INSERT INTO budget_resets (partner_id, after_rowid, reset_at) VALUES (?, ?, ?)
         ON CONFLICT (partner_id) DO UPDATE SET after_rowid = excluded.after_rowid, reset_at = excluded.reset_at`,
    ).run(partner.clientId, mark.mark, now);
    return before;
  }

  private resetMark(partnerId: string): number {
    const row = statement(this.db, "SELECT after_rowid FROM budget_resets WHERE partner_id = ?").get(
      partnerId,
    ) as { after_rowid: number } | undefined;
    return row?.after_rowid ?? 0;
  }

  private checkQueries(partner: Partner, asked: number, now: number): void {
    const standing = this.queries(partner, now);
    if (standing.used + asked <= standing.queries) return;
    const { queries, periodSeconds } = partner.policy.budget;
    const left = Math.max(0, standing.queries - standing.used);
    // A budget of 0 never frees up by itself: no time is promised (and the refusal stays the same each time).
    const freeAt = standing.nextReleaseAt;
    throw new LimitError(
      "budget_exhausted",
      asked === 1 || left === 0
        ? `query budget of ${queries} per ${periodSeconds} s (sliding window) is used up`
        : `query budget of ${queries} per ${periodSeconds} s (sliding window) has ${left} left; this request asks ${asked} queries (each query of a batch counts)`,
      {
        retryAfterSeconds:
          freeAt === undefined ? periodSeconds : Math.max(1, Math.ceil((freeAt - now) / 1000)),
        details: {
          budget: {
            queries,
            periodSeconds,
            ...(freeAt === undefined ? {} : { resetsAt: new Date(freeAt).toISOString() }),
          },
        },
      },
    );
  }

  private checkPrivacy(partner: Partner, charge: Charge, now: number): void {
    const standing = this.privacy(partner, charge.datasetId, now);
    if (standing === undefined) return;
    const epsilonAfter = toMicros(standing.spentEpsilon) + toMicros(charge.epsilon);
    const deltaAfter = toDeltaUnits(standing.spentDelta) + toDeltaUnits(charge.delta);
    if (epsilonAfter <= toMicros(standing.epsilon) && deltaAfter <= toDeltaUnits(standing.delta)) return;
    throw new LimitError(
      "privacy_budget_exhausted",
      `privacy budget (epsilon ${standing.epsilon}, delta ${standing.delta}) on dataset ${charge.datasetId} cannot pay epsilon ${charge.epsilon}, delta ${charge.delta}`,
      {
        ...(standing.windowSeconds === undefined ? {} : { retryAfterSeconds: standing.windowSeconds }),
        details: { privacyBudget: privacyView(standing) },
      },
    );
  }
}

/** The privacy standing as the partner sees it (GET /v1/budget, refusals). */
export function privacyView(standing: PrivacyStanding) {
  return {
    epsilon: standing.epsilon,
    delta: standing.delta,
    spentEpsilon: standing.spentEpsilon,
    spentDelta: standing.spentDelta,
    remainingEpsilon: Math.max(
      0,
      (toMicros(standing.epsilon) - toMicros(standing.spentEpsilon)) / EPSILON_SCALE,
    ),
    remainingDelta: Math.max(
      0,
      (toDeltaUnits(standing.delta) - toDeltaUnits(standing.spentDelta)) / DELTA_SCALE,
    ),
    ...(standing.windowSeconds === undefined ? {} : { windowSeconds: standing.windowSeconds }),
  };
}
