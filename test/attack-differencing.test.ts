/**
 * The differencing attack of issue 10 (point 4), through the real service, admission path and proofs
 * (TEST_SHAPE, the 6 records of ROWS_A, minimum group size 2): every answer the attacker uses is a bundle the
 * SDK verifies.
 * - Against a loose `exact` policy (clauses on the key field allowed), count(FR AND bot = false) with and
 *   without `userId != X` tells whether X is a bot, and the same pair as sums gives X's exact edit count:
 *   the attack succeeds although every answer is over a group of at least 2.
 * - The structural controls refuse it: no clause on the key field except membership, and a minimum range
 *   width (both sides) on `edits`, so `edits != v` cannot take its place.
 * - What they cannot prevent (docs/privacy.md): two wide ranges that differ by one value, each allowed by the
 *   minimum width on both sides, isolate the record with that value (an attacker who knows X's edit count
 *   learns X's bot bit).
 * - Sums: one record can make most of an answered sum (here the US record, 56% of sum(edits | country !=
 *   FR)); under the policy's dominance share (50) that sum comes back as a proven "suppressed", admitted and
 *   verified like any answer (suppression is in the proof, not a refusal).
 * The dp side (the attacker's estimate under noise) is measured in attack-differencing-dp.test.ts.
 */

import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { verify } from "../src/verifier/verify-bundle.ts";
import { TEST_KEYS_DIR } from "./helpers/keys.ts";
import {
  addDataset,
  addPartner,
  closedAfterAll,
  nonce,
  ROWS_A,
  startTestService,
  type TestService,
  token,
  waitForJob,
} from "./helpers/service.ts";

const SCOPES = ["datasets:read", "queries:submit"];
const FIELDS = ["userId", "country", "edits", "bot"];
const services = closedAfterAll();
let service: TestService;
let keys: Record<string, unknown>;
const keysManifest = JSON.parse(readFileSync(path.join(TEST_KEYS_DIR, "manifest.json"), "utf8"));

const BOT = ROWS_A.find((row) => row.bot && row.country === "FR");
const HUMAN = ROWS_A.find((row) => !row.bot && row.country === "FR");

type Clause = { field: string; op: string; value: unknown };
const FR_HUMANS: Clause[] = [
  { field: "country", op: "eq", value: "FR" },
  { field: "bot", op: "eq", value: false },
];
const without = (userId: number): Clause => ({ field: "userId", op: "neq", value: userId });

function submit(accessToken: string, predicate: Clause[], aggregate: Record<string, unknown>) {
  return service.api("POST", "/v1/queries", {
    token: accessToken,
    body: { datasetId: "ds-a", query: { predicate, aggregate }, nonce: nonce() },
  });
}

/** Submits, waits, verifies the bundle with the SDK and returns it with the verification result. */
async function provenBundle(accessToken: string, predicate: Clause[], aggregate: Record<string, unknown>) {
  const submitted = await submit(accessToken, predicate, aggregate);
  expect(submitted.status, submitted.text).toBe(202);
  const job = await waitForJob(service, accessToken, submitted.json.jobId);
  expect(job.state, JSON.stringify(job)).toBe("done");
  const bundle = (await service.api("GET", `/v1/jobs/${job.jobId}/bundle`, { token: accessToken })).json;
  const result = verify(bundle, {
    keys,
    keysManifest,
    operatorKey: service.server.ctx.operatorKey,
    allowInsecureKeys: true,
  });
  expect(result.valid, JSON.stringify(result)).toBe(true);
  return { bundle, result };
}

/** Submits, waits, verifies the bundle with the SDK and returns its (unsuppressed) answer. */
async function provenAnswer(accessToken: string, predicate: Clause[], aggregate: Record<string, unknown>) {
  const { bundle } = await provenBundle(accessToken, predicate, aggregate);
  expect(bundle.answer.suppressed).toBe(false);
  return BigInt(bundle.answer.value);
}

beforeAll(async () => {
  if (!BOT || !HUMAN) throw new Error("ROWS_A needs a French bot and a French human");
  service = await startTestService();
  services.push(service);
  await addDataset(service, "ds-a", ROWS_A);
  keys = { [service.server.ctx.circuit.id]: service.server.ctx.circuit.vkey };
});

