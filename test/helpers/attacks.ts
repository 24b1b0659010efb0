/**
 * @module test/helpers/attacks
 *
 * The pieces of the attack tests (issue 10, point 4): synthetic records with a secret bit, the least-squares
 * reconstruction of Dinur and Nissim (2003) from subset counts, and `admitThenAnswer`, which puts one query
 * through the service's admission path and answers it with the reference evaluator.
 *
 * Why the evaluator: the reconstruction needs about 100 records and subset clauses of ~50 values, which the
 * service's test circuit (8 slots, sets of 3) cannot hold. Everything the admission decides (policy, structural
 * controls, required clauses, the sliding-window and privacy budgets, the audit entry) runs the service's own
 * code on its database (`checkQueryAgainstPolicy`, `withRequiredClauses`, `JobStore.submit`); only the answer
 * comes from `evaluateQuery`, which the prover refuses to contradict (prove-query.ts). The dataset the jobs
 * point at is a registered stand-in with the same schema (its manifest is the public state admission reads).
 */

import { encodeValue, parseSchema } from "../../src/dataset/schema.ts";
import { canonicalQuery, queryHash } from "../../src/query/canonical.ts";
import { evaluateQuery } from "../../src/query/evaluate.ts";
import { chargeFor } from "../../src/service/budgets.ts";
import type { Partner } from "../../src/service/partners.ts";
import {
  checkQueryAgainstPolicy,
  dominanceShareFor,
  minGroupSizeFor,
  withRequiredClauses,
} from "../../src/service/policy.ts";
import { canonicalJson } from "../../src/util/canonical-json.ts";
import type { Rng } from "./random.ts";
import type { Row } from "./service.ts";
import { SERVICE_SCHEMA, type TestService } from "./service.ts";

export const SCHEMA = parseSchema(SERVICE_SCHEMA);

/** n records with distinct user ids 1000 + i, random countries and edits; `bot` is the secret bit. */
export function syntheticRecords(rng: Rng, n: number): Row[] {
  const countries = ["FR", "DE", "US", "JP"] as const;
  return Array.from({ length: n }, (_, i) => ({
    userId: 1000 + i,
    country: rng.pick(countries),
    edits: rng.int(0, 65_535),
    bot: rng.bool(0.5),
  }));
}

/** The records in the schema's encoding (what the evaluator reads). */
export function encoded(rows: readonly Row[]): bigint[][] {
  return rows.map((row) =>
    SCHEMA.fields.map((spec) => encodeValue(spec, row[spec.name as keyof Row] as unknown)),
  );
}

export type Outcome =
  | { readonly admitted: true; readonly answer: bigint }
  | { readonly admitted: false; readonly code: string };

/**
 * One query through the service's admission (policy, controls, required clauses, budgets, audit) for
 * `partner`, answered by the reference evaluator over `records` under the policy's group size; a refusal
 * returns its code, a suppressed answer (group size or dominance rule) `suppressed`. `noise` (dp mode) adds the mechanism's noise to the exact answer.
 */
export function admitThenAnswer(
  service: TestService,
  partner: Partner,
  standIn: { readonly datasetId: string; readonly epoch: number },
  query: unknown,
  records: readonly (readonly bigint[])[],
  nonce: string,
  noise?: (exact: bigint) => bigint,
): Outcome {
  const { ctx } = service.server;
  let proven: ReturnType<typeof canonicalQuery>;
  try {
    const asked = canonicalQuery(query, SCHEMA);
    checkQueryAgainstPolicy(asked, SCHEMA, partner.policy);
    proven = withRequiredClauses(asked, SCHEMA, partner.policy);
    ctx.jobs.submit(
      { partner: partner.clientId, action: "query.submit", requestId: crypto.randomUUID() },
      partner,
      {
        datasetId: standIn.datasetId,
        epoch: standIn.epoch,
        circuitId: ctx.circuit.id,
        query: canonicalJson(proven),
        queryHash: queryHash(proven, SCHEMA),
        nonce,
        minGroupSize: minGroupSizeFor(proven, partner.policy),
        dominanceShare: dominanceShareFor(proven, partner.policy),
        charge: chargeFor(partner.policy, standIn.datasetId),
      },
    );
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== "string") throw error;
    return { admitted: false, code };
  }
  const result = evaluateQuery(proven, SCHEMA, records, {
    minGroupSize: minGroupSizeFor(proven, partner.policy),
    dominanceShare: dominanceShareFor(proven, partner.policy),
  });
  if (result.suppressed) return { admitted: false, code: "suppressed" };
  const exact = result.answer as bigint;
  return { admitted: true, answer: noise === undefined ? exact : noise(exact) };
}

/**
 * Least squares with a small ridge towards 1/2 (so fewer queries than unknowns still has one solution):
 * x = argmin |A x - b|^2 + lambda |x - 1/2|^2, by Gaussian elimination; bits are x rounded at 1/2.
 */
export function leastSquaresBits(
  rows: readonly (readonly number[])[],
  answers: readonly number[],
  n: number,
  lambda = 1e-3,
): boolean[] {
  const m: number[][] = Array.from({ length: n }, (_, i) => {
    const row = new Array<number>(n + 1).fill(0);
    row[i] = lambda;
    row[n] = lambda / 2;
    return row;
  });
  rows.forEach((a, q) => {
    const b = answers[q] as number;
    for (let i = 0; i < n; i++) {
      const ai = a[i] as number;
      if (ai === 0) continue;
      const target = m[i] as number[];
      for (let j = 0; j < n; j++) target[j] = (target[j] as number) + ai * (a[j] as number);
      target[n] = (target[n] as number) + ai * b;
    }
  });
  return solve(m, n).map((x) => x > 0.5);
}

/** Solves the n x (n+1) augmented system in place (partial pivoting). */
function solve(m: number[][], n: number): number[] {
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++)
      if (Math.abs(m[r]?.[col] as number) > Math.abs(m[pivot]?.[col] as number)) pivot = r;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    const p = m[col] as number[];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = m[r] as number[];
      const factor = (row[col] as number) / (p[col] as number);
      if (factor === 0) continue;
      for (let j = col; j <= n; j++) row[j] = (row[j] as number) - factor * (p[j] as number);
    }
  }
  return m.map((row, i) => (row[n] as number) / (row[i] as number));
}

/** Fraction of `guess` equal to `truth`. */
export function agreement(guess: readonly boolean[], truth: readonly boolean[]): number {
  return guess.filter((bit, i) => bit === truth[i]).length / truth.length;
}
