/**
 * @module service/release-budget
 *
 * The operator's release budget (docs/privacy.md "Releases", "Release budget"): per dataset epoch, an
 * (epsilon, delta) that every person's loss from the releases of that epoch must stay within. A release is
 * (epsilon_t, delta_t)-DP for a record whose country is in tier t (the cells of a table are disjoint and a
 * record is in one cell of one table: parallel composition), so releases compose sequentially PER COUNTRY:
 * the ledger holds one row per (release, country) with its tier's (epsilon, delta), and a release is admitted
 * only when, for every country, the sum over the epoch's reserved and charged releases plus this one stays
 * within the budget (Dwork and Roth 2014, Theorems 3.14 and 3.16). Keeping countries, not tier names, makes
 * the rule hold when two releases name their tiers differently.
 *
 * Rows are reserved at admission (inside the admission transaction: SQLite serialises writers, so concurrent
 * releases cannot overspend), charged when the release is stored, refunded when it fails (nothing was
 * published). Amounts are fixed point (budgets.ts scales). Everything here reads the ledger (public state)
 * and the request, never the records.
 */
import { LimitError } from "../util/errors.ts";
import { DELTA_SCALE, EPSILON_SCALE, toDeltaUnits, toMicros } from "./budgets.ts";
import { type Db, statement } from "./db.ts";

/** The budget of one dataset epoch (config `release.budget`). */
export interface ReleaseBudget {
  readonly epsilon: number;
  readonly delta: number;
}

/** What a release costs in one tier: the tier's (epsilon, delta), paid by each of its countries. */
export interface TierCharge {
  readonly tier: string;
  readonly epsilon: number;
  readonly delta: number;
  readonly countries: readonly string[];
}

/** A tier's standing: its most-spent country's totals and what is left of the budget after them. */
export interface TierStanding {
  readonly tier: string;
  readonly spentEpsilon: number;
  readonly spentDelta: number;
  readonly remainingEpsilon: number;
  readonly remainingDelta: number;
}

interface Spent {
  readonly eps: number;
  readonly delta: number;
}

export class ReleaseLedger {
  constructor(private readonly db: Db) {}

  /** Fixed-point totals per country of the epoch's reserved and charged releases. */
  private spent(datasetId: string, epoch: number): Map<string, Spent> {
    const rows = statement(
      this.db,
      `SELECT country, SUM(epsilon_micros) AS eps, SUM(delta_units) AS delta FROM release_charges
         WHERE dataset_id = ? AND epoch = ? AND state IN ('reserved', 'charged') GROUP BY country`,
    ).all(datasetId, epoch) as { country: string; eps: number; delta: number }[];
    return new Map(rows.map((row) => [row.country, { eps: row.eps, delta: row.delta }]));
  }

  /** Every tier's standing on the epoch (before `charges` are paid). */
  standing(
    datasetId: string,
    epoch: number,
    budget: ReleaseBudget,
    charges: readonly TierCharge[],
  ): TierStanding[] {
    const spent = this.spent(datasetId, epoch);
    return charges.map((charge) => {
      const worst = charge.countries
        .map((country) => spent.get(country) ?? { eps: 0, delta: 0 })
        .reduce((a, b) => ({ eps: Math.max(a.eps, b.eps), delta: Math.max(a.delta, b.delta) }), {
          eps: 0,
          delta: 0,
        });
      return {
        tier: charge.tier,
        spentEpsilon: worst.eps / EPSILON_SCALE,
        spentDelta: worst.delta / DELTA_SCALE,
        remainingEpsilon: Math.max(0, toMicros(budget.epsilon) - worst.eps) / EPSILON_SCALE,
        remainingDelta: Math.max(0, toDeltaUnits(budget.delta) - worst.delta) / DELTA_SCALE,
      };
    });
  }

  /**
   * Reserves every country's charge for `releaseId`, or throws `LimitError` (release_budget_exhausted) with
   * every tier's remaining budget when one country would overspend. Must run inside the admission transaction.
   */
  reserve(
    release: { readonly releaseId: string; readonly datasetId: string; readonly epoch: number },
    charges: readonly TierCharge[],
    budget: ReleaseBudget,
  ): TierStanding[] {
    const standing = this.standing(release.datasetId, release.epoch, budget, charges);
    const over = charges.filter(
      (charge, t) =>
        toMicros(charge.epsilon) > toMicros(standing[t]?.remainingEpsilon ?? 0) ||
        toDeltaUnits(charge.delta) > toDeltaUnits(standing[t]?.remainingDelta ?? 0),
    );
    if (over.length > 0) {
      throw new LimitError(
        "release_budget_exhausted",
        `the release budget (epsilon ${budget.epsilon}, delta ${budget.delta}) of dataset ${release.datasetId} epoch ${release.epoch} cannot pay tier(s) ${over.map((c) => `${c.tier} (${c.epsilon}, ${c.delta})`).join(", ")}; nothing was charged`,
        {
          details: {
            releaseBudget: { epsilon: budget.epsilon, delta: budget.delta, tiers: standing },
          },
        },
      );
    }
    const insert = statement(
      this.db,
      `INSERT INTO release_charges (release_id, country, tier, dataset_id, epoch, epsilon_micros, delta_units, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved')`,
    );
    for (const charge of charges) {
      for (const country of charge.countries) {
        insert.run(
          release.releaseId,
          country,
          charge.tier,
          release.datasetId,
          release.epoch,
          toMicros(charge.epsilon),
          toDeltaUnits(charge.delta),
        );
      }
    }
    return this.standing(release.datasetId, release.epoch, budget, charges);
  }

  /** Turns the release's reservation into a charge (`charged`) or gives it back (`refunded`). */
  settle(releaseId: string, state: "charged" | "refunded"): number {
    return statement(
      this.db,
      "UPDATE release_charges SET state = ? WHERE release_id = ? AND state = 'reserved'",
    ).run(state, releaseId).changes;
  }
}
