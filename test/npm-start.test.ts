/**
 * @module test/npm-start
 *
 * `npm start`'s main job (src/cli/start.ts) headless on a small instance: 40 synthetic geoeditors in chunks
 * of 16 (a 3-chunk chain), committed by the service, asked and verified over HTTP by an exact and a dp
 * partner. Every verified answer must equal the reference evaluator's (exact answers with the bundle's
 * minimum group size, suppression included; the histogram pass equal to evaluatePass's cells; the noisy
 * count equal to the reference count plus the twin's noise from the sealed seed), and every statement must be
 * the SDK's.
 * Keys are cached in build/test-npm-start (minutes on a cold build cache, seconds after).
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type MainJobResult, runMainJob, START_DATASET } from "../src/cli/start.ts";
import { readableAnswer } from "../src/prover/prove-query.ts";
import { evaluateQuery } from "../src/query/evaluate.ts";
import type { PassQuery } from "../src/query/pass.ts";
import { evaluatePass } from "../src/query/pass-evaluate.ts";
import { buildRoot } from "../src/setup/paths.ts";
import { terminateCurveWorkers } from "../src/setup/ptau.ts";
import type { DpChainBundle } from "../src/verifier/index.ts";
import { passAnswerOf } from "../src/verifier/pass-bundle.ts";
import { twinNoisy } from "./helpers/dp-noise.ts";

let result: MainJobResult | undefined;
const lines: string[] = [];

afterAll(async () => {
  await result?.server.close();
  await terminateCurveWorkers();
});

describe("npm start's main job", () => {
  it("asks and verifies a count, a histogram, a suppressed group and a noisy count over HTTP", async () => {
    result = await runMainJob({
      records: 40,
      chunkSize: 16,
      treeDepth: 1,
      ptauPower: 14,
      noise: { maxCoins: 512, maxScaleBits: 8 },
      cacheDir: join(buildRoot(), "test-npm-start"),
      write: (line) => lines.push(line),
    });
    const { answers, schema, records } = result;
    expect(answers.map((a) => a.label)).toEqual(["count", "small group", "noisy count"]);
    for (const answer of answers.slice(0, -1)) {
      expect(answer.kind).toBe("chain");
      const reference = evaluateQuery(answer.query, schema, records, {
        minGroupSize: answer.bundle.minGroupSize,
      });
      const value = typeof reference.answer === "boolean" ? BigInt(reference.answer) : reference.answer;
      expect(answer.bundle.answer, answer.label).toEqual(
        readableAnswer("count", reference.suppressed ? 1n : 0n, value),
      );
      expect(lines.join("\n")).toContain(`  VERIFIED ${answer.statement}\n  bundle: `);
    }
    expect(answers[0]?.statement).toContain("registered ≥ 2015-01-01");
    expect(answers[1]?.bundle.answer).toMatchObject({ suppressed: true });
    const [histogram] = result.passes;
    expect(histogram?.label).toBe("histogram");
    const queries = histogram?.bundle.queries as PassQuery[];
    const reference = evaluatePass(queries, schema, records, histogram?.bundle.minGroupSize as number);
    expect(histogram?.answers).toEqual(
      queries.map((query, q) => passAnswerOf(query, reference[q] as (typeof reference)[number], schema)),
    );
    expect(histogram?.statements[0]).toContain("per activity");
    const noisy = answers[2] as MainJobResult["answers"][number];
    expect(noisy.kind).toBe("dp-chain");
    const bundle = noisy.bundle as unknown as DpChainBundle;
    const twin = await twinNoisy(result.server.ctx, START_DATASET, bundle, noisy.query, schema, records);
    expect(bundle.answer.noisy).toBe(twin);
    expect(lines.join("\n")).toContain(`committed ${START_DATASET} epoch 1: 40 records`);
  }, 1_500_000);
});