describe("differencing against a loose exact policy", () => {
  let accessToken: string;
  beforeAll(async () => {
    const loose = await addPartner(service, "loose", SCOPES, {
      datasets: ["ds-a"],
      fields: FIELDS,
      aggregates: ["count", "sum"],
      keyClauses: "any",
      minGroupSize: 2,
    });
    accessToken = await token(service, loose);
  });

  it("a count pair with and without userId != X tells whether X is a bot", async () => {
    const all = await provenAnswer(accessToken, FR_HUMANS, { kind: "count" });
    const guesses: Record<string, boolean> = {};
    for (const target of [BOT, HUMAN]) {
      if (!target) continue;
      const rest = await provenAnswer(accessToken, [...FR_HUMANS, without(target.userId)], { kind: "count" });
      // X is counted among the French humans iff removing X changes the count.
      guesses[target.userId] = all === rest;
    }
    expect(guesses).toEqual({ [String(BOT?.userId)]: true, [String(HUMAN?.userId)]: false });
  });

  it("the same pair as sums gives X's exact edit count", async () => {
    const french = [{ field: "country", op: "eq", value: "FR" }];
    const sum = { kind: "sum", field: "edits" };
    const all = await provenAnswer(accessToken, french, sum);
    const rest = await provenAnswer(accessToken, [...french, without(BOT?.userId ?? 0)], sum);
    expect(all - rest).toBe(BigInt(BOT?.edits ?? -1));
  });
});

describe("the structural controls refuse it", () => {
  it("no clause on the key field except membership; no narrow complement on edits", async () => {
    const strict = await addPartner(service, "strict", SCOPES, {
      datasets: ["ds-a"],
      fields: FIELDS,
      aggregates: ["count", "sum"],
      minRangeWidth: { edits: 1000 },
      minGroupSize: 2,
    });
    const accessToken = await token(service, strict);
    const attempts: Clause[][] = [
      [...FR_HUMANS, without(BOT?.userId ?? 0)],
      [{ field: "country", op: "eq", value: "FR" }, without(HUMAN?.userId ?? 0)],
      [
        { field: "country", op: "eq", value: "FR" },
        { field: "edits", op: "neq", value: HUMAN?.edits ?? 0 },
      ],
      [
        { field: "country", op: "eq", value: "FR" },
        { field: "edits", op: "eq", value: HUMAN?.edits ?? 0 },
      ],
    ];
    for (const predicate of attempts) {
      for (const aggregate of [{ kind: "count" }, { kind: "sum", field: "edits" }]) {
        const refused = await submit(accessToken, predicate, aggregate);
        expect(refused.status, JSON.stringify(predicate)).toBe(403);
        expect(refused.json.error).toBe("policy_denied");
      }
    }
    // The first half of each pair is still answered: the controls refuse shapes, not topics.
    expect(await provenAnswer(accessToken, FR_HUMANS, { kind: "count" })).toBe(3n);
  });

  it("cannot prevent a tracker of two wide ranges that differ by one value", async () => {
    const strict = await addPartner(service, "strict-too", SCOPES, {
      datasets: ["ds-a"],
      fields: FIELDS,
      aggregates: ["count", "sum"],
      minRangeWidth: { edits: 1000 },
      minGroupSize: 2,
    });
    const accessToken = await token(service, strict);
    const x = BOT?.edits ?? 0; // auxiliary knowledge: the target's edit count
    const humans = { field: "bot", op: "eq", value: false };
    const from = await provenAnswer(
      accessToken,
      [humans, { field: "edits", op: "between", value: [x, 26_000] }],
      {
        kind: "count",
      },
    );
    const after = await provenAnswer(
      accessToken,
      [humans, { field: "edits", op: "between", value: [x + 1, 26_000] }],
      { kind: "count" },
    );
    // The two allowed answers differ by the humans with exactly x edits: none, so the target is a bot.
    expect(from - after).toBe(0n);
  });
});

describe("the dominance rule for sums", () => {
  const notFrench: Clause[] = [{ field: "country", op: "neq", value: "FR" }];
  const sum = { kind: "sum", field: "edits" };

  it("a sum that one record makes most of comes back proven suppressed under the rule", async () => {
    const policy = { datasets: ["ds-a"], fields: FIELDS, aggregates: ["count", "sum"], minGroupSize: 2 };
    const loose = await token(service, await addPartner(service, "no-dominance", SCOPES, policy));
    // 17,320 (DE) + 22,360 (US): the US record is 56% of the answer.
    expect(await provenAnswer(loose, notFrench, sum)).toBe(39_680n);

    const guardedPartner = await addPartner(service, "dominance", SCOPES, { ...policy, dominanceShare: 50 });
    const guarded = await token(service, guardedPartner);
    const { bundle, result } = await provenBundle(guarded, notFrench, sum);
    expect(bundle.answer).toEqual({ kind: "sum", suppressed: true, value: null });
    expect(bundle.dominanceShare).toBe(50);
    expect(result.valid && result.dominanceShare).toBe(50);
    expect(bundle.statement).toContain("one record would make more than 50% of the sum");
    // The same proof cannot pass as one without the rule (the share is bound in the public signals).
    const { dominanceShare: _, ...withoutRule } = bundle;
    const stripped = verify(withoutRule, {
      keys,
      keysManifest,
      operatorKey: service.server.ctx.operatorKey,
      allowInsecureKeys: true,
    });
    expect(stripped.valid).toBe(false);
    // Sums without a dominant record are answered as before (the largest French record is 35% of 88,919).
    expect(await provenAnswer(guarded, [{ field: "country", op: "eq", value: "FR" }], sum)).toBe(88_919n);
  });
});
