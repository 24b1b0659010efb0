/**
 * The reconstruction attack of issue 10 (point 4): 100 synthetic records with a secret bit (`bot`), random
 * subset counts count(bot = true AND userId in S) with |S| = 50, least squares, bits rounded at 1/2.
 * Every query goes through the service's admission path (policy, structural controls, budget, audit) on a
 * real service database; answers come from the reference evaluator, because the service's test circuit
 * (8 slots, sets of 3 values) cannot hold 100 records or a 50-value subset clause, so none of these answers
 * is proven (test/helpers/attacks.ts says why that is the same answer a proof would carry).
 *
 * Figures (printed as `reconstruction (...)` lines):
 * - exact mode, loose policy (keyClauses any, minimum group size 10, the default budget of 100 queries a
 *   day): the bits recovered after 20, 40, 60, 80 and 100 answers, and whether the budget stops the attack;
 * - exact mode, the default structural controls: every subset query is refused, nothing is learnt.
 * The dp figure is in attack-dp.test.ts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  admitThenAnswer,
  agreement,
  encoded,
  leastSquaresBits,
  syntheticRecords,
} from "./helpers/attacks.ts";
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
const SUBSET = 50;
const services = closedAfterAll();
let service: TestService;
const rng = createRng(20_261_201);
const rows = syntheticRecords(rng, N);
const records = encoded(rows);
const secret = rows.map((row) => row.bot);
const standIn = { datasetId: "recon", epoch: 1 };

/** A random subset of SUBSET user ids, as the 0/1 row of the least-squares system and the query. */
function randomSubset() {
  const chosen = new Set(rng.shuffle(rows.map((_, i) => i)).slice(0, SUBSET));
  const query = {
    predicate: [
      { field: "bot", op: "eq", value: true },
      { field: "userId", op: "in", value: [...chosen].map((i) => rows[i]?.userId) },
    ],
    aggregate: { kind: "count" },
  };
  return { row: rows.map((_, i) => (chosen.has(i) ? 1 : 0)), query };
}

/** Runs the attack for a partner until a refusal or `maxQueries`; bits recovered at each checkpoint. */
function attack(clientId: string, maxQueries: number, checkpoints: readonly number[]) {
  const partner = service.server.ctx.partners.require(clientId);
  const system: number[][] = [];
  const answers: number[] = [];
  const recovered: Record<number, number> = {};
  let refusal: string | undefined;
  while (system.length < maxQueries) {
    const { row, query } = randomSubset();
    const outcome = admitThenAnswer(service, partner, standIn, query, records, nonce());
    if (!outcome.admitted) {
      refusal = outcome.code;
      break;
    }
    system.push(row);
    answers.push(Number(outcome.answer));
    if (checkpoints.includes(system.length)) {
      recovered[system.length] = agreement(leastSquaresBits(system, answers, N), secret);
    }
  }
  return { answered: system.length, refusal, recovered };
}

beforeAll(async () => {
  service = await startTestService({ config: { jobs: { concurrency: 0, maxQueuedPerPartner: 10_000 } } });
  services.push(service);
  // The stand-in the jobs point at: same schema, 8 records (the public manifest admission reads).
  await addDataset(service, standIn.datasetId, syntheticRecords(createRng(7), 8));
});

describe("reconstruction in exact mode", () => {
  it("a loose policy with the default budget: the attack recovers the secret bits within one day's budget", async () => {
    await addPartner(service, "reconstructor", ["queries:submit"], {
      datasets: [standIn.datasetId],
      fields: ["userId", "bot"],
      keyClauses: "any",
      minGroupSize: 10,
    });
    const checkpoints = Array.from({ length: 10 }, (_, i) => 10 * (i + 1));
    const result = attack("reconstructor", 1000, checkpoints);
    const figures = [20, 40, 60, 80, 100]
      .map((q) => `${q}: ${((result.recovered[q] ?? 0) * 100).toFixed(0)}%`)
      .join(", ");
    const needed = (fraction: number) => checkpoints.find((q) => (result.recovered[q] ?? 0) >= fraction);
    console.log(
      `reconstruction (exact, loose policy, g = 10, budget 100/day): bits recovered after ${figures}; >= 95% after ${needed(0.95)} answers, 100% after ${needed(1)}; refused after ${result.answered} answers (${result.refusal})`,
    );
    // The default budget (100 a day) is what stops the partner, and only after the secret is out.
    expect(result.answered).toBe(100);
    expect(result.refusal).toBe("budget_exhausted");
    expect(result.recovered[100]).toBeGreaterThanOrEqual(0.95);
    const guessing = Math.max(...[true, false].map((bit) => agreement(Array(N).fill(bit), secret)));
    expect(result.recovered[100]).toBeGreaterThan(guessing + 0.3);
  });

  it("the default structural controls refuse every subset query (no clause on the key field)", async () => {
    await addPartner(service, "controlled", ["queries:submit"], {
      datasets: [standIn.datasetId],
      fields: ["userId", "bot"],
      minGroupSize: 10,
    });
    const result = attack("controlled", 100, []);
    console.log(
      `reconstruction (exact, structural controls): ${result.answered} answers, refused with ${result.refusal}`,
    );
    expect(result.answered).toBe(0);
    expect(result.refusal).toBe("policy_denied");
  });
});
