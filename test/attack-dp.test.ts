/**
 * The attacks of issue 10 (point 4) against `dp` partners: the answers carry the noise of docs/privacy.md
 * (binomial-dither/v1, planned for the policy's (epsilon, delta) by `planNoise`). Queries go through the
 * service's admission path (policy, controls, the per-dataset privacy budget, audit) as in
 * attack-reconstruction.test.ts, answered by the reference evaluator plus the mechanism's noise
 * (test/helpers/{attacks,dp-noise}.ts say why, and which sampler).
 *
 * Figures (printed as `differencing (dp ...)` and `reconstruction (dp ...)` lines):
 * - differencing, count pair with and without `userId != X` under a LOOSE policy (key clauses allowed): the
 *   budget pays one pair, then refuses; over repeated trials the attacker's success at telling "X is a bot"
 *   from "X is not" stays within (e^eps + delta) / (1 + e^eps) of the answer that depends on X;
 * - the sum pair (clamped to [0, 1000]): the same bound for X's edits 0 vs 1000, and the attacker's error;
 * - reconstruction: 100 records, random subset counts until the privacy budget refuses, least squares: the
 *   bits recovered, against guessing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  admitThenAnswer,
  agreement,
  encoded,
  leastSquaresBits,
  syntheticRecords,
} from "./helpers/attacks.ts";
import { derivedShifter, dpSuccessBound, noisy, planDpNoise, sampledShift } from "./helpers/dp-noise.ts";
import { createRng } from "./helpers/random.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  nonce,
  startTestService,
  type TestService,
} from "./helpers/service.ts";

const N = 100;
const TRIALS = 4000;
const services = closedAfterAll();
let service: TestService;
const rng = createRng(20_261_202);
const rows = syntheticRecords(rng, N);
const records = encoded(rows);
const standIn = { datasetId: "dp-recon", epoch: 1 };

const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

beforeAll(async () => {
  service = await startTestService({ config: { jobs: { concurrency: 0, maxQueuedPerPartner: 10_000 } } });
  services.push(service);
  await addDataset(service, standIn.datasetId, syntheticRecords(createRng(8), 8));
});

describe("the mechanism the attacker faces", () => {
  it("the cheap sampler has the circuit derivation's distribution (mean and variance)", async () => {
    const plan = planDpNoise(1, 1e-6, 1n);
    const derived = await derivedShifter(plan, createRng(1));
    const draws = 400;
    const stats = (sample: () => bigint) => {
      const xs = Array.from({ length: draws }, () => Number(sample()));
      const mean = xs.reduce((a, b) => a + b, 0) / draws;
      return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws - 1) };
    };
    const a = stats(derived);
    const sampler = createRng(2);
    const b = stats(() => sampledShift(plan, sampler));
    const s = 2 ** plan.params.scaleBits;
    const variance = (s * s * plan.params.coins) / 4 + (s * s - 1) / 12;
    for (const observed of [a, b]) {
      expect(Math.abs(observed.mean - Number(plan.centre))).toBeLessThan(4 * Math.sqrt(variance / draws));
      expect(observed.variance / variance).toBeGreaterThan(0.75);
      expect(observed.variance / variance).toBeLessThan(1.3);
    }
  });
});

describe("differencing in dp mode", () => {
  const epsilon = 0.5;
  const delta = 1e-9;

  it("the count pair: the budget pays one pair, and the attacker's success stays within what epsilon allows", async () => {
    await addPartner(service, "dp-differ", ["queries:submit"], {
      mode: "dp",
      datasets: [standIn.datasetId],
      fields: ["userId", "bot"],
      aggregates: ["count"],
      keyClauses: "any",
      dp: { epsilon, delta },
      privacyBudget: { epsilon: 2 * epsilon, delta: 1e-6 },
    });
    const partner = service.server.ctx.partners.require("dp-differ");
    const plan = planDpNoise(epsilon, delta, 1n);
    const target = rows[0]?.userId ?? 0;
    const humans = { field: "bot", op: "eq", value: false };
    const pair = [
      { predicate: [humans], aggregate: { kind: "count" } },
      { predicate: [humans, { field: "userId", op: "neq", value: target }], aggregate: { kind: "count" } },
    ];
    const noise = (exact: bigint) => noisy(plan, exact, sampledShift(plan, rng));
    for (const query of pair) {
      expect(admitThenAnswer(service, partner, standIn, query, records, nonce(), noise).admitted).toBe(true);
    }
    const third = admitThenAnswer(service, partner, standIn, pair[0], records, nonce(), noise);
    expect(third).toEqual({ admitted: false, code: "privacy_budget_exhausted" });

    // Repeated trials: X a bot (difference 0) or not (difference 1), equally likely; guess "not a bot" when
    // the noisy difference is at least 1. A larger epsilon shows the measurement does see a leak.
    for (const eps of [epsilon, 4]) {
      const trialPlan = planDpNoise(eps, delta, 1n);
      let correct = 0;
      for (let t = 0; t < TRIALS; t++) {
        const human = rng.bool();
        const rest = 50n;
        const withX = noisy(trialPlan, rest + (human ? 1n : 0n), sampledShift(trialPlan, rng));
        const withoutX = noisy(trialPlan, rest, sampledShift(trialPlan, rng));
        if (withX - withoutX >= 1n === human) correct++;
      }
      const success = correct / TRIALS;
      const bound = dpSuccessBound(eps, trialPlan.delta);
      console.log(
        `differencing (dp, count pair, eps ${eps} per answer, ${trialPlan.params.coins} coins, scale 2^${trialPlan.params.scaleBits}): attacker right ${percent(success)} of ${TRIALS} trials; prior 50.0%, DP bound ${percent(bound)}; exact answers: 100%`,
      );
      expect(success).toBeLessThanOrEqual(bound + 3 * Math.sqrt(0.25 / TRIALS));
    }
  });

  it("the sum pair (edits clamped to [0, 1000]): X's edits 0 or 1000 told apart no better than epsilon allows", async () => {
    const clamp = 1000n;
    const plan = planDpNoise(epsilon, delta, clamp);
    await addPartner(service, "dp-summer", ["queries:submit"], {
      mode: "dp",
      datasets: [standIn.datasetId],
      fields: ["userId", "country", "edits"],
      aggregates: ["sum"],
      keyClauses: "any",
      dp: { epsilon, delta },
      privacyBudget: { epsilon: 2 * epsilon, delta: 1e-6 },
    });
    const partner = service.server.ctx.partners.require("dp-summer");
    const target = { field: "userId", op: "neq", value: rows[0]?.userId ?? 0 };
    const unclamped = { predicate: [], aggregate: { kind: "sum", field: "edits" } };
    expect(admitThenAnswer(service, partner, standIn, unclamped, records, nonce())).toEqual({
      admitted: false,
      code: "policy_denied",
    });
    const clamped = { kind: "sum", field: "edits", clamp: [0, Number(clamp)] };
    const noise = (exact: bigint) => noisy(plan, exact, sampledShift(plan, rng));
    // (A predicate matching every record would be suppressed by the group-size rule's complement.)
    const french = { field: "country", op: "eq", value: "FR" };
    for (const predicate of [[french], [french, target]]) {
      const outcome = admitThenAnswer(
        service,
        partner,
        standIn,
        { predicate, aggregate: clamped },
        records,
        nonce(),
        noise,
      );
      expect(outcome.admitted).toBe(true);
    }
    const afterPair = admitThenAnswer(
      service,
      partner,
      standIn,
      { predicate: [], aggregate: clamped },
      records,
      nonce(),
      noise,
    );
    expect(afterPair).toEqual({ admitted: false, code: "privacy_budget_exhausted" });
    let correct = 0;
    let absoluteError = 0;
    for (let t = 0; t < TRIALS; t++) {
      const edits = rng.bool() ? clamp : 0n;
      const rest = 123_456n;
      const estimate =
        noisy(plan, rest + edits, sampledShift(plan, rng)) - noisy(plan, rest, sampledShift(plan, rng));
      if (estimate >= clamp / 2n === (edits === clamp)) correct++;
      absoluteError += Math.abs(Number(estimate - edits));
    }
    const success = correct / TRIALS;
    const bound = dpSuccessBound(epsilon, plan.delta);
    console.log(
      `differencing (dp, sum pair, clamp [0, ${clamp}], eps ${epsilon}): attacker right ${percent(success)} of ${TRIALS}; DP bound ${percent(bound)}; mean error on X's edits ${Math.round(absoluteError / TRIALS)} (exact answers: 0)`,
    );
    expect(success).toBeLessThanOrEqual(bound + 3 * Math.sqrt(0.25 / TRIALS));
  });
});

describe("reconstruction in dp mode", () => {
  it("random subset counts until the privacy budget refuses: least squares recovers about what guessing does", async () => {
    const secret = rows.map((row) => row.bot);
    const guessing = Math.max(...[true, false].map((bit) => agreement(Array(N).fill(bit), secret)));
    for (const perAnswer of [0.05, 0.1]) {
      await runReconstruction(`dp-recon-${perAnswer}`, perAnswer, secret, guessing);
    }
  });
});

/** One attacker with an epsilon budget of 1 spent at `epsilon` per answer (delta never binds first). */
async function runReconstruction(clientId: string, epsilon: number, secret: boolean[], guessing: number) {
  const delta = 1e-8;
  await addPartner(service, clientId, ["queries:submit"], {
    mode: "dp",
    datasets: [standIn.datasetId],
    fields: ["userId", "bot"],
    aggregates: ["count"],
    keyClauses: "any",
    dp: { epsilon, delta },
    privacyBudget: { epsilon: 1, delta: 1e-5 },
    budget: { queries: 1000, periodSeconds: 86_400 },
  });
  const partner = service.server.ctx.partners.require(clientId);
  const plan = planDpNoise(epsilon, delta, 1n);
  const system: number[][] = [];
  const answers: number[] = [];
  let refusal: string | undefined;
  while (system.length < 1000) {
    const chosen = new Set(rng.shuffle(rows.map((_, i) => i)).slice(0, 50));
    const query = {
      predicate: [
        { field: "bot", op: "eq", value: true },
        { field: "userId", op: "in", value: [...chosen].map((i) => rows[i]?.userId) },
      ],
      aggregate: { kind: "count" },
    };
    const outcome = admitThenAnswer(service, partner, standIn, query, records, nonce(), (exact) =>
      noisy(plan, exact, sampledShift(plan, rng)),
    );
    if (!outcome.admitted) {
      refusal = outcome.code;
      break;
    }
    system.push(rows.map((_, i) => (chosen.has(i) ? 1 : 0)));
    answers.push(Number(outcome.answer));
  }
  const recovered = agreement(leastSquaresBits(system, answers, N), secret);
  console.log(
    `reconstruction (dp, budget eps 1, eps ${epsilon} per answer): ${percent(recovered)} of bits recovered after ${system.length} answers (then ${refusal}); guessing ${percent(guessing)}`,
  );
  expect(refusal).toBe("privacy_budget_exhausted");
  expect(system.length).toBe(Math.round(1 / epsilon));
  expect(Math.abs(recovered - guessing)).toBeLessThanOrEqual(0.15);
}
